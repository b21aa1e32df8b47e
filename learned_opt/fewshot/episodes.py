"""Few-shot episodes: the support set a learner adapts on and the query set it is scored on.

`sinusoid_episodes` draws regression tasks (Finn et al. 2017, Sec. 5.1) and
`image_episodes` N-way K-shot classification episodes (Vinyals et al. 2016) from a
`data.fewshot.FewShotImages` split. Both are pure functions of a key, so they run under
`jit` and `vmap`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

AMPLITUDE_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, jnp.pi)
INPUT_RANGE = (-5.0, 5.0)


class Episode(NamedTuple):
    """One task's data: `support` and `query` are (inputs, targets) pairs. For
    classification the targets are labels 0..N-1 and `classes` holds the dataset's index of
    each label's class; for regression `classes` holds the task's (amplitude, phase)."""

    support: tuple[jnp.ndarray, jnp.ndarray]
    query: tuple[jnp.ndarray, jnp.ndarray]
    classes: jnp.ndarray


def sinusoid_task(key) -> jnp.ndarray:
    """(amplitude, phase) of a task, amplitude ~ U[0.1, 5] and phase ~ U[0, pi]."""
    amplitude_key, phase_key = jax.random.split(key)
    amplitude = jax.random.uniform(amplitude_key, (), minval=AMPLITUDE_RANGE[0], maxval=AMPLITUDE_RANGE[1])
    phase = jax.random.uniform(phase_key, (), minval=PHASE_RANGE[0], maxval=PHASE_RANGE[1])
    return jnp.stack([amplitude, phase])


def sinusoid_points(key, task: jnp.ndarray, count: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """`count` points x ~ U[-5, 5] of the task's curve y = amplitude * sin(x - phase), as
    (count, 1) inputs and targets."""
    x = jax.random.uniform(key, (count, 1), minval=INPUT_RANGE[0], maxval=INPUT_RANGE[1])
    return x, task[0] * jnp.sin(x - task[1])


def sinusoid_episode(key, shots: int, queries: int) -> Episode:
    """A sinusoid task with `shots` support points and `queries` query points, drawn
    independently."""
    task_key, support_key, query_key = jax.random.split(key, 3)
    task = sinusoid_task(task_key)
    return Episode(sinusoid_points(support_key, task, shots), sinusoid_points(query_key, task, queries), task)


def image_episode(key, images: jnp.ndarray, ways: int, shots: int, queries: int) -> Episode:
    """An N-way K-shot episode from `images` (classes, examples, height, width, channels):
    `ways` distinct classes in random order, labelled 0..ways-1, and for each class
    `shots` support and `queries` query images, distinct examples, so the sets are
    disjoint. Pixels are scaled to [0, 1]. Inputs are (ways * shots, H, W, C) sorted by
    label; the query likewise with `queries` per class."""
    num_classes, num_examples = images.shape[:2]
    if ways > num_classes or shots + queries > num_examples:
        raise ValueError(
            f"a {ways}-way episode with {shots} + {queries} images a class needs at least {ways} classes of "
            f"{shots + queries} images; the split has {num_classes} classes of {num_examples}"
        )
    class_key, example_key = jax.random.split(key)
    classes = jax.random.choice(class_key, num_classes, (ways,), replace=False)
    examples = jax.vmap(lambda k: jax.random.permutation(k, num_examples)[: shots + queries])(
        jax.random.split(example_key, ways)
    )
    chosen = images[classes[:, None], examples].astype(jnp.float32) / 255.0
    labels = jnp.broadcast_to(jnp.arange(ways)[:, None], (ways, shots + queries))

    def flat(part, labels_part):
        return part.reshape((-1,) + images.shape[2:]), labels_part.reshape(-1)

    return Episode(
        flat(chosen[:, :shots], labels[:, :shots]),
        flat(chosen[:, shots:], labels[:, shots:]),
        classes.astype(jnp.int32),
    )
