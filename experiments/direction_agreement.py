"""What the `direction_agreement` input reads: Adam on the held-out MLP tasks, and the cosine
between each parameter leaf's gradient and Adam's previous direction, step by step.

    python experiments/direction_agreement.py [--learning-rates 0.03 0.1] [--seeds 10]

The cosine is the normalised hypergradient of the learning rate (Baydin et al. 2018):
positive while Adam's steps fall short, negative once they overshoot. Printed is its mean
over the leaves and the `--seeds` test problems of each task of `evaluate_pretrained.py`,
at a few steps, for Adam at each of `--learning-rates` (about 1 minute).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

from learned_opt.features import direction_agreement
from learned_opt.meta.unroll import init_inner_state, unroll
from learned_opt.tasks import MLPFamily
from learned_opt.tasks.base import sample_problems

from evaluate_pretrained import HELD_OUT, task_label

REPORTED_STEPS = (1, 2, 5, 10, 20, 30, 45, 59)


def with_agreement_record(tx: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """`tx` unchanged, its state extended by its last update u_t and, per parameter leaf, the
    cosine cos(g_t, -u_{t-1}) of the step it last took (zeros before the first step)."""

    def init(params):
        return tx.init(params), jax.tree.map(jnp.zeros_like, params), jnp.zeros(len(jax.tree.leaves(params)))

    def update(grads, state, params=None, **extra_args):
        inner, previous_update, _ = state
        cosines = jnp.stack([direction_agreement(g, -u) for g, u in
                             zip(jax.tree.leaves(grads), jax.tree.leaves(previous_update))])
        updates, inner = tx.update(grads, inner, params)
        return updates, (inner, updates, cosines)

    return optax.GradientTransformationExtraArgs(init, update)


def agreement_curves(family: MLPFamily, learning_rate: float, num_problems: int, num_steps: int) -> np.ndarray:
    """cos(g_t, d_{t-1}) of Adam at `learning_rate`, one row per step (t = 0..num_steps-1),
    one column per parameter leaf, averaged over `num_problems` test problems; d_{t-1} is
    Adam's direction, its update over -learning_rate (zero before the first step)."""
    tx = with_agreement_record(optax.adam(learning_rate))
    data, keys = sample_problems(family, 0, "test", num_problems)

    def one_problem(problem_data, key):
        def step(state, _):
            state, _ = unroll(family, tx, state, 1)
            return state, state.opt_state[2]

        return jax.lax.scan(step, init_inner_state(family, tx, problem_data, key), None, length=num_steps)[1]

    return np.asarray(jax.jit(jax.vmap(one_problem))(data, keys)).mean(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[0.03, 0.1])
    parser.add_argument("--seeds", type=int, default=10, help="test problems per task")
    args = parser.parse_args()
    print("task | Adam lr | mean cosine at steps " + " ".join(map(str, REPORTED_STEPS)))
    for dataset, hidden, activation in HELD_OUT:
        family = MLPFamily(hidden_sizes=hidden, activation=activation, dataset=dataset)
        for learning_rate in args.learning_rates:
            curves = agreement_curves(family, learning_rate, args.seeds, max(REPORTED_STEPS) + 1)
            print(f"{task_label(dataset, hidden, activation)} | {learning_rate:g} | "
                  + " ".join(f"{curves[t].mean():+.2f}" for t in REPORTED_STEPS))


if __name__ == "__main__":
    main()
