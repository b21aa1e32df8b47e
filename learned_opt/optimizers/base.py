"""What every coordinate-wise update rule provides, and helpers shared by the rules."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Protocol

import chex
import jax
import jax.numpy as jnp

from learned_opt.features import (
    accumulate_moments,
    log_and_sign,
    normalized_moment_features,
    step_features,
)

PyTree = Any
MetaParams = Any


class UpdateRule(Protocol):
    """A learned update rule: a frozen dataclass of architecture settings.

    Its optimizer state is a NamedTuple with an int32 field ``skipped`` that counts the
    steps skipped because the gradient or loss was not finite (see `learned_optimizer`).
    """

    name: ClassVar[str]
    needs_params: ClassVar[bool]
    needs_value: ClassVar[bool]

    def init(self, key: chex.PRNGKey) -> MetaParams:
        """Fresh meta-parameters."""

    def init_state(self, params: PyTree) -> PyTree:
        """Per-coordinate optimizer state for a parameter pytree."""

    def step(self, meta_params, state, grads, params, value) -> tuple[PyTree, PyTree]:
        """One update: returns ``(updates, new_state)``; ``updates`` has the grads' dtypes."""


def map_leaves(fn: Callable[..., tuple], num_outputs: int, tree: PyTree, *others: PyTree):
    """Applies `fn` to each leaf of `tree` with the matching subtrees of `others`.

    `fn` returns a tuple of `num_outputs` values; the result is that many pytrees with the
    structure of `tree`. The others may hold whole subtrees (an LSTM state, say) where
    `tree` has a leaf.
    """
    leaves, treedef = jax.tree.flatten(tree)
    other_leaves = [treedef.flatten_up_to(other) for other in others]
    outputs = [fn(*args) for args in zip(leaves, *other_leaves)]
    columns = list(zip(*outputs)) if outputs else [()] * num_outputs
    return tuple(treedef.unflatten(list(column)) for column in columns)


LSTM_STATE_DTYPES = ("float32", "bfloat16")


def checked_lstm_state_dtype(name: str) -> str:
    """`name` if it is one of `LSTM_STATE_DTYPES`; ValueError otherwise."""
    if name not in LSTM_STATE_DTYPES:
        raise ValueError(f"lstm_state_dtype must be one of {LSTM_STATE_DTYPES}, got {name!r}")
    return name


def zero_lstm_state(params: PyTree, hidden_sizes, dtype: str = "float32") -> tuple:
    """Zero LSTM states for every coordinate: per layer a (cell, hidden) pair of pytrees
    shaped like `params` with a leading axis of the layer's size, stored in `dtype`. The
    coordinates come last so that the fused update works on contiguous rows of them.
    Keeping whole pytrees (as optax's Adam keeps its moments) lets frameworks that wrap
    parameters, such as flax nnx's `Param`, carry the state the same way they carry the
    parameters."""
    return tuple(
        tuple(jax.tree.map(lambda p, size=size: jnp.zeros((size,) + jnp.shape(p), dtype), params) for _ in range(2))
        for size in hidden_sizes
    )


# XLA's CPU backend converts, slices and updates bfloat16 arrays one element at a time (a
# fused update over a 1M-coordinate leaf ran 5-50x slower than in float32), but handles
# uint16 like any integer. A bfloat16 is the high half of a float32, so a bfloat16 state is
# handled as its uint16 bits inside the update, converted with shifts.
def state_bits(x: jnp.ndarray) -> jnp.ndarray:
    """A stored state array as the update handles it: bfloat16 as its uint16 bits."""
    return jax.lax.bitcast_convert_type(x, jnp.uint16) if x.dtype == jnp.bfloat16 else x


def from_state_bits(x: jnp.ndarray, dtype: str) -> jnp.ndarray:
    """The inverse of `state_bits` for a state stored in `dtype`."""
    return jax.lax.bitcast_convert_type(x, jnp.bfloat16) if dtype == "bfloat16" else x


