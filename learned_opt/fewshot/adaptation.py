"""The inner loop of few-shot learning: a few optimizer steps on a task's support set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax


def adapt(
    loss_fn: Callable[[Any, Any], jnp.ndarray],
    params,
    support,
    inner_optimizer: optax.GradientTransformation,
    steps: int,
    *,
    first_order: bool = False,
    checkpoint: bool = False,
    trace: Callable[[Any], Any] | None = None,
):
    """`steps` steps of `inner_optimizer` on ``loss_fn(params, support)``, as a `lax.scan`:

        g_t = grad L_support(phi_t),   (u_t, s_t) = inner_optimizer.update(g_t, s_{t-1}, phi_t, value=L(phi_t)),
        phi_{t+1} = phi_t + u_t,   phi_0 = params.

    With `optax.sgd(alpha)` this is MAML's inner loop, phi_{t+1} = phi_t - alpha g_t (Finn
    et al. 2017, Eq. 1); with a learned optimizer, the meta-learner's (Ravi & Larochelle
    2017). Differentiating the result with respect to `params` (or to the optimizer's
    meta-parameters) gives the full, second-order meta-gradient.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      params: the starting parameters phi_0.
      support: the batch the loss is taken on at every step.
      inner_optimizer: any optax transform; it receives ``params`` and ``value=loss``.
      steps: the number of steps (static).
      first_order: treat the gradients and losses as constants (`stop_gradient`): the
        meta-gradient drops every term through the Hessian, as first-order MAML and Ravi &
        Larochelle's meta-learner do.
      checkpoint: recompute each step in the backward pass instead of storing its
        intermediates (`jax.checkpoint`), so the memory of the meta-gradient grows with the
        parameters kept per step rather than with everything a step computes.
      trace: a function of the parameters evaluated before the first step and after every
        step (on the query set, say); its values come back stacked, shape (steps + 1, ...).

    Returns:
      The adapted parameters phi_steps and, with `trace`, the traced values (else None).
    """
    optimizer = optax.with_extra_args_support(inner_optimizer)

    def step(carry, _):
        phi, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(phi, support)
        if first_order:
            loss, grads = jax.lax.stop_gradient((loss, grads))
        updates, state = optimizer.update(grads, state, phi, value=loss)
        phi = optax.apply_updates(phi, updates)
        return (phi, state), (trace(phi) if trace is not None else None)

    if checkpoint:
        step = jax.checkpoint(step)
    (phi, _), traced = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    if trace is not None:
        traced = jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]), trace(params), traced)
    return phi, traced
