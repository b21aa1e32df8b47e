"""The direct LSTM update rule of Andrychowicz et al. 2016."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax.numpy as jnp

from learned_opt.features import log_and_sign
from learned_opt.networks import DirectUpdateNetwork, zero_lstm_carries
from learned_opt.optimizers.base import map_leaves_with_lstm, zero_lstm_state


class DirectLSTMState(NamedTuple):
    """Per-coordinate LSTM states (per layer, (cell, hidden) pytrees shaped like the
    parameters with a trailing hidden axis) and the skip count."""

    lstm: Any
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
    """

    hidden_sizes: tuple[int, ...] = (20, 20)
    preprocess_p: float = 10.0
    output_scale: float = 0.1

    name: ClassVar[str] = "direct"
    needs_params: ClassVar[bool] = False
    needs_value: ClassVar[bool] = False

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive, got {self.hidden_sizes}")
        if self.preprocess_p <= 0:
            raise ValueError(f"preprocess_p must be positive, got {self.preprocess_p}")

    def network(self) -> DirectUpdateNetwork:
        return DirectUpdateNetwork(self.hidden_sizes, self.output_scale)

    def init(self, key):
        carries = zero_lstm_carries((), self.hidden_sizes)
        return self.network().init(key, carries, jnp.zeros((2,), jnp.float32))

    def init_state(self, params) -> DirectLSTMState:
        return DirectLSTMState(lstm=zero_lstm_state(params, self.hidden_sizes), skipped=jnp.zeros((), jnp.int32))

    def step(self, meta_params, state: DirectLSTMState, grads, params=None, value=None):
        del params, value
        network = self.network()

        def leaf_update(grad, carries):
            features = log_and_sign(grad, self.preprocess_p)
            carries, update = network.apply(meta_params, carries, features)
            return carries, update.astype(grad.dtype)

        (updates,), lstm = map_leaves_with_lstm(leaf_update, 1, state.lstm, grads)
        return updates, state._replace(lstm=lstm)
