"""The direct LSTM update rule of Andrychowicz et al. 2016."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax.numpy as jnp

from learned_opt.features import log_and_sign, step_features
from learned_opt.networks import (
    DirectUpdateNetwork,
    fused_lstm_layers,
    fused_lstm_stack,
    map_coordinate_chunks,
    split_shared_inputs,
    with_shared_inputs,
    zero_lstm_carries,
)
from learned_opt.optimizers.base import (
    as_float32,
    check_number_fields,
    checked_lstm_state_dtype,
    checked_momentum_decays,
    checked_step_timescales,
    coordinate_inputs,
    flat_moment_leaves,
    from_state_bits,
    gradient_presence,
    leaf_moment_features,
    leaf_step_features,
    lstm_carries_to_leading,
    lstm_carries_to_trailing,
    map_leaves_with_lstm,
    moment_trees,
    num_moment_features,
    state_bits,
    stored_bits,
    updated_moment_state,
    zero_lstm_state,
    zero_moment_state,
)


class DirectLSTMState(NamedTuple):
    """Per-coordinate LSTM states (per layer, (cell, hidden) pytrees shaped like the
    parameters with a trailing hidden axis), the gradient moments (a `MomentState`, or None
    without `momentum_decays`), the number of steps taken and the skip count."""

    lstm: Any
    moments: Any
    step: jnp.ndarray
    skipped: jnp.ndarray


@dataclasses.dataclass(frozen=True)
class DirectLSTM:
    """Coordinate-wise LSTM optimizer ("Learning to learn by gradient descent by gradient
    descent", Andrychowicz et al. 2016, Sec. 2.1 and Appendix A).

    For every scalar parameter, with gradient g_t:

        x_t = (log|g_t| / p, sign g_t)  or  (-1, e^p g_t)        (log-and-sign, p = 10)
        h_t, s_t = LSTM_2(LSTM_1(x_t, s_{t-1}))                   (two layers, 20 units)
        update_t = output_scale * (w^T h_t + b)                  (output_scale = 0.1)

    and theta_{t+1} = theta_t + update_t. Needs neither the parameters nor the loss.

    Cost per coordinate and step, with F inputs of which F_c differ between coordinates
    (the step features do not) and layers of H_k units (H_0 = F_c): sum_k 2 (H_{k-1} + H_k)
    4 H_k + 2 H_last FLOPs of multiply-adds, counting all F inputs per coordinate as
    `benchmarks/speed.py` does (the paper's rule: 10 kFLOP; the shipped `l2l`: 11.2 kFLOP),
    and 5 H_k transcendental functions per layer; state 2 H_k numbers per layer in
    `lstm_state_dtype`, plus 4 (len(momentum_decays) + 1) bytes of moments. `lstm_state_dtype="bfloat16"` halves the
    LSTM state; it has no meta-parameters, so a checkpoint runs with either.
    No derivative flows through a bfloat16 state (the update keeps it as integer bits), so
    estimators that backpropagate through the update (truncated backpropagation) need float32.

    Beyond the paper, `momentum_decays` (empty in the paper's rule, the default) adds to x_t
    the momenta of the gradient at those decays and the gradient itself, each divided by
    the gradient's running RMS (decay `second_moment_decay`; see
    `features.normalized_moment_features`): Adam's direction and its relatives at several
    timescales, which a linear read-out can already turn into an Adam step.
    `step_timescales` (empty by default) adds the training-step features tanh(t / s) for
    each timescale s (`features.step_features`): a learned schedule.

    `gradient_epsilon` eps (0, off, in the paper's rule) multiplies the update by
    |g_t| / (|g_t| + eps): no gradient, no step. Without it a coordinate whose gradient stays
    zero (an unused embedding row, a dead unit) or vanishes (1e-30) still moves by the
    read-out of the LSTM's response to a zero input, 0.3 to 17 in 1000 steps for rules
    meta-trained on MLPs, where Adam, whose step has the same factor through its own
    epsilon, stays still. With eps = 1e-8 (Adam's) the factor is 1 to 1e-2 for every
    gradient above 1e-6, so it changes nothing that meta-training sees.

    `output_scale` has no meta-parameters, so meta-parameters trained with one run with any
    other (`dataclasses.replace` on the loaded rule).
    """

    hidden_sizes: tuple[int, ...] = (20, 20)
    preprocess_p: float = 10.0
    output_scale: float = 0.1
    momentum_decays: tuple[float, ...] = ()
    second_moment_decay: float = 0.999
    step_timescales: tuple[float, ...] = ()
    lstm_state_dtype: str = "float32"
    gradient_epsilon: float = 0.0

    name: ClassVar[str] = "direct"
    needs_params: ClassVar[bool] = False
    needs_value: ClassVar[bool] = False

    def __post_init__(self):
        check_number_fields(self)
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive, got {self.hidden_sizes}")
        if self.preprocess_p <= 0:
            raise ValueError(f"preprocess_p must be positive, got {self.preprocess_p}")
        object.__setattr__(
            self, "momentum_decays", checked_momentum_decays(self.momentum_decays, self.second_moment_decay)
        )
        object.__setattr__(self, "step_timescales", checked_step_timescales(self.step_timescales))
        checked_lstm_state_dtype(self.lstm_state_dtype)
        if not self.gradient_epsilon >= 0:
            raise ValueError(f"gradient_epsilon must be non-negative, got {self.gradient_epsilon}")

    @property
    def num_features(self) -> int:
        """Inputs per coordinate: log-and-sign of g, the normalised moments, then the step features."""
        return 2 + num_moment_features(self.momentum_decays) + len(self.step_timescales)

    def network(self) -> DirectUpdateNetwork:
        return DirectUpdateNetwork(self.hidden_sizes, self.output_scale)

    def init(self, key):
        carries = zero_lstm_carries((), self.hidden_sizes)
        return self.network().init(key, carries, jnp.zeros((self.num_features,), jnp.float32))

    def init_state(self, params) -> DirectLSTMState:
        return DirectLSTMState(
            lstm=zero_lstm_state(params, self.hidden_sizes, self.lstm_state_dtype),
            moments=zero_moment_state(params, len(self.momentum_decays)),
            step=jnp.zeros((), jnp.int32),
            skipped=jnp.zeros((), jnp.int32),
        )

    def step(self, meta_params, state: DirectLSTMState, grads, params=None, value=None):
        """One update, fused: per leaf, the features, both LSTM layers and the read-out in one
        pass over chunks of coordinates (`networks.map_coordinate_chunks`); the step
        features, the same for every coordinate, are folded into the first layer's bias.
        Computes what `reference_step` computes, to float32 rounding."""
        del params, value
        num_coordinate_inputs = 2 + num_moment_features(self.momentum_decays)
        layers, shared_kernel = split_shared_inputs(
            fused_lstm_layers(meta_params["params"]["lstm"], len(self.hidden_sizes)),
            range(num_coordinate_inputs),
            range(num_coordinate_inputs, self.num_features),
        )
        readout = meta_params["params"]["readout"]
        shared_layers = with_shared_inputs(layers, shared_kernel, step_features(state.step + 1, self.step_timescales))
        num_layers = len(self.hidden_sizes)

        def leaf_update(grad, carries, *moment_leaves):

            def chunk_update(g, *rest):
                chunk_carries = tuple((as_float32(rest[2 * k]), as_float32(rest[2 * k + 1])) for k in range(num_layers))
                inputs, _, chunk_moments = coordinate_inputs(
                    g,
                    rest[2 * num_layers :],
                    state.step,
                    self.momentum_decays,
                    self.second_moment_decay,
                    self.preprocess_p,
                )
                chunk_carries, hidden = fused_lstm_stack(shared_layers, chunk_carries, inputs.T)
                update = gradient_presence(
                    self.output_scale * (readout["kernel"][:, 0] @ hidden + readout["bias"][0]),
                    g,
                    self.gradient_epsilon,
                )
                return (
                    update.astype(grad.dtype),
                    *(stored_bits(x, self.lstm_state_dtype) for carry in chunk_carries for x in carry),
                    *chunk_moments,
                )

            flat = [grad.reshape(-1)] + [state_bits(x).reshape(x.shape[0], -1) for carry in carries for x in carry]
            flat += flat_moment_leaves(moment_leaves)
            axes = (0,) + (1,) * (2 * num_layers) + (0,) * len(moment_leaves)
            update, *rest = map_coordinate_chunks(chunk_update, tuple(flat), axes, axes)
            new_carries = tuple(
                tuple(
                    from_state_bits(rest[2 * k + j].reshape(carries[k][j].shape), self.lstm_state_dtype)
                    for j in range(2)
                )
                for k in range(num_layers)
            )
            new_moments = tuple(x.reshape(m.shape) for x, m in zip(rest[2 * num_layers :], moment_leaves))
            return new_carries, update.reshape(grad.shape), *new_moments

        return self._apply_to_leaves(leaf_update, state, grads)

    def reference_step(self, meta_params, state: DirectLSTMState, grads, params=None, value=None):
        """`step` computed leaf by leaf with the flax modules of `network()`: the
        definition that `step` is tested against."""
        del params, value
        network = self.network()

        def leaf_update(grad, carries, *moment_leaves):
            features = log_and_sign(grad, self.preprocess_p)
            moment_features, moment_leaves = leaf_moment_features(
                grad, moment_leaves, state.step, self.momentum_decays, self.second_moment_decay
            )
            extras = (moment_features, leaf_step_features(state.step, self.step_timescales, grad.shape))
            features = jnp.concatenate([features, *(extra for extra in extras if extra is not None)], axis=-1)
            carries, update = network.apply(meta_params, lstm_carries_to_trailing(carries), features)
            carries = lstm_carries_to_leading(carries, self.lstm_state_dtype)
            update = gradient_presence(update, grad.astype(jnp.float32), self.gradient_epsilon)
            return carries, update.astype(grad.dtype), *moment_leaves

        return self._apply_to_leaves(leaf_update, state, grads)

    def _apply_to_leaves(self, leaf_update, state: DirectLSTMState, grads):
        """The updates and next state from ``leaf_update(grad, carries, *moment_leaves)`` ->
        ``(new_carries, update, *new_moment_leaves)`` applied to every parameter leaf."""
        moments = moment_trees(state.moments)
        (updates, *new_moments), lstm = map_leaves_with_lstm(leaf_update, 1 + len(moments), state.lstm, grads, *moments)
        return updates, state._replace(
            lstm=lstm, moments=updated_moment_state(state.moments, new_moments), step=state.step + 1
        )


def lean_direct_lstm() -> DirectLSTM:
    """A lean configuration of the direct rule: one layer of 6 units with its state in
    bfloat16 (24 bytes per parameter), one RMS-normalised momentum (8 bytes) and the
    training-step features: 32 bytes of state per parameter against the shipped `l2l`'s
    340, and 0.7 kFLOP per coordinate and step against 11.2 (`benchmarks/speed.py`)."""
    return DirectLSTM(
        hidden_sizes=(6,),
        momentum_decays=(0.9,),
        step_timescales=(10.0, 30.0, 100.0, 300.0),
        lstm_state_dtype="bfloat16",
    )
