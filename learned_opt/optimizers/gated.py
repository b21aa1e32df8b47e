"""The gated LSTM update rule: the cell state is the parameter (Ravi & Larochelle 2017)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from learned_opt.features import (
    accumulate_log_loss,
    log_and_sign,
    loss_change_features,
    step_features,
)
from learned_opt.networks import (
    GatedUpdateNetwork,
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
    checked_decays,
    checked_lstm_state_dtype,
    checked_momentum_decays,
    checked_step_timescales,
    coordinate_inputs,
    flat_moment_leaves,
    from_state_bits,
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

DESCENT_DIRECTIONS = ("gradient", "normalized_momentum")


class GatedLSTMState(NamedTuple):
    """Per-coordinate state. `forget` and `input` are the last step's gates f_t and i_t,
    float32 pytrees shaped like the parameters, kept for inspection and fed back as
    f_{t-1}, i_{t-1}. `moments` is a `MomentState`, or None without `momentum_decays`;
    `loss_averages` the moving averages of the log loss, one per `loss_change_decays`
    (shape (0,) without them); `step` counts the steps taken."""

    lstm: Any
    forget: Any
    input: Any
    moments: Any
    loss_averages: jnp.ndarray
    step: jnp.ndarray
    skipped: jnp.ndarray


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclasses.dataclass(frozen=True)
class GatedLSTM:
    """Gradient descent as an LSTM cell ("Optimization as a model for few-shot learning",
    Ravi & Larochelle 2017, Sec. 3.1-3.2).

    In an LSTM, c_t = f_t * c_{t-1} + i_t * z_t. With c_t = theta_t and z_t = -grad_t this is
    gradient descent when f_t = 1 and i_t is the learning rate. Here both gates are learned,
    per coordinate, from a first LSTM that reads x_t = [log-and-sign(grad_t),
    log-and-sign(loss_t)]:

        h_t = LSTM(x_t, h_{t-1})
        f_t = sigmoid(W_f [h_t, theta_{t-1}, f_{t-1}] + b_f)
        i_t = sigmoid(W_i [h_t, theta_{t-1}, i_{t-1}] + b_i)
        theta_t = f_t * theta_{t-1} - i_t * grad_t

    so the optax update is (f_t - 1) * theta_{t-1} - i_t * grad_t. The biases start at
    `forget_bias_init` (f near 1) and `input_bias_init` (a small step) and the gate kernels
    at scale `gate_kernel_scale`, so an untrained rule is close to gradient descent with
    step sigmoid(input_bias_init). Needs the parameters and the loss (`value=`).

    Beyond the paper, `max_learning_rate` bounds the input gate as
    i_t = max_learning_rate * sigmoid(...): the paper's sigmoid caps every step at 1 x grad,
    below what some optimizees need (an MLP on digits wants SGD steps near 3). The paper's
    rule is `max_learning_rate=1`, the default. The state's `input` holds this i_t (the
    effective per-coordinate learning rate); the gate is fed back as i_{t-1} / max_learning_rate,
    so the network sees the same inputs whatever the bound, and meta-parameters trained with
    one bound run with any other (`dataclasses.replace` on the loaded rule).

    Also beyond the paper: `momentum_decays` (empty by default) adds to x_t the gradient's
    momenta at those decays and the gradient, each divided by its running RMS
    (`features.normalized_moment_features`). With ``descent_direction="normalized_momentum"``
    the candidate z_t is m_t / (sqrt(v_t) + eps) at the decay `direction_decay` (which must
    be one of `momentum_decays`) instead of -grad_t:

        theta_t = f_t * theta_{t-1} - i_t * m_t / (sqrt(v_t) + eps)

    which with a constant i_t and f_t = 1 is Adam (Kingma & Ba 2015) with learning rate i_t,
    so the input gate becomes a learned, per-coordinate Adam learning rate.

    `step_timescales` (empty by default) adds to x_t the training-step features tanh(t / s)
    for each timescale s (`features.step_features`), with which the gates can follow a
    learned schedule, such as a warm-up of the input gate.

    `loss_change_decays` (empty by default) adds to x_t, for each decay beta, how the loss
    moved against its moving average, tanh(log f_t - avg_beta(log f)_{t-1})
    (`features.loss_change_features`; beta = 0 compares with the last step's loss), with
    which the input gate can shrink as soon as a step overshoots and raises the loss.

    Cost per coordinate and step, with F_c inputs that differ between coordinates (the
    gradient's log-and-sign and moments; the loss and step features are the same for all)
    and H units: 2 (F_c + H) 4 H + 4 H FLOPs of multiply-adds
    and 5 H + 2 transcendental functions; state 2 H numbers in `lstm_state_dtype` and the
    two float32 gates, plus 4 (len(momentum_decays) + 1) bytes of moments. `lstm_state_dtype` has no
    meta-parameters, so a checkpoint runs with either.
    No derivative flows through a bfloat16 state (the update keeps it as integer bits), so
    estimators that backpropagate through the update (truncated backpropagation) need float32.
    """

    hidden_size: int = 20
    preprocess_p: float = 10.0
    forget_bias_init: float = 6.0
    input_bias_init: float = -4.0
    gate_kernel_scale: float = 1e-3
    max_learning_rate: float = 1.0
    momentum_decays: tuple[float, ...] = ()
    second_moment_decay: float = 0.999
    descent_direction: str = "gradient"
    direction_decay: float = 0.9
    step_timescales: tuple[float, ...] = ()
    loss_change_decays: tuple[float, ...] = ()
    lstm_state_dtype: str = "float32"

    name: ClassVar[str] = "gated"
    needs_params: ClassVar[bool] = True
    needs_value: ClassVar[bool] = True

    def __post_init__(self):
        check_number_fields(self)
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be positive, got {self.hidden_size}")
        if self.preprocess_p <= 0:
            raise ValueError(f"preprocess_p must be positive, got {self.preprocess_p}")
        if self.max_learning_rate <= 0:
            raise ValueError(f"max_learning_rate must be positive, got {self.max_learning_rate}")
        object.__setattr__(
            self, "momentum_decays", checked_momentum_decays(self.momentum_decays, self.second_moment_decay)
        )
        object.__setattr__(self, "step_timescales", checked_step_timescales(self.step_timescales))
        object.__setattr__(self, "loss_change_decays", checked_decays(self.loss_change_decays, "loss change decays"))
        if self.descent_direction not in DESCENT_DIRECTIONS:
            raise ValueError(f"descent_direction must be one of {DESCENT_DIRECTIONS}, got {self.descent_direction!r}")
        if self.descent_direction == "normalized_momentum" and self.direction_decay not in self.momentum_decays:
            raise ValueError(
                f'descent_direction="normalized_momentum" steps along the momentum at direction_decay '
                f"({self.direction_decay}), which must be one of momentum_decays {self.momentum_decays}"
            )
        checked_lstm_state_dtype(self.lstm_state_dtype)

    @property
    def num_features(self) -> int:
        """LSTM inputs per coordinate: log-and-sign of g and of the loss, the normalised
        moments, the step features, then the loss-change features."""
        return 4 + num_moment_features(self.momentum_decays) + len(self.step_timescales) + len(self.loss_change_decays)

    @property
    def _direction_index(self) -> int:
        """Position of Adam's direction among the normalised moments."""
        return self.momentum_decays.index(self.direction_decay)

    @property
    def initial_learning_rate(self) -> float:
        """The step of the untrained rule, max_learning_rate * sigmoid(input_bias_init)."""
        return self.max_learning_rate * _sigmoid(self.input_bias_init)

    def network(self) -> GatedUpdateNetwork:
        return GatedUpdateNetwork(
            self.hidden_size,
            self.forget_bias_init,
            self.input_bias_init,
            self.gate_kernel_scale,
        )

    def init(self, key):
        carries = zero_lstm_carries((), (self.hidden_size,))
        scalar = jnp.zeros((), jnp.float32)
        return self.network().init(key, carries, jnp.zeros((self.num_features,), jnp.float32), scalar, scalar, scalar)

    def init_state(self, params) -> GatedLSTMState:
        def full(value):
            return jax.tree.map(lambda p: jnp.full(jnp.shape(p), value, jnp.float32), params)

        return GatedLSTMState(
            lstm=zero_lstm_state(params, (self.hidden_size,), self.lstm_state_dtype),
            forget=full(_sigmoid(self.forget_bias_init)),
            input=full(self.initial_learning_rate),
            moments=zero_moment_state(params, len(self.momentum_decays)),
            loss_averages=jnp.zeros((len(self.loss_change_decays),), jnp.float32),
            step=jnp.zeros((), jnp.int32),
            skipped=jnp.zeros((), jnp.int32),
        )

    def _input_rows(self) -> tuple[list[int], list[int]]:
        """Positions, among the LSTM's inputs, of those that differ between coordinates
        (the gradient's log-and-sign and moments) and of those shared by all."""
        num_moments = num_moment_features(self.momentum_decays)
        coordinate = [0, 1, *range(4, 4 + num_moments)]
        return coordinate, [k for k in range(self.num_features) if k not in coordinate]

    def step(self, meta_params, state: GatedLSTMState, grads, params, value):
        """One update, fused: per leaf, the features, the LSTM, both gates and the
        heads in one pass over chunks of coordinates (`networks.map_coordinate_chunks`);
        the inputs shared by every coordinate are folded into the LSTM's bias. Computes what
        `reference_step` computes, to float32 rounding."""
        layers, shared_kernel = split_shared_inputs(
            fused_lstm_layers(meta_params["params"]["lstm"], 1), *self._input_rows()
        )
        weights = meta_params["params"]
        forget_head = weights["forget_gate"]["Dense_0"]
        input_head = weights["input_gate"]["Dense_0"]
        h = self.hidden_size
        head_kernel = jnp.stack([forget_head["kernel"][:h, 0], input_head["kernel"][:h, 0]])
        shared_step = [log_and_sign(value, self.preprocess_p), step_features(state.step + 1, self.step_timescales)]
        if self.loss_change_decays:
            shared_step.append(loss_change_features(state.loss_averages, state.step, value, self.loss_change_decays))
        shared_layers = with_shared_inputs(layers, shared_kernel, jnp.concatenate(shared_step))

        def leaf_update(grad, carries, theta, previous_forget, previous_input, *moment_leaves):

            def chunk_update(g, theta, forget, input_gate, cell, hidden, *chunk_moments):
                g, theta = g.astype(jnp.float32), theta.astype(jnp.float32)
                inputs, moment_inputs, chunk_moments = coordinate_inputs(
                    g, chunk_moments, state.step, self.momentum_decays, self.second_moment_decay, self.preprocess_p
                )
                ((cell, hidden),), out = fused_lstm_stack(
                    shared_layers, ((as_float32(cell), as_float32(hidden)),), inputs.T
                )
                heads = head_kernel @ out
                forget = jax.nn.sigmoid(
                    heads[0]
                    + theta * forget_head["kernel"][h, 0]
                    + forget * forget_head["kernel"][h + 1, 0]
                    + forget_head["bias"][0]
                )
                input_gate = self.max_learning_rate * jax.nn.sigmoid(
                    heads[1]
                    + theta * input_head["kernel"][h, 0]
                    + (input_gate / self.max_learning_rate) * input_head["kernel"][h + 1, 0]
                    + input_head["bias"][0]
                )
                direction = g if self.descent_direction == "gradient" else moment_inputs[:, self._direction_index]
                update = (forget - 1.0) * theta - input_gate * direction
                return (
                    update.astype(grad.dtype),
                    forget,
                    input_gate,
                    stored_bits(cell, self.lstm_state_dtype),
                    stored_bits(hidden, self.lstm_state_dtype),
                    *chunk_moments,
                )

            ((cell, hidden),) = carries
            flat = [x.reshape(-1) for x in (grad, theta, previous_forget, previous_input)]
            flat += [state_bits(cell).reshape(h, -1), state_bits(hidden).reshape(h, -1)]
            flat += flat_moment_leaves(moment_leaves)
            moment_axes = (0,) * len(moment_leaves)
            update, forget, input_gate, new_cell, new_hidden, *new_moments = map_coordinate_chunks(
                chunk_update, tuple(flat), (0, 0, 0, 0, 1, 1) + moment_axes, (0, 0, 0, 1, 1) + moment_axes
            )
            new_moments = tuple(x.reshape(m.shape) for x, m in zip(new_moments, moment_leaves))
            return (
                (
                    (
                        from_state_bits(new_cell.reshape(cell.shape), self.lstm_state_dtype),
                        from_state_bits(new_hidden.reshape(hidden.shape), self.lstm_state_dtype),
                    ),
                ),
                update.reshape(grad.shape),
                forget.reshape(grad.shape),
                input_gate.reshape(grad.shape),
                *new_moments,
            )

        return self._apply_to_leaves(leaf_update, state, grads, params, value)

    def reference_step(self, meta_params, state: GatedLSTMState, grads, params, value):
        """`step` computed leaf by leaf with the flax modules of `network()`: the
        definition that `step` is tested against."""
        network = self.network()
        loss_features = log_and_sign(value, self.preprocess_p)
        loss_changes = (
            loss_change_features(state.loss_averages, state.step, value, self.loss_change_decays)
            if self.loss_change_decays
            else None
        )

        def leaf_update(grad, carries, theta, previous_forget, previous_input, *moment_leaves):
            grad32 = grad.astype(jnp.float32)
            theta32 = theta.astype(jnp.float32)
            moment_features, moment_leaves = leaf_moment_features(
                grad32, moment_leaves, state.step, self.momentum_decays, self.second_moment_decay
            )
            features = [log_and_sign(grad32, self.preprocess_p), jnp.broadcast_to(loss_features, grad.shape + (2,))]
            step_features = leaf_step_features(state.step, self.step_timescales, grad.shape)
            for extra in (moment_features, step_features, loss_changes):
                if extra is not None:
                    features.append(jnp.broadcast_to(extra, grad.shape + extra.shape[-1:]))
            carries, forget, input_gate = network.apply(
                meta_params,
                lstm_carries_to_trailing(carries),
                jnp.concatenate(features, axis=-1),
                theta32,
                previous_forget,
                previous_input / self.max_learning_rate,
            )
            carries = lstm_carries_to_leading(carries, self.lstm_state_dtype)
            input_gate = self.max_learning_rate * input_gate
            direction = grad32 if self.descent_direction == "gradient" else moment_features[..., self._direction_index]
            update = (forget - 1.0) * theta32 - input_gate * direction
            return carries, update.astype(grad.dtype), forget, input_gate, *moment_leaves

        return self._apply_to_leaves(leaf_update, state, grads, params, value)

    def _apply_to_leaves(self, leaf_update, state: GatedLSTMState, grads, params, value):
        """The updates and next state from ``leaf_update(grad, carries, theta, previous_forget,
        previous_input, *moment_leaves)`` -> ``(new_carries, update, forget, input,
        *new_moment_leaves)`` applied to every parameter leaf."""
        moments = moment_trees(state.moments)
        (updates, forget, input_gate, *new_moments), lstm = map_leaves_with_lstm(
            leaf_update, 3 + len(moments), state.lstm, grads, params, state.forget, state.input, *moments
        )
        return updates, state._replace(
            lstm=lstm,
            forget=forget,
            input=input_gate,
            moments=updated_moment_state(state.moments, new_moments),
            loss_averages=accumulate_log_loss(state.loss_averages, value, self.loss_change_decays),
            step=state.step + 1,
        )


def find_gated_state(opt_state) -> GatedLSTMState:
    """The `GatedLSTMState` inside an optimizer state, also when the gated rule sits in an
    `optax.chain` or `optax.MultiSteps`."""
    found = [
        node
        for node in jax.tree.leaves(opt_state, is_leaf=lambda n: isinstance(n, GatedLSTMState))
        if isinstance(node, GatedLSTMState)
    ]
    if len(found) != 1:
        raise ValueError(f"Expected one gated LSTM optimizer state, found {len(found)}")
    return found[0]


def gate_statistics(opt_state, quantiles=(0.1, 0.5, 0.9), full_size: int = 64) -> dict[str, dict]:
    """Summaries of the last step's gates, per parameter leaf (keyed by its path, such as
    "['dense_0']['kernel']"): ``forget_mean``, ``input_mean``, ``forget_quantiles`` and
    ``input_quantiles`` (at `quantiles`), and the full ``forget`` / ``input`` arrays for
    leaves of at most `full_size` coordinates. Pure and jittable."""
    state = find_gated_state(opt_state)
    forget_leaves = jax.tree_util.tree_leaves_with_path(state.forget)
    input_leaves = jax.tree.leaves(state.input)
    levels = jnp.asarray(quantiles, jnp.float32)
    statistics = {}
    for (path, forget), input_gate in zip(forget_leaves, input_leaves):
        if forget.size == 0:
            continue
        leaf = {
            "forget_mean": jnp.mean(forget),
            "input_mean": jnp.mean(input_gate),
            "forget_quantiles": jnp.quantile(forget.ravel(), levels),
            "input_quantiles": jnp.quantile(input_gate.ravel(), levels),
        }
        if forget.size <= full_size:
            leaf["forget"], leaf["input"] = forget, input_gate
        statistics[jax.tree_util.keystr(path)] = leaf
    return statistics
