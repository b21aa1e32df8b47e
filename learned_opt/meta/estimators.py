"""Meta-gradient estimators over one truncation of a batch of tasks.

An estimator takes `per_task_loss(meta_params, tasks, batched) -> (losses (N,), tasks)`,
the truncation's meta-loss sum_t f(theta_t) of every task, and returns the meta-loss
(mean over tasks), the per-task losses, an estimate of its gradient, the advanced tasks and
the estimator's own state.

- `TBPTT`: truncated backpropagation through time, the exact gradient of the truncation's
  loss with the carried state held fixed; biased with respect to the full horizon.
- `ES`: antithetic evolution strategies over the truncation (Salimans et al. 2017): pairs
  of tasks run at theta + eps and theta - eps, eps ~ N(0, sigma^2 I), and
  g = mean_pairs (L+ - L-) eps / (2 sigma^2). Also biased across truncations.
- `PES`: persistent evolution strategies (Vicol et al. 2021): as `ES`, but each pair keeps
  its own states and accumulates its perturbations, xi_k = sum_{j<=k} eps_j, and
  g = mean_pairs (L+ - L-) xi / (2 sigma^2), which is unbiased for the gradient of the
  Gaussian-smoothed loss summed over the whole horizon.

For `ES` and `PES` the task batch is laid out as pairs: tasks [0, P) carry the positive
particles and tasks [P, 2P) the negative ones, on the same problems.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

PyTree = Any


@dataclasses.dataclass(frozen=True)
class TBPTT:
    """Backpropagation through the truncation's unroll.

    Attributes:
      second_order: differentiate through the optimizee's gradient too (Andrychowicz et al.
        2016, Sec. 2, drop these second derivatives of f, as the default does).
      remat: rematerialise each inner step in the backward pass (`jax.checkpoint`), trading
        compute for memory on long truncations.
    """

    second_order: bool = False
    remat: bool = False
    antithetic: ClassVar[bool] = False

    def init_state(self, meta_params: PyTree, num_tasks: int) -> PyTree:
        return ()

    def reset_state(self, estimator_state: PyTree, pair_reset: jax.Array) -> PyTree:
        return estimator_state

    def estimate(self, per_task_loss: Callable, meta_params, tasks, estimator_state, key):
        """(meta_loss, per_task_losses, grads, tasks, estimator_state) for one truncation."""

        def mean_loss(params):
            losses, new_tasks = per_task_loss(params, tasks, False)
            return jnp.mean(losses), (losses, new_tasks)

        (meta_loss, (losses, tasks)), grads = jax.value_and_grad(mean_loss, has_aux=True)(meta_params)
        return meta_loss, losses, grads, tasks, estimator_state


@dataclasses.dataclass(frozen=True)
class ES:
    """Antithetic evolution strategies with perturbation scale `std`; needs an even number
    of tasks. The unroll is only run forward, so nothing is backpropagated."""

    std: float = 0.01
    antithetic: ClassVar[bool] = True
    persistent: ClassVar[bool] = False
    second_order: ClassVar[bool] = False
    remat: ClassVar[bool] = False

    def __post_init__(self):
        if self.std <= 0:
            raise ValueError(f"the perturbation scale std must be positive, got {self.std}")

    def init_state(self, meta_params: PyTree, num_tasks: int) -> PyTree:
        return ()

    def reset_state(self, estimator_state: PyTree, pair_reset: jax.Array) -> PyTree:
        return estimator_state

    def estimate(self, per_task_loss: Callable, meta_params, tasks, estimator_state, key):
        """(meta_loss, per_task_losses, grads, tasks, estimator_state) for one truncation."""
        leaves, treedef = jax.tree.flatten(meta_params)
        num_pairs = jax.tree.leaves(tasks)[0].shape[0] // 2
        keys = jax.random.split(key, len(leaves))
        epsilon = treedef.unflatten(
            [self.std * jax.random.normal(k, (num_pairs,) + p.shape, p.dtype) for k, p in zip(keys, leaves)]
        )
        particles = jax.tree.map(lambda p, e: jnp.concatenate([p + e, p - e]), meta_params, epsilon)
        losses, tasks = per_task_loss(particles, tasks, True)
        difference = losses[:num_pairs] - losses[num_pairs:]
        # PES weighs the accumulated perturbation xi_k = xi_{k-1} + eps_k; ES this truncation's.
        direction = jax.tree.map(jnp.add, estimator_state, epsilon) if self.persistent else epsilon

        def weighted_mean(d):
            weights = difference.reshape((-1,) + (1,) * (d.ndim - 1)) / (2.0 * self.std**2)
            return jnp.mean(weights * d, axis=0)

        grads = jax.tree.map(weighted_mean, direction)
        return jnp.mean(losses), losses, grads, tasks, (direction if self.persistent else estimator_state)


@dataclasses.dataclass(frozen=True)
class PES(ES):
    """Persistent evolution strategies: each pair accumulates its perturbations until its
    tasks are redrawn."""

    persistent: ClassVar[bool] = True

    def init_state(self, meta_params: PyTree, num_tasks: int) -> PyTree:
        """One accumulated perturbation per pair."""
        return jax.tree.map(lambda p: jnp.zeros((num_tasks // 2,) + p.shape, p.dtype), meta_params)

    def reset_state(self, estimator_state: PyTree, pair_reset: jax.Array) -> PyTree:
        """Zero the accumulated perturbation of the pairs whose tasks were redrawn."""

        def reset(accumulated):
            mask = pair_reset.reshape((-1,) + (1,) * (accumulated.ndim - 1))
            return jnp.where(mask, jnp.zeros_like(accumulated), accumulated)

        return jax.tree.map(reset, estimator_state)
