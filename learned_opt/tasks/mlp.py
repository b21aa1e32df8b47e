"""Multi-layer perceptron classifiers: the base task of Andrychowicz et al. 2016, Sec. 3.2."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from learned_opt.data import load_dataset
from learned_opt.tasks.base import TaskFamily, train_minibatch

ACTIVATIONS = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh}


@dataclasses.dataclass(frozen=True)
class MLPFamily(TaskFamily):
    """A fully connected classifier trained with softmax cross-entropy on minibatches.

    The paper's base task is one hidden layer of 20 sigmoid units, batch 128, 100 steps
    (there on MNIST; `digits` is the offline default here). Tasks of the family differ in
    their initialisation and batch order. Parameters are
    ``{"dense_k": {"kernel": (fan_in, fan_out), "bias": (fan_out,)}}`` with kernels drawn
    from N(0, 1 / fan_in) and zero biases.
    """

    hidden_sizes: tuple[int, ...] = (20,)
    activation: str = "sigmoid"
    batch_size: int = 128
    dataset: str = "digits"
    name: str = "mlp"

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {self.activation!r}; choose from {sorted(ACTIVATIONS)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")

    def layer_sizes(self) -> tuple[int, ...]:
        data = load_dataset(self.dataset)
        return (data.train_inputs.shape[1], *self.hidden_sizes, data.num_classes)

    def sample_data(self, key):
        del key
        return {}

    def init_params(self, data, key):
        del data
        sizes = self.layer_sizes()
        keys = jax.random.split(key, len(sizes) - 1)
        return {
            f"dense_{k}": {
                "kernel": jax.random.normal(keys[k], (fan_in, fan_out)) / jnp.sqrt(fan_in),
                "bias": jnp.zeros((fan_out,)),
            }
            for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        }

    def hidden_activations(self, params, inputs) -> list:
        """The output of each hidden layer, first to last, for `inputs`."""
        activation = ACTIVATIONS[self.activation]
        x, outputs = inputs, []
        for k in range(len(params) - 1):
            x = activation(self._dense(params[f"dense_{k}"], x))
            outputs.append(x)
        return outputs

    def logits(self, params, inputs):
        last_hidden = self.hidden_activations(params, inputs)[-1] if len(params) > 1 else inputs
        return self._dense(params[f"dense_{len(params) - 1}"], last_hidden)

    @staticmethod
    def _dense(layer, x):
        return x @ layer["kernel"].astype(x.dtype) + layer["bias"].astype(x.dtype)

    def sample_batch(self, data, key):
        del data
        return train_minibatch(self.dataset, self.batch_size, key)

    def loss(self, data, params, batch):
        del data
        inputs, labels = batch
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(self.logits(params, inputs), labels))

    def full_train_loss(self, params) -> jax.Array:
        """Mean cross-entropy over the dataset's whole training split."""
        dataset = load_dataset(self.dataset)
        batch = (jnp.asarray(dataset.train_inputs), jnp.asarray(dataset.train_labels))
        return self.loss({}, params, batch)

    def test_accuracy(self, params) -> jax.Array:
        """Fraction of the dataset's test split classified correctly."""
        dataset = load_dataset(self.dataset)
        predictions = jnp.argmax(self.logits(params, jnp.asarray(dataset.test_inputs)), axis=-1)
        return jnp.mean(predictions == jnp.asarray(dataset.test_labels))
