"""Flax modules applied coordinate-wise: every array axis but the last is a batch axis.

A parameter leaf of shape ``S`` is optimised by feeding features of shape ``S + (F,)``;
the same weights serve every coordinate of every leaf (Andrychowicz et al. 2016, Sec. 2.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

LSTMCarry = tuple[jnp.ndarray, jnp.ndarray]  # (cell, hidden)


def zero_lstm_carries(shape: tuple[int, ...], hidden_sizes: Sequence[int]) -> tuple[LSTMCarry, ...]:
    """Zero (cell, hidden) states for a stack of LSTM layers, one per coordinate of `shape`."""
    return tuple(
        (jnp.zeros(shape + (size,), jnp.float32), jnp.zeros(shape + (size,), jnp.float32)) for size in hidden_sizes
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
    gate."""

    hidden_size: int
    forget_bias_init: float
    input_bias_init: float
    gate_kernel_scale: float

    @nn.compact
    def __call__(self, carries, features, theta, previous_forget, previous_input):
        carries, hidden = LSTMStack((self.hidden_size,), name="lstm")(carries, features)
        forget = GateHead(self.forget_bias_init, self.gate_kernel_scale, name="forget_gate")(
            hidden, theta, previous_forget
        )
        input_gate = GateHead(self.input_bias_init, self.gate_kernel_scale, name="input_gate")(
            hidden, theta, previous_input
        )
        return carries, forget, input_gate


# --- Fused evaluation -------------------------------------------------------------------
#
# The flax modules above define the meta-parameters and serve as the reference. The update
# rules evaluate the same functions from the same meta-parameters with the functions below:
# each LSTM layer as one matmul of its four gates' kernels, stacked, against [x_t, h_{t-1}];
# the inputs that are the same for every coordinate (the loss, the step number) folded into
# the first layer's bias once per step; the coordinates on the last (fastest) axis, so that
# the gates' element-wise work runs over contiguous rows of coordinates (2x faster than over
# 20-unit rows on the CPU this was measured on); and a large leaf's coordinates in chunks,
# so that every intermediate stays in cache.

_GATE_ORDER = "ifgo"  # flax's LSTMCell: input, forget, candidate, output


class FusedLSTMLayer(NamedTuple):
    """One LSTM layer with its gates stacked, for coordinates on the last axis:
    z = kernel @ [x; h] + bias, z = [i; f; g; o]."""

    kernel: jnp.ndarray  # (4 * hidden, inputs + hidden)
    bias: jnp.ndarray  # (4 * hidden, 1)


def fused_lstm_layers(lstm_params, num_layers: int) -> tuple[FusedLSTMLayer, ...]:
    """The layers of an `LSTMStack`'s parameters (``meta_params["params"]["lstm"]``) with
    each layer's eight `Dense` kernels stacked into one."""
    layers = []
    for k in range(num_layers):
        cell = lstm_params[f"lstm_{k}"]
        input_kernel = jnp.concatenate([cell[f"i{g}"]["kernel"] for g in _GATE_ORDER], axis=1)
        hidden_kernel = jnp.concatenate([cell[f"h{g}"]["kernel"] for g in _GATE_ORDER], axis=1)
        bias = jnp.concatenate([cell[f"h{g}"]["bias"] for g in _GATE_ORDER])
        layers.append(FusedLSTMLayer(jnp.concatenate([input_kernel, hidden_kernel]).T, bias[:, None]))
    return tuple(layers)


def split_shared_inputs(
    layers: tuple[FusedLSTMLayer, ...], coordinate_rows, shared_rows
) -> tuple[tuple[FusedLSTMLayer, ...], jnp.ndarray]:
    """The layers for inputs that hold only the first layer's inputs `coordinate_rows`, and
    the first layer's kernel W_s of the inputs `shared_rows`, whose values are the same for
    every coordinate: `with_shared_inputs` folds them into its bias."""
    first = layers[0]
    num_inputs = first.kernel.shape[1] - first.kernel.shape[0] // 4
    coordinate_rows = jnp.asarray(list(coordinate_rows), jnp.int32)
    kernel = jnp.concatenate([first.kernel[:, coordinate_rows], first.kernel[:, num_inputs:]], axis=1)
    shared_kernel = first.kernel[:, jnp.asarray(list(shared_rows), jnp.int32)]
    return (FusedLSTMLayer(kernel, first.bias), *layers[1:]), shared_kernel