def as_float32(x: jnp.ndarray) -> jnp.ndarray:
    """A state array (float32, bfloat16, or bfloat16's uint16 bits) in float32."""
    x = state_bits(x)
    if x.dtype != jnp.uint16:
        return x.astype(jnp.float32)
    return jax.lax.bitcast_convert_type(x.astype(jnp.uint32) << 16, jnp.float32)


def stored_bits(x: jnp.ndarray, dtype: str) -> jnp.ndarray:
    """float32 `x` as `state_bits` of a state in `dtype`: for bfloat16, rounded to nearest
    even as ``x.astype(jnp.bfloat16)`` rounds finite values."""
    if dtype == "float32":
        return x.astype(jnp.float32)
    bits = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(jnp.uint16)


def lstm_carries_to_trailing(carries: tuple) -> tuple:
    """A leaf's LSTM carries (hidden axis first) with the hidden axis last, as flax's
    `nn.LSTMCell` takes them, in float32."""
    return tuple((jnp.moveaxis(as_float32(c), 0, -1), jnp.moveaxis(as_float32(h), 0, -1)) for c, h in carries)


def lstm_carries_to_leading(carries: tuple, dtype) -> tuple:
    """The inverse of `lstm_carries_to_trailing`, stored in `dtype`."""
    return tuple(
        (
            from_state_bits(stored_bits(jnp.moveaxis(c, -1, 0), dtype), dtype),
            from_state_bits(stored_bits(jnp.moveaxis(h, -1, 0), dtype), dtype),
        )
        for c, h in carries
    )


def map_leaves_with_lstm(fn: Callable[..., tuple], num_outputs: int, lstm: tuple, tree: PyTree, *others: PyTree):
    """`map_leaves` for a rule with per-coordinate LSTM state (see `zero_lstm_state`).

    ``fn(leaf, carries, *other_leaves)`` receives the leaf's carries as a tuple of
    (cell, hidden) per layer and returns ``(new_carries, *outputs)``. Returns the
    `num_outputs` output pytrees and the new LSTM state.
    """
    carry_trees = [t for layer in lstm for t in layer]
    num_carries = len(carry_trees)

    def leaf_fn(leaf, *rest):
        flat = rest[:num_carries]
        new_carries, *outputs = fn(leaf, tuple(zip(flat[0::2], flat[1::2])), *rest[num_carries:])
        return (*outputs, *[x for layer in new_carries for x in layer])

    results = map_leaves(leaf_fn, num_outputs + num_carries, tree, *carry_trees, *others)
    new_trees = results[num_outputs:]
    return results[:num_outputs], tuple(zip(new_trees[0::2], new_trees[1::2]))


def tree_all_finite(tree: PyTree) -> jax.Array:
    """True when every element of every leaf is finite (True for an empty tree)."""
    return jnp.all(jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)] + [True]))


class MomentState(NamedTuple):
    """Adam-style moving averages for every coordinate, kept like optax's Adam keeps its
    moments: ``first`` is shaped like the parameters with a trailing axis (one momentum per
    decay), ``second`` like the parameters. The number of steps taken, for the bias
    correction, is the rule state's ``step``."""

    first: PyTree
    second: PyTree


def gradient_presence(update: jnp.ndarray, grad: jnp.ndarray, epsilon: float) -> jnp.ndarray:
    """update * |g| / (|g| + epsilon): the update where the gradient is well above epsilon,
    zero where it is zero (the factor Adam's epsilon puts on its own step). epsilon = 0: the
    update unchanged."""
    if not epsilon:
        return update
    magnitude = jnp.abs(grad)
    return update * (magnitude / (magnitude + epsilon))


def checked_decays(decays, what: str) -> tuple[float, ...]:
    """`decays` as a tuple of floats; ValueError naming `what` unless every one lies in [0, 1)."""
    decays = tuple(float(d) for d in decays)
    for decay in decays:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"{what} must lie in [0, 1), got {decay}")
    return decays


def checked_momentum_decays(momentum_decays, second_moment_decay: float) -> tuple[float, ...]:
    """`momentum_decays` as a tuple of floats; ValueError unless every decay, and
    `second_moment_decay`, lies in [0, 1)."""
    return checked_decays((*momentum_decays, second_moment_decay), "momentum decays")[:-1]


