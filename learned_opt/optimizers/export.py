"""Turning (update rule, meta-parameters) into an optax transformation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from learned_opt.optimizers.base import MetaParams, UpdateRule, tree_all_finite


def learned_optimizer(rule: UpdateRule, meta_params: MetaParams) -> optax.GradientTransformationExtraArgs:
    """The learned update rule as an optax transformation.

    ``tx.update(grads, state, params, value=loss)`` follows optax's convention for extra
    arguments (as in `optax.polyak_sgd`): the loss is the keyword ``value``, other keywords
    are ignored, so the transform composes with `optax.chain` and `optax.MultiSteps`.
    A rule that needs ``params`` or ``value`` raises a ValueError at trace time when not
    given them.

    A step whose gradient, or loss when given (whether or not the rule reads it), holds a NaN
    or an infinity is skipped: the update is zero, the state is left as it was, and
    ``state.skipped`` counts it.
    """

    def init_fn(params):
        return rule.init_state(params)

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        if rule.needs_params and params is None:
            raise ValueError(
                f"The '{rule.name}' learned optimizer needs the current parameters: call "
                "tx.update(grads, state, params, value=loss)."
            )
        if rule.needs_value:
            if value is None:
                raise ValueError(
                    f"The '{rule.name}' learned optimizer needs the loss: call "
                    "tx.update(grads, state, params, value=loss)."
                )
            if jnp.ndim(value) != 0:
                raise ValueError(f"value must be the scalar loss, got shape {jnp.shape(value)}")
        finite = tree_all_finite(updates)
        if value is not None:
            finite = finite & jnp.all(jnp.isfinite(value))
            value = jnp.where(finite, value, jnp.zeros_like(value))
        # Zeroed inputs keep the discarded branch finite, so its gradient cannot be NaN.
        grads = jax.tree.map(lambda g: jnp.where(finite, g, jnp.zeros_like(g)), updates)
        new_updates, new_state = rule.step(meta_params, state, grads, params, value)
        new_updates = jax.tree.map(lambda u: jnp.where(finite, u, jnp.zeros_like(u)), new_updates)
        new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
        return new_updates, new_state._replace(skipped=state.skipped + (~finite).astype(jnp.int32))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class TrainState(train_state.TrainState):
    """flax linen's `TrainState` whose `apply_gradients` hands the loss on to the optimizer.

    The stock ``apply_gradients(grads=g)`` calls ``tx.update(g, opt_state, params)`` and has
    no way to pass the loss, which the gated rule reads; here
    ``state.apply_gradients(grads=g, value=loss)`` calls
    ``tx.update(g, opt_state, params, value=loss)``. Other keywords replace fields, as in flax.
    """

    def apply_gradients(self, *, grads, value=None, **kwargs):
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params, value=value)
        return self.replace(
            step=self.step + 1, params=optax.apply_updates(self.params, updates), opt_state=opt_state, **kwargs
        )