def with_shared_inputs(
    layers: tuple[FusedLSTMLayer, ...], shared_kernel: jnp.ndarray, shared_inputs: jnp.ndarray
) -> tuple[FusedLSTMLayer, ...]:
    """`split_shared_inputs`'s layers with the shared inputs' values `shared_inputs` folded
    into the first layer's bias, b + W_s s, so that they cost nothing per coordinate."""
    first = layers[0]
    if not shared_inputs.shape[0]:
        return layers
    return (FusedLSTMLayer(first.kernel, first.bias + (shared_kernel @ shared_inputs)[:, None]), *layers[1:])


def fused_lstm_stack(layers: tuple[FusedLSTMLayer, ...], carries: tuple[LSTMCarry, ...], inputs: jnp.ndarray):
    """`LSTMStack` for inputs of shape (features, n) and carries of shape (hidden, n):

        [i; f; g; o] = W [x_t; h_{t-1}] + b
        c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g),  h_t = sigmoid(o) tanh(c_t)

    Returns the new carries and the last layer's h_t."""
    new_carries = []
    x = inputs
    for layer, (cell, hidden) in zip(layers, carries):
        gates = layer.kernel @ jnp.concatenate([x, hidden]) + layer.bias
        i, f, g, o = jnp.split(gates, 4)
        cell = jax.nn.sigmoid(f) * cell + jax.nn.sigmoid(i) * jnp.tanh(g)
        x = jax.nn.sigmoid(o) * jnp.tanh(cell)
        new_carries.append((cell, x))
    return tuple(new_carries), x


# Coordinates per chunk of a large leaf: the inputs, carries and gates of 16k coordinates of
# a 20-unit LSTM (about 10 MB) stay in the L2 and L3 caches of the 2-core CPU this was
# measured on, where the shipped l2l's update of a 1M-coordinate leaf took 186 ms, against
# 505 ms unchunked and 297 ms and 282 ms with chunks of 4k and 64k coordinates.
COORDINATE_CHUNK = 16384


def map_coordinate_chunks(
    fn, arrays: tuple, axes: tuple[int, ...], out_axes: tuple[int, ...], chunk_size: int = COORDINATE_CHUNK
) -> tuple:
    """``fn(*arrays)`` for a coordinate-wise `fn` (each output coordinate depends only on the
    same coordinate of the inputs), evaluated `chunk_size` coordinates at a time in a loop.

    The n coordinates lie on axis ``axes[k]`` of ``arrays[k]`` and on axis ``out_axes[k]``
    of output k. The last chunk is aligned to end at coordinate n, so it may overlap the one
    before: those coordinates are computed twice, from the same inputs, and written twice
    with the same values, which keeps every chunk the same shape without padded copies."""
    n = arrays[0].shape[axes[0]]
    if n <= chunk_size:
        return fn(*arrays)

    def chunk_of(array, axis, start):
        return jax.lax.dynamic_slice_in_dim(array, start, chunk_size, axis)

    output_shapes = jax.eval_shape(fn, *(chunk_of(a, axis, 0) for a, axis in zip(arrays, axes)))
    outputs = []
    for shape, axis in zip(output_shapes, out_axes):
        full = list(shape.shape)
        full[axis] = n
        outputs.append(jnp.zeros(full, shape.dtype))

    def chunk(j, outputs):
        start = jnp.minimum(j * chunk_size, n - chunk_size)
        results = fn(*(chunk_of(a, axis, start) for a, axis in zip(arrays, axes)))
        return tuple(
            jax.lax.dynamic_update_slice_in_dim(out, r, start, axis) for out, r, axis in zip(outputs, results, out_axes)
        )

    return jax.lax.fori_loop(0, -(-n // chunk_size), chunk, tuple(outputs))
