"""Few-shot benchmarks: a learner, its loss and metric, and where its episodes come from.

A benchmark supplies what every method needs: ``init(key)`` (the learner's parameters),
``expand(params)`` (the learner as adapted, e.g. a read-out tiled to the N ways),
``loss`` and ``metric`` of ``(params, batch)``, ``episodes(key, count, split)``, and, for
pretraining, ``pretrain_init``, ``pretrain_loss`` over all training tasks at once and
``from_pretrained``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import optax

from learned_opt.data.fewshot import SPLITS, FewShotImages
from learned_opt.fewshot import episodes as episodes_lib
from learned_opt.fewshot import models


def map_tasks(fn, episodes, how: str = "vmap"):
    """``fn`` of each task of `episodes` (a batch along their leading axis), stacked.

    `how` is "vmap", "map" (`lax.map`, one task at a time in a loop) or "unroll" (one task
    at a time, unrolled when traced). Under `vmap` a convolution whose kernel differs between
    tasks (after the first adaptation step) becomes a grouped convolution, which XLA:CPU runs
    slowly: the MAML meta-gradient of 8 glyph episodes (32 filters) took 843 ms vmapped,
    507 ms with "map" and 226 ms unrolled on 2 CPU cores."""
    if how == "vmap":
        return jax.vmap(fn)(episodes)
    if how == "map":
        return jax.lax.map(fn, episodes)
    if how == "unroll":
        count = jax.tree.leaves(episodes)[0].shape[0]
        results = [fn(jax.tree.map(lambda x, i=i: x[i], episodes)) for i in range(count)]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *results)
    raise ValueError(f"how must be 'vmap', 'map' or 'unroll', got {how!r}")


def _split_key(key, split: str):
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    return jax.random.fold_in(key, SPLITS.index(split))


@dataclasses.dataclass(frozen=True)
class Sinusoid:
    """Sinusoid regression (Finn et al. 2017, Sec. 5.1): y = A sin(x - b), A ~ U[0.1, 5],
    b ~ U[0, pi], x ~ U[-5, 5]; K `shots` support points, the MSE on `queries` others; the
    learner an MLP with 2 hidden layers of 40 ReLU units. Every split draws from the same
    task distribution, with different keys."""

    shots: int = 5
    queries: int = 10
    hidden: tuple[int, ...] = (40, 40)

    name: ClassVar[str] = "sinusoid"
    task_batching: ClassVar[str] = "vmap"
    evaluation_batching: ClassVar[str] = "vmap"
    metric_name: ClassVar[str] = "MSE"
    higher_is_better: ClassVar[bool] = False

    @property
    def examples_per_episode(self) -> int:
        return self.shots + self.queries

    def init(self, key):
        return models.mlp_init(key, (1, *self.hidden, 1))

    def expand(self, params):
        return params

    def loss(self, params, batch) -> jnp.ndarray:
        x, y = batch
        return jnp.mean((models.mlp_apply(params, x) - y) ** 2)

    metric = loss

    def episodes(self, key, count: int, split: str = "train") -> episodes_lib.Episode:
        keys = jax.random.split(_split_key(key, split), count)
        return jax.vmap(lambda k: episodes_lib.sinusoid_episode(k, self.shots, self.queries))(keys)

    pretrain_init = init

    def pretrain_loss(self, params, key, batch_size: int) -> jnp.ndarray:
        """The MSE of one network on points of many training tasks pooled together."""
        tasks = self.episodes(key, max(1, batch_size // self.examples_per_episode))
        x = jnp.concatenate([tasks.support[0], tasks.query[0]], axis=1).reshape(-1, 1)
        y = jnp.concatenate([tasks.support[1], tasks.query[1]], axis=1).reshape(-1, 1)
        return self.loss(params, (x, y))

    def from_pretrained(self, params):
        return params


@dataclasses.dataclass(frozen=True)
class ImageClassification:
    """N-way K-shot classification: `ways` classes of one split per episode, `shots` support
    and `queries` query images of each; the learner the conv net of `models` with `blocks`
    blocks (4 in the papers) of `filters` filters; loss the cross-entropy, metric the accuracy on the query set."""

    data: FewShotImages = dataclasses.field(repr=False, compare=False)
    ways: int = 5
    shots: int = 1
    queries: int = 5
    filters: int = 32
    blocks: int = 4
    downsample: str = "stride"
    task_batching: str = "unroll"
    evaluation_batching: str = "map"

    name: ClassVar[str] = "glyphs"
    metric_name: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True

    @property
    def examples_per_episode(self) -> int:
        return self.ways * (self.shots + self.queries)

    @functools.cached_property
    def _split_images(self) -> dict[str, jnp.ndarray]:
        # concrete device arrays even when first asked for under `jit`: a traced value kept
        # here would leak into the next trace
        with jax.ensure_compile_time_eval():
            return {name: jnp.asarray(self.data.split(name)) for name in SPLITS}

    def init(self, key):
        return models.conv_init(key, self.data.images.shape[-1], self.filters, self.blocks)

    def expand(self, params):
        return models.tile_head(params, self.ways)

    def loss(self, params, batch) -> jnp.ndarray:
        images, labels = batch
        return optax.softmax_cross_entropy_with_integer_labels(
            models.conv_apply(params, images, self.downsample), labels
        ).mean()

    def metric(self, params, batch) -> jnp.ndarray:
        images, labels = batch
        return jnp.mean(jnp.argmax(models.conv_apply(params, images, self.downsample), -1) == labels)

    def episodes(self, key, count: int, split: str = "train") -> episodes_lib.Episode:
        images = self._split_images[split]
        keys = jax.random.split(_split_key(key, split), count)
        return jax.vmap(lambda k: episodes_lib.image_episode(k, images, self.ways, self.shots, self.queries))(keys)

    def pretrain_init(self, key):
        """The conv net with a read-out over every training class."""
        params = self.init(key)
        classes = len(self.data.splits["train"])
        return {**params, "head": {"kernel": jnp.zeros((self.filters, classes)), "bias": jnp.zeros((classes,))}}

    def pretrain_loss(self, params, key, batch_size: int) -> jnp.ndarray:
        """Cross-entropy over all training classes on `batch_size` random training images."""
        images = self._split_images["train"]
        class_key, example_key = jax.random.split(key)
        classes = jax.random.randint(class_key, (batch_size,), 0, images.shape[0])
        examples = jax.random.randint(example_key, (batch_size,), 0, images.shape[1])
        return self.loss(params, (images[classes, examples].astype(jnp.float32) / 255.0, classes))

    def from_pretrained(self, params):
        """The pretrained features with the mean of the class rows as the read-out row."""
        head = params["head"]
        return {**params, "head": {"kernel": head["kernel"].mean(axis=1), "bias": head["bias"].mean()}}


def glyph_classification(ways: int = 5, shots: int = 1, queries: int = 5, filters: int = 32, max_classes=None):
    """`ImageClassification` on the generated glyphs (`data.glyphs`)."""
    from learned_opt.data.glyphs import glyphs

    return ImageClassification(glyphs(max_classes=max_classes), ways, shots, queries, filters)
