"""A small convolutional classifier: the CIFAR-10 network of Andrychowicz et al. 2016, Sec. 3.3."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from learned_opt.data import load_dataset
from learned_opt.tasks.base import TaskFamily, train_minibatch

# (height, width, channels) of each image dataset, and how its flat rows are laid out.
IMAGE_LAYOUTS = {
    "digits": ((8, 8, 1), "hwc"),
    "mnist": ((28, 28, 1), "hwc"),
    "fashion_mnist": ((28, 28, 1), "hwc"),
    "cifar10": ((32, 32, 3), "chw"),
}


def to_images(flat: jnp.ndarray, dataset: str) -> jnp.ndarray:
    """Rows of a dataset's flat inputs as NHWC images."""
    (height, width, channels), layout = IMAGE_LAYOUTS[dataset]
    if layout == "chw":
        return flat.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
    return flat.reshape(-1, height, width, channels)


@dataclasses.dataclass(frozen=True)
class ConvFamily(TaskFamily):
    """Convolutions (3x3, 'SAME', ReLU) each followed by 2x2 max pooling, then a dense
    hidden layer and a softmax read-out. The paper's network has three convolutional layers
    with batch normalisation and 32 dense units on CIFAR-10; batch normalisation is left
    out here so that the optimizee stays a pure function of its parameters. Pooling stops
    once the feature map is 1x1, so the default also fits 8x8 digits.

    Kernels start from N(0, 2 / fan_in) (He et al. 2015), biases at zero.
    """

    channels: tuple[int, ...] = (16, 16, 16)
    dense_size: int = 32
    batch_size: int = 128
    dataset: str = "digits"
    name: str = "conv"

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.dataset not in IMAGE_LAYOUTS:
            raise ValueError(f"ConvFamily needs an image dataset, one of {sorted(IMAGE_LAYOUTS)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")

    def _feature_size(self) -> int:
        (height, width, _), _ = IMAGE_LAYOUTS[self.dataset]
        for _ in self.channels:
            height, width = max(height // 2, 1), max(width // 2, 1)
        return height * width * self.channels[-1]

    def sample_data(self, key):
        del key
        return {}

    def init_params(self, data, key):
        del data
        (_, _, in_channels), _ = IMAGE_LAYOUTS[self.dataset]
        num_classes = load_dataset(self.dataset).num_classes
        keys = jax.random.split(key, len(self.channels) + 2)
        params = {}
        for k, out_channels in enumerate(self.channels):
            fan_in = 9 * in_channels
            params[f"conv_{k}"] = {
                "kernel": jax.random.normal(keys[k], (3, 3, in_channels, out_channels)) * jnp.sqrt(2.0 / fan_in),
                "bias": jnp.zeros((out_channels,)),
            }
            in_channels = out_channels
        features = self._feature_size()
        params["dense_0"] = {
            "kernel": jax.random.normal(keys[-2], (features, self.dense_size)) * jnp.sqrt(2.0 / features),
            "bias": jnp.zeros((self.dense_size,)),
        }
        params["dense_1"] = {
            "kernel": jax.random.normal(keys[-1], (self.dense_size, num_classes)) / jnp.sqrt(self.dense_size),
            "bias": jnp.zeros((num_classes,)),
        }
        return params

    def logits(self, params, images):
        x = images
        for k in range(len(self.channels)):
            layer = params[f"conv_{k}"]
            x = jax.lax.conv_general_dilated(
                x, layer["kernel"].astype(x.dtype), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            x = jax.nn.relu(x + layer["bias"].astype(x.dtype))
            window = (1, min(2, x.shape[1]), min(2, x.shape[2]), 1)
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, window, "VALID")
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ params["dense_0"]["kernel"].astype(x.dtype) + params["dense_0"]["bias"].astype(x.dtype))
        return x @ params["dense_1"]["kernel"].astype(x.dtype) + params["dense_1"]["bias"].astype(x.dtype)

    def sample_batch(self, data, key):
        del data
        inputs, labels = train_minibatch(self.dataset, self.batch_size, key)
        return to_images(inputs, self.dataset), labels

    def loss(self, data, params, batch):
        del data
        images, labels = batch
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(self.logits(params, images), labels))
