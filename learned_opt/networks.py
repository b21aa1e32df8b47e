"""Flax modules applied coordinate-wise: every array axis but the last is a batch axis.

A parameter leaf of shape ``S`` is optimised by feeding features of shape ``S + (F,)``;
the same weights serve every coordinate of every leaf (Andrychowicz et al. 2016, Sec. 2.1).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

LSTMCarry = tuple[jnp.ndarray, jnp.ndarray]  # (cell, hidden)


def zero_lstm_carries(shape: tuple[int, ...], hidden_sizes: Sequence[int]) -> tuple[LSTMCarry, ...]:
    """Zero (cell, hidden) states for a stack of LSTM layers, one per coordinate of `shape`."""
    return tuple(
        (jnp.zeros(shape + (size,), jnp.float32), jnp.zeros(shape + (size,), jnp.float32))
        for size in hidden_sizes
    )


class LSTMStack(nn.Module):
    """Stacked LSTM cells; layer k reads the hidden output of layer k-1.

    c_t = f_t * c_{t-1} + i_t * tanh(W_c [x_t, h_{t-1}] + b_c),  h_t = o_t * tanh(c_t)
    (Hochreiter & Schmidhuber 1997), with flax's `nn.LSTMCell`.
    """

    hidden_sizes: Sequence[int]

    @nn.compact
    def __call__(self, carries: tuple[LSTMCarry, ...], inputs: jnp.ndarray):
        new_carries = []
        x = inputs
        for layer, (size, carry) in enumerate(zip(self.hidden_sizes, carries)):
            carry, x = nn.LSTMCell(features=size, name=f"lstm_{layer}")(carry, x)
            new_carries.append(carry)
        return tuple(new_carries), x


class DirectUpdateNetwork(nn.Module):
    """LSTM stack and a linear read-out: update = output_scale * (w^T h_t + b)."""

    hidden_sizes: Sequence[int]
    output_scale: float

    @nn.compact
    def __call__(self, carries, features):
        carries, hidden = LSTMStack(self.hidden_sizes, name="lstm")(carries, features)
        update = nn.Dense(1, name="readout")(hidden)[..., 0]
        return carries, self.output_scale * update


class GateHead(nn.Module):
    """One scalar gate per coordinate: g_t = sigmoid(W [h_t, theta_{t-1}, g_{t-1}] + b).

    Ravi & Larochelle 2017, Eqs. 3-4. The kernel starts small so that an untrained gate
    sits at sigmoid(bias_init).
    """

    bias_init: float
    kernel_scale: float

    @nn.compact
    def __call__(self, hidden, theta, previous_gate):
        inputs = jnp.concatenate([hidden, theta[..., None], previous_gate[..., None]], axis=-1)
        logits = nn.Dense(
            1,
            kernel_init=nn.initializers.normal(self.kernel_scale),
            bias_init=nn.initializers.constant(self.bias_init),
        )(inputs)[..., 0]
        return nn.sigmoid(logits)


class GatedUpdateNetwork(nn.Module):
    """A coordinate-wise LSTM over (gradient, loss) features feeding a forget and an input
    gate, and with `direction_correction` a linear read-out w^T h_t + b added to the descent
    direction, zero at the start (its weights start at zero)."""

    hidden_size: int
    forget_bias_init: float
    input_bias_init: float
    gate_kernel_scale: float
    direction_correction: bool = False

    @nn.compact
    def __call__(self, carries, features, theta, previous_forget, previous_input):
        carries, hidden = LSTMStack((self.hidden_size,), name="lstm")(carries, features)
        forget = GateHead(self.forget_bias_init, self.gate_kernel_scale, name="forget_gate")(
            hidden, theta, previous_forget
        )
        input_gate = GateHead(self.input_bias_init, self.gate_kernel_scale, name="input_gate")(
            hidden, theta, previous_input
        )
        if not self.direction_correction:
            return carries, forget, input_gate, jnp.zeros_like(forget)
        correction = nn.Dense(1, kernel_init=nn.initializers.zeros, name="direction_correction")(hidden)[..., 0]
        return carries, forget, input_gate, correction


def with_zero_readout(meta_params, name: str, input_size: int):
    """The meta-parameters with a linear read-out `name` (a `nn.Dense(1)` over `input_size`
    inputs, such as the gated network's `direction_correction`) added at zero, whose output
    is then zero."""
    head = {"kernel": jnp.zeros((input_size, 1), jnp.float32), "bias": jnp.zeros((1,), jnp.float32)}
    return {**meta_params, "params": {**meta_params["params"], name: head}}


def with_new_inputs(meta_params, num_new_inputs: int, position: int | None = None):
    """The meta-parameters of a network built on `LSTMStack` (named "lstm"), for inputs
    with `num_new_inputs` more features, inserted before input `position` (default: at the
    end): the first layer's input kernels get zero rows for them, so the network computes
    exactly what it did before."""
    first_layer = meta_params["params"]["lstm"]["lstm_0"]

    def inserted(kernel):
        at = kernel.shape[0] if position is None else position
        zeros = jnp.zeros((num_new_inputs,) + kernel.shape[1:], kernel.dtype)
        return jnp.concatenate([kernel[:at], zeros, kernel[at:]])

    extended = {
        name: {**weights, "kernel": inserted(weights["kernel"])} if name.startswith("i") else weights
        for name, weights in first_layer.items()
    }
    lstm = {**meta_params["params"]["lstm"], "lstm_0": extended}
    return {**meta_params, "params": {**meta_params["params"], "lstm": lstm}}