def num_moment_features(momentum_decays: tuple[float, ...]) -> int:
    """Features per coordinate from `features.normalized_moment_features`: one per momentum
    and the normalised gradient; none without momenta."""
    return len(momentum_decays) + 1 if momentum_decays else 0


def zero_moment_state(params: PyTree, num_decays: int) -> MomentState | None:
    """Zero moments for `num_decays` momenta, or None when the rule reads no moments."""
    if num_decays == 0:
        return None
    return MomentState(
        first=jax.tree.map(lambda p: jnp.zeros(jnp.shape(p) + (num_decays,), jnp.float32), params),
        second=jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), jnp.float32), params),
    )


def moment_trees(moments: MomentState | None) -> tuple:
    """The per-coordinate trees of `moments`, to hand to `map_leaves_with_lstm`."""
    return () if moments is None else (moments.first, moments.second)


def updated_moment_state(moments: MomentState | None, new_trees: tuple) -> MomentState | None:
    """`moments` one step on, from the (first, second) trees the leaves returned."""
    return None if moments is None else MomentState(*new_trees)


def leaf_moment_features(grad, moment_leaves: tuple, step, momentum_decays, second_moment_decay):
    """For one parameter leaf: advances its moments (`moment_leaves` = (first, second) or ())
    by the step being taken (`step` steps were taken before it) and returns
    (`features.normalized_moment_features` or None, the new moment leaves)."""
    if not moment_leaves:
        return None, ()
    first, second = accumulate_moments(*moment_leaves, grad, momentum_decays, second_moment_decay)
    features = normalized_moment_features(first, second, step + 1, grad, momentum_decays, second_moment_decay)
    return features, (first, second)


def coordinate_inputs(grad, moment_leaves: tuple, step, momentum_decays, second_moment_decay, p: float):
    """The inputs that differ between coordinates, for coordinates `grad` of shape (n,):
    `features.log_and_sign` of the gradient, then its `leaf_moment_features` when the rule
    reads moments. Returns (inputs of shape (n, F_c), the moment features or None, the new
    moment leaves)."""
    moment_features, moment_leaves = leaf_moment_features(
        grad, moment_leaves, step, momentum_decays, second_moment_decay
    )
    inputs = log_and_sign(grad, p)
    if moment_features is not None:
        inputs = jnp.concatenate([inputs, moment_features], axis=-1)
    return inputs, moment_features, moment_leaves


def flat_moment_leaves(moment_leaves: tuple) -> list:
    """A leaf's (first, second) moments with its coordinates merged into their first axis,
    shapes (n, len(decays)) and (n,); [] without moments."""
    if not moment_leaves:
        return []
    first, second = moment_leaves
    return [first.reshape(-1, first.shape[-1]), second.reshape(-1)]


def checked_step_timescales(step_timescales) -> tuple[float, ...]:
    """`step_timescales` as a tuple of floats; ValueError unless every one is positive."""
    step_timescales = tuple(float(s) for s in step_timescales)
    if any(not s > 0 for s in step_timescales):
        raise ValueError(f"step timescales must be positive, got {step_timescales}")
    return step_timescales


def leaf_step_features(step: jnp.ndarray, step_timescales: tuple[float, ...], shape) -> jnp.ndarray | None:
    """`features.step_features` of the step being taken (`step` steps were taken before it),
    broadcast to every coordinate of a leaf of `shape`; None without timescales."""
    if not step_timescales:
        return None
    return jnp.broadcast_to(step_features(step + 1, step_timescales), tuple(shape) + (len(step_timescales),))


def check_number_fields(rule) -> None:
    """Raises a ValueError naming any field annotated int or float that holds something else
    (a string read from a config file, say), before the rule's range checks compare it."""
    for field in dataclasses.fields(rule):
        value = getattr(rule, field.name)
        if field.type in ("int", "float") and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise ValueError(f"{type(rule).__name__}.{field.name} must be a number, got {value!r}")
