"""Hand-designed optax optimizers with learning rates tuned on a log grid.

Tuning is on the "tuning" split of a family, disjoint from the "test" split on which
results are reported; the tuning criterion is the same as the reported metric, the mean
loss after `num_steps` steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from learned_opt.meta.unroll import loss_curves
from learned_opt.tasks.base import TaskFamily, sample_problems


def nesterov(learning_rate, momentum: float = 0.9) -> optax.GradientTransformation:
    """SGD with Nesterov momentum (Nesterov 1983; Sutskever et al. 2013)."""
    return optax.sgd(learning_rate, momentum=momentum, nesterov=True)


BASELINES: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": optax.adam,
    "rmsprop": optax.rmsprop,
    "sgd": optax.sgd,
    "nesterov": nesterov,
}

# 10^-4 .. 10^1 in quarter decades.
DEFAULT_LEARNING_RATES = tuple(float(10.0**e) for e in np.arange(-4.0, 1.0 + 1e-9, 0.25))


class TunedBaseline(NamedTuple):
    name: str
    learning_rate: float
    grid: tuple[float, ...]
    grid_scores: tuple[float, ...]  # mean final tuning loss per grid point (inf if diverged)

    def transform(self) -> optax.GradientTransformation:
        return BASELINES[self.name](self.learning_rate)


def pick_learning_rate(grid, scores) -> float:
    """The grid point with the lowest score; NaN scores (diverged runs) count as +inf."""
    scores = np.nan_to_num(np.asarray(scores, np.float64), nan=np.inf)
    return float(grid[int(np.argmin(scores))])


def tuning_mean_curves(
    name: str, family: TaskFamily, *, seed: int, num_problems: int, num_steps: int, grid
) -> np.ndarray:
    """Mean loss f(theta_0..theta_T) over `num_problems` problems of the tuning split, for
    every learning rate of the grid: shape (len(grid), num_steps + 1). Diverged runs are +inf."""
    if name not in BASELINES:
        raise ValueError(f"Unknown baseline {name!r}; baselines are {sorted(BASELINES)}")
    make = BASELINES[name]
    data, keys = sample_problems(family, seed, "tuning", num_problems)

    def mean_curve(learning_rate):
        return jnp.mean(loss_curves(family, make(learning_rate), data, keys, num_steps), axis=0)

    # The learning rate is traced, so the whole grid is one compiled, vmapped program.
    curves = np.asarray(jax.jit(jax.vmap(mean_curve))(jnp.asarray(grid, jnp.float32)))
    return np.nan_to_num(curves, nan=np.inf)


def tune_learning_rate(
    name: str,
    family: TaskFamily,
    *,
    seed: int = 0,
    num_problems: int = 100,
    num_steps: int = 100,
    grid=DEFAULT_LEARNING_RATES,
) -> TunedBaseline:
    """Picks the learning rate of baseline `name` from `grid` on the tuning split."""
    curves = tuning_mean_curves(name, family, seed=seed, num_problems=num_problems, num_steps=num_steps, grid=grid)
    scores = curves[:, -1]
    return TunedBaseline(name, pick_learning_rate(grid, scores), tuple(grid), tuple(float(s) for s in scores))
