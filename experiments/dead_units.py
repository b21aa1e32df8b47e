"""Why ReLU networks on mnist1d stalled: the share of hidden ReLU units that are off on every
one of 512 training examples, at initialisation and after a few and after all steps.

    python experiments/dead_units.py [--min-max] [--hidden-sizes 64] [--steps 5 300] \\
        [--problems 48] [--names gated] [--learning-rates 0.0178 0.0562]

`learned_opt.data.mnist1d` once min-max scaled the signals with the training split's
extremes (`--min-max` runs on inputs scaled so, registered as the dataset "mnist1d_min_max"
in this process only), which leaves every input near the same value (printed: mean and
standard deviation of the training inputs). A unit's pre-activation then moves almost as one
over all examples, and a step that pushes it below zero turns it off for the whole dataset;
a run stalls at chance loss (log 10, above 2.25 here) once too few units are left. The
library now loads the generator's signals, about standardised, as they are. Runs the
validation problems of the MLP family with each shipped optimizer in `--names` and Adam at
each of `--learning-rates`, and prints, per hidden layer, the mean share of dead units after
each of `--steps` (0 included) and the number of stalled runs (about 1 minute).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import learned_opt as lo
from learned_opt.data import DATASETS, Dataset, load_dataset
from learned_opt.meta.unroll import init_inner_state, unroll
from learned_opt.tasks import MLPFamily
from learned_opt.tasks.base import sample_problems

STALLED_LOSS = 2.25
NUM_EXAMPLES = 512
MIN_MAX = "mnist1d_min_max"


def min_max_scaled(dataset: Dataset) -> Dataset:
    """The library's former mnist1d inputs: x' = (x - min) / (max - min) with the training
    split's extremes over all features, test inputs clipped to [0, 1]."""
    low, high = dataset.train_inputs.min(), dataset.train_inputs.max()

    def scale(x: np.ndarray) -> np.ndarray:
        return np.clip((x - low) / (high - low), 0.0, 1.0).astype(np.float32)

    return dataset._replace(name=MIN_MAX, train_inputs=scale(dataset.train_inputs),
                            test_inputs=scale(dataset.test_inputs))


def register_min_max() -> str:
    """Registers the min-max scaled mnist1d as the dataset MIN_MAX, in this process only."""
    DATASETS[MIN_MAX] = lambda: min_max_scaled(load_dataset("mnist1d"))
    return MIN_MAX


def dead_unit_shares(family: MLPFamily, params, inputs) -> jax.Array:
    """Per hidden layer, the share of its ReLU units that are zero on every one of `inputs`."""
    return jnp.stack([jnp.mean(jnp.all(x <= 0, axis=0)) for x in family.hidden_activations(params, inputs)])


def dead_units_over_training(family: MLPFamily, tx, num_problems: int, steps) -> tuple[np.ndarray, np.ndarray]:
    """(shares, final losses): shares[i, p, k] is layer k's dead share on problem p after steps[i]
    (sorted, starting at 0); final losses are each problem's loss after the last of `steps`."""
    inputs = jnp.asarray(load_dataset(family.dataset).train_inputs[:NUM_EXAMPLES])
    data, keys = sample_problems(family, 0, "validation", num_problems)
    lengths = np.diff([0, *steps])

    def one_problem(problem_data, key):
        state = init_inner_state(family, tx, problem_data, key)
        shares = [dead_unit_shares(family, state.params, inputs)]
        for length in lengths[1:]:
            state, losses = unroll(family, tx, state, int(length))
            shares.append(dead_unit_shares(family, state.params, inputs))
        return jnp.stack(shares), losses[-1]

    shares, final = jax.jit(jax.vmap(one_problem))(data, keys)
    return np.moveaxis(np.asarray(shares), 1, 0), np.asarray(final)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-max", action="store_true",
                        help="min-max scaled inputs, as the library's mnist1d loader had them, instead of the library's")
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 300], help="step counts to measure after")
    parser.add_argument("--problems", type=int, default=48, help="validation problems")
    parser.add_argument("--names", nargs="*", default=["gated"], choices=list(lo.list_pretrained()))
    parser.add_argument("--learning-rates", type=float, nargs="*", default=[0.0178, 0.0562],
                        help="Adam learning rates to run")
    args = parser.parse_args()
    if min(args.steps) < 1 or min(args.hidden_sizes) < 1:
        parser.error("--steps and --hidden-sizes must be positive")
    steps = sorted({0, *args.steps})
    dataset = register_min_max() if args.min_max else "mnist1d"
    family = MLPFamily(hidden_sizes=tuple(args.hidden_sizes), activation="relu", dataset=dataset)
    train_inputs = load_dataset(dataset).train_inputs
    print(f"{dataset} training inputs: mean {train_inputs.mean():.3f}, standard deviation {train_inputs.std():.3f}")
    print(f"relu {'-'.join(map(str, args.hidden_sizes))}, {args.problems} validation problems; dead share per "
          f"hidden layer after steps {', '.join(map(str, steps))}; runs above {STALLED_LOSS} at step {steps[-1]}")
    candidates = [(name, lo.pretrained(name)) for name in args.names]
    candidates += [(f"adam {rate:g}", optax.adam(rate)) for rate in args.learning_rates]
    for label, tx in candidates:
        shares, final = dead_units_over_training(family, tx, args.problems, steps)
        cells = "; ".join(f"{step}: " + " ".join(f"{share:.2f}" for share in shares[i].mean(axis=0))
                          for i, step in enumerate(steps))
        print(f"{label}: {cells}; stalled {int((final > STALLED_LOSS).sum())} of {args.problems}", flush=True)


if __name__ == "__main__":
    main()
