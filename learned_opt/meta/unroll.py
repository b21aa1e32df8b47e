"""The inner training loop: an optax transform driving one task for a number of steps."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from learned_opt.tasks.base import TaskFamily

PyTree = Any


class InnerState(NamedTuple):
    """Everything an inner training run carries from one step (or truncation) to the next."""

    data: PyTree
    params: PyTree
    opt_state: PyTree
    key: jax.Array
    step: jax.Array


def init_inner_state(family: TaskFamily, tx: optax.GradientTransformation, data, key) -> InnerState:
    """theta_0 and the optimizer state of a fresh inner run on the problem `data`."""
    init_key, run_key = jax.random.split(key)
    params = family.init_params(data, init_key)
    return InnerState(data, params, tx.init(params), run_key, jnp.zeros((), jnp.int32))


def unroll(
    family: TaskFamily,
    tx: optax.GradientTransformationExtraArgs,
    state: InnerState,
    num_steps: int,
    second_order: bool = False,
    *,
    remat: bool = False,
) -> tuple[InnerState, jax.Array]:
    """Runs `num_steps` steps of theta_{t+1} = theta_t + tx(grad f(theta_t)) under `lax.scan`.

    Returns the new state and the losses f(theta_0), ..., f(theta_T) (T + 1 values; the last
    uses the batch that the next step will draw). The loss is passed to the optimizer as
    ``value``. With ``second_order=False`` the optimizee's gradient and loss enter the
    optimizer as constants (Andrychowicz et al. 2016, Sec. 2: no second derivatives of f),
    while the losses returned still depend on the optimizer's outputs. `remat=True`
    rematerialises each step in the backward pass (`jax.checkpoint`), trading compute for
    memory on long unrolls.
    """

    def loss_and_grad(state: InnerState, key):
        batch = family.sample_batch(state.data, key)
        return jax.value_and_grad(family.loss, argnums=1)(state.data, state.params, batch)

    def body(state: InnerState, _):
        key, batch_key = jax.random.split(state.key)
        loss, grads = loss_and_grad(state, batch_key)
        value = loss
        if not second_order:
            grads, value = jax.lax.stop_gradient((grads, value))
        updates, opt_state = tx.update(grads, state.opt_state, state.params, value=value)
        params = optax.apply_updates(state.params, updates)
        return InnerState(state.data, params, opt_state, key, state.step + 1), loss

    if remat:
        body = jax.checkpoint(body)
    state, losses = jax.lax.scan(body, state, jnp.arange(num_steps))
    _, next_batch_key = jax.random.split(state.key)
    final_loss = family.loss(state.data, state.params, family.sample_batch(state.data, next_batch_key))
    return state, jnp.concatenate([losses, final_loss[None]])


def loss_curves(family: TaskFamily, tx: optax.GradientTransformation, data, keys, num_steps: int):
    """Losses f(theta_0..theta_T) of `tx` on each problem (vmapped): shape (problems, T + 1)."""

    def one_problem(problem_data, key):
        state = init_inner_state(family, tx, problem_data, key)
        return unroll(family, tx, state, num_steps)[1]

    return jax.vmap(one_problem)(data, keys)
