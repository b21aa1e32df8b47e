"""The shipped optimizers and Adam on one held-out task, scored by the loss on the whole
training split after the last step rather than on the last minibatch.

    python experiments/training_split_loss.py [--hidden-sizes 20] [--activation sigmoid] \\
        [--dataset digits] [--steps 100 300] [--seeds 30] [--learning-rates 0.0562 0.1 0.178]

`evaluate_pretrained.py` reports, like Andrychowicz et al. 2016, the loss of the final
parameters on one minibatch of 128 examples, a noisy estimate of the training loss: on the
digits sigmoid network the mean over 10 seeds moves by about 0.01 from one step to the next
around step 100. This script runs `--seeds` problems of the test split (with 10, those of
`evaluate_pretrained.py --num-problems 10`) and prints, for each optimizer and step count,
the mean over seeds of f(theta_T) on every training example, with Adam at each of
`--learning-rates` on the test and the tuning problems (the tuning column is what a
learning-rate choice would see).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import learned_opt as lo
from learned_opt.data import DATASETS, load_dataset
from learned_opt.meta.unroll import init_inner_state, unroll
from learned_opt.tasks import MLPFamily
from learned_opt.tasks.mlp import ACTIVATIONS
from learned_opt.tasks.base import sample_problems


def training_split_losses(family: MLPFamily, tx, split: str, num_problems: int, num_steps: int) -> np.ndarray:
    """f(theta_T) on the whole training split for each of `num_problems` problems of `split`."""
    dataset = load_dataset(family.dataset)
    everything = (jnp.asarray(dataset.train_inputs), jnp.asarray(dataset.train_labels))
    data, keys = sample_problems(family, 0, split, num_problems)

    def one_problem(problem_data, key):
        state, _ = unroll(family, tx, init_inner_state(family, tx, problem_data, key), num_steps)
        return family.loss(problem_data, state.params, everything)

    return np.asarray(jax.jit(jax.vmap(one_problem))(data, keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=[20])
    parser.add_argument("--activation", default="sigmoid", choices=sorted(ACTIVATIONS))
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--seeds", type=int, default=30, help="test (and tuning) problems")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[0.0562, 0.1, 0.178],
                        help="Adam learning rates to run")
    parser.add_argument("--names", nargs="+", default=["l2l", "gated"], choices=list(lo.list_pretrained()))
    args = parser.parse_args()
    family = MLPFamily(hidden_sizes=tuple(args.hidden_sizes), activation=args.activation, dataset=args.dataset)
    for steps in args.steps:
        for name in args.names:
            losses = training_split_losses(family, lo.pretrained(name), "test", args.seeds, steps)
            print(f"{steps} steps  {name:>5}: test {losses.mean():.4g}")
        for learning_rate in args.learning_rates:
            tx = optax.adam(learning_rate)
            test = training_split_losses(family, tx, "test", args.seeds, steps)
            tuning = training_split_losses(family, tx, "tuning", args.seeds, steps)
            print(f"{steps} steps  adam {learning_rate:g}: test {test.mean():.4g}  tuning {tuning.mean():.4g}")


if __name__ == "__main__":
    main()
