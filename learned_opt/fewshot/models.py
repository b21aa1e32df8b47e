"""The learners of the few-shot papers as pure functions of a parameter pytree.

- `mlp`: Finn et al. 2017's sinusoid regressor, 1 -> 40 -> 40 -> 1 with ReLU.
- `conv`: the conv learner of Vinyals et al. 2016, Finn et al. 2017 and Ravi & Larochelle
  2017: blocks of 3x3 convolution, batch normalisation, ReLU and 2x2 max pooling, then a
  linear read-out. For Omniglot Finn et al. halve the resolution with stride-2
  convolutions instead of pooling (`downsample="stride"`); on a CPU its gradient is about
  5x cheaper (a 32-filter net on 30 images: 8 ms against 43 ms). Batch normalisation
  always uses the statistics of the batch it sees (as MAML does), so there is no running
  state. The read-out is one row tiled to the N ways
  (Ye & Chao 2022, "How to train your MAML to excel in few-shot classification"): every
  label starts equal, so the learned initialisation cannot favour a label, and a model
  meta-trained at one N runs at any other (`tile_head`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_he_normal = jax.nn.initializers.he_normal()


def mlp_init(key, sizes=(1, 40, 40, 1), scale: float = 0.01) -> list[dict]:
    """Dense layers {kernel (in, out), bias (out,)}: kernels from a normal of std `scale`
    truncated at 2 std, biases zero, as in Finn et al.'s code. A small start matters: with
    x up to 5 and He-scaled kernels, the support loss's curvature is already too high for
    a step of 0.01."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {
            "kernel": scale * jax.random.truncated_normal(k, -2.0, 2.0, (n_in, n_out), jnp.float32),
            "bias": jnp.zeros((n_out,), jnp.float32),
        }
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])
    ]


def mlp_apply(params: list[dict], x: jnp.ndarray) -> jnp.ndarray:
    """ReLU between the dense layers, none after the last."""
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["kernel"] + layer["bias"])
    return x @ params[-1]["kernel"] + params[-1]["bias"]


def conv_init(key, channels: int = 1, filters: int = 64, blocks: int = 4) -> dict:
    """{"blocks": [{kernel (3, 3, in, filters), bias, scale, offset}], "head": {kernel
    (features,), bias ()}}; the read-out starts at zero (every label equally likely)."""
    keys = jax.random.split(key, blocks)
    layers = []
    for k, n_in in zip(keys, [channels] + [filters] * (blocks - 1)):
        layers.append(
            {
                "kernel": _he_normal(k, (3, 3, n_in, filters), jnp.float32),
                "bias": jnp.zeros((filters,), jnp.float32),
                "scale": jnp.ones((filters,), jnp.float32),
                "offset": jnp.zeros((filters,), jnp.float32),
            }
        )
    return {
        "blocks": layers,
        "head": {"kernel": jnp.zeros((filters,), jnp.float32), "bias": jnp.zeros((), jnp.float32)},
    }


DOWNSAMPLING = ("max_pool", "stride")


def conv_features(blocks: list[dict], images: jnp.ndarray, downsample: str = "max_pool") -> jnp.ndarray:
    """(batch, H, W, C) images -> (batch, features): each block is conv 3x3 ('SAME'), batch
    norm over the batch, ReLU, then 2x2 max pooling (`downsample="max_pool"`), or the
    convolution itself has stride 2 (`"stride"`); the rest of the map is averaged."""
    if downsample not in DOWNSAMPLING:
        raise ValueError(f"downsample must be one of {DOWNSAMPLING}, got {downsample!r}")
    strides = (2, 2) if downsample == "stride" else (1, 1)
    x = images
    for block in blocks:
        x = jax.lax.conv_general_dilated(
            x, block["kernel"], strides, "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        x = x + block["bias"]
        mean = jnp.mean(x, axis=(0, 1, 2))
        variance = jnp.var(x, axis=(0, 1, 2))
        x = (x - mean) * jax.lax.rsqrt(variance + 1e-5) * block["scale"] + block["offset"]
        x = jax.nn.relu(x)
        if downsample == "max_pool":
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    return jnp.mean(x, axis=(1, 2))


def tile_head(params: dict, ways: int) -> dict:
    """The learner for `ways` labels: the read-out row (features,) repeated as the columns of
    a (features, ways) kernel, and the bias likewise. Each label's column then adapts on its
    own, and the meta-gradient of the row is the sum over its copies."""
    head = params["head"]
    tiled = {"kernel": jnp.tile(head["kernel"][:, None], (1, ways)), "bias": jnp.tile(head["bias"], ways)}
    return {**params, "head": tiled}


def conv_apply(params: dict, images: jnp.ndarray, downsample: str = "max_pool") -> jnp.ndarray:
    """Logits (batch, labels) of a learner whose read-out is (features, labels)."""
    return conv_features(params["blocks"], images, downsample) @ params["head"]["kernel"] + params["head"]["bias"]
