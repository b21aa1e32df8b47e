"""Meta-gradient estimators over one truncation of a batch of tasks.

Each estimator takes `per_task_loss(meta_params, tasks, batched) -> (losses (N,), tasks)`,
the truncation's meta-loss sum_t f(theta_t) of every task, and returns the meta-loss
(mean over tasks), the per-task losses, an estimate of its gradient, the advanced tasks and
the estimator's own state.

- "tbptt": truncated backpropagation through time, the exact gradient of the truncation's
  loss with the carried state held fixed; biased with respect to the full horizon.
- "es": antithetic evolution strategies over the truncation (Salimans et al. 2017): pairs
  of tasks run at theta + eps and theta - eps, eps ~ N(0, sigma^2 I), and
  g = mean_pairs (L+ - L-) eps / (2 sigma^2). Also biased across truncations.
- "pes": persistent evolution strategies (Vicol et al. 2021): as "es", but each pair keeps
  its own states and accumulates its perturbations, xi_k = sum_{j<=k} eps_j, and
  g = mean_pairs (L+ - L-) xi / (2 sigma^2), which is unbiased for the gradient of the
  Gaussian-smoothed loss summed over the whole horizon.

For "es" and "pes" the task batch is laid out as pairs: tasks [0, P) carry the positive
particles and tasks [P, 2P) the negative ones, on the same problems.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

ESTIMATORS = ("tbptt", "es", "pes")
PyTree = Any


def is_antithetic(estimator: str) -> bool:
    return estimator in ("es", "pes")


def init_estimator_state(estimator: str, meta_params: PyTree, num_tasks: int) -> PyTree:
    """PES keeps one accumulated perturbation per pair; the others keep nothing."""
    if estimator == "pes":
        return jax.tree.map(lambda p: jnp.zeros((num_tasks // 2,) + p.shape, p.dtype), meta_params)
    return ()


def reset_estimator_state(estimator: str, estimator_state: PyTree, pair_reset: jax.Array) -> PyTree:
    """Zero the accumulated perturbation of the pairs whose tasks were redrawn."""
    if estimator != "pes":
        return estimator_state

    def reset(acc):
        mask = pair_reset.reshape((-1,) + (1,) * (acc.ndim - 1))
        return jnp.where(mask, jnp.zeros_like(acc), acc)

    return jax.tree.map(reset, estimator_state)


def _antithetic(per_task_loss: Callable, meta_params, tasks, estimator_state, key, std: float, persistent: bool):
    leaves, treedef = jax.tree.flatten(meta_params)
    num_pairs = jax.tree.leaves(tasks)[0].shape[0] // 2
    keys = jax.random.split(key, len(leaves))
    epsilon = treedef.unflatten(
        [std * jax.random.normal(k, (num_pairs,) + p.shape, p.dtype) for k, p in zip(keys, leaves)]
    )
    particles = jax.tree.map(lambda p, e: jnp.concatenate([p + e, p - e]), meta_params, epsilon)
    losses, tasks = per_task_loss(particles, tasks, True)
    difference = losses[:num_pairs] - losses[num_pairs:]
    direction = jax.tree.map(jnp.add, estimator_state, epsilon) if persistent else epsilon

    def weighted_mean(d):
        weights = difference.reshape((-1,) + (1,) * (d.ndim - 1)) / (2.0 * std**2)
        return jnp.mean(weights * d, axis=0)

    grads = jax.tree.map(weighted_mean, direction)
    return jnp.mean(losses), losses, grads, tasks, (direction if persistent else estimator_state)


def estimate(estimator: str, per_task_loss: Callable, meta_params, tasks, estimator_state, key, std: float):
    """(meta_loss, per_task_losses, grads, tasks, estimator_state) for one truncation."""
    if estimator == "tbptt":

        def mean_loss(params):
            losses, new_tasks = per_task_loss(params, tasks, False)
            return jnp.mean(losses), (losses, new_tasks)

        (meta_loss, (losses, tasks)), grads = jax.value_and_grad(mean_loss, has_aux=True)(meta_params)
        return meta_loss, losses, grads, tasks, estimator_state
    if is_antithetic(estimator):
        return _antithetic(per_task_loss, meta_params, tasks, estimator_state, key, std, estimator == "pes")
    raise ValueError(f"Unknown estimator {estimator!r}; estimators are {ESTIMATORS}")
