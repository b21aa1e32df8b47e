"""Optimizees: a `TaskFamily` is a distribution over problems; a `Task` is one problem.

A family's methods are pure functions of explicit arrays (`data`, the arrays that define
one problem), so a batch of tasks is a batch of `data` under `jax.vmap`.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp

from learned_opt.data import load_dataset

PyTree = Any


class TaskFamily(abc.ABC):
    """A distribution over optimization problems. Subclasses are frozen dataclasses, so a
    family is hashable and can be a static argument of a jitted function."""

    name: str = "task_family"

    @abc.abstractmethod
    def sample_data(self, key: chex.PRNGKey) -> PyTree:
        """The arrays that define one problem of the family."""

    @abc.abstractmethod
    def init_params(self, data: PyTree, key: chex.PRNGKey) -> PyTree:
        """Initial optimizee parameters theta_0."""

    @abc.abstractmethod
    def loss(self, data: PyTree, params: PyTree, batch: PyTree) -> chex.Array:
        """The scalar training loss f(theta) on a batch."""

    def sample_batch(self, data: PyTree, key: chex.PRNGKey) -> PyTree:
        """A training batch; full-batch families return None."""
        del data, key
        return None

    def sample(self, key: chex.PRNGKey) -> Task:
        """One problem drawn from the family."""
        return Task(self, self.sample_data(key))


@dataclasses.dataclass(frozen=True)
class Task:
    """One optimization problem: a family and the data that pins down its problem."""

    family: TaskFamily
    data: PyTree

    def init(self, key: chex.PRNGKey) -> PyTree:
        return self.family.init_params(self.data, key)

    def loss(self, params: PyTree, batch: PyTree = None) -> chex.Array:
        return self.family.loss(self.data, params, batch)

    def batch(self, key: chex.PRNGKey) -> PyTree:
        return self.family.sample_batch(self.data, key)


def sample_task_data(family: TaskFamily, key: chex.PRNGKey, num_tasks: int) -> PyTree:
    """Data of `num_tasks` problems, stacked along a leading axis."""
    return jax.vmap(family.sample_data)(jax.random.split(key, num_tasks))


SPLITS = {"train": 0, "validation": 1, "tuning": 2, "test": 3}


def split_key(seed: int, split: str) -> jax.Array:
    """The root key of one split of problems. Meta-training draws from "train", model
    selection from "validation", baseline learning-rate tuning from "tuning" and reported
    results from "test", so no problem is shared between them for a given seed."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; splits are {sorted(SPLITS)}")
    return jax.random.fold_in(jax.random.PRNGKey(seed), SPLITS[split])


def sample_problems(family: TaskFamily, seed: int, split: str, num_problems: int):
    """`num_problems` problems of a split: their stacked data and one run key each."""
    data_key, run_key = jax.random.split(split_key(seed, split))
    return sample_task_data(family, data_key, num_problems), jax.random.split(run_key, num_problems)


def train_minibatch(dataset_name: str, batch_size: int, key: chex.PRNGKey):
    """(inputs, labels) of `batch_size` examples drawn with replacement from the training split."""
    dataset = load_dataset(dataset_name)
    index = jax.random.randint(key, (batch_size,), 0, dataset.train_labels.shape[0])
    return jnp.asarray(dataset.train_inputs)[index], jnp.asarray(dataset.train_labels)[index]
