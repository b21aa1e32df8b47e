"""Bundled datasets. Each loader returns float32 inputs in [0, 1] and int32 labels."""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np


class Dataset(NamedTuple):
    name: str
    train_inputs: np.ndarray  # (n_train, features) float32
    train_labels: np.ndarray  # (n_train,) int32
    test_inputs: np.ndarray
    test_labels: np.ndarray
    num_classes: int


def _split(name: str, inputs: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int) -> Dataset:
    """A fixed random train / test split (the same on every machine for a given seed)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    num_test = int(round(test_fraction * len(labels)))
    test, train = order[:num_test], order[num_test:]
    inputs = inputs.astype(np.float32)
    labels = labels.astype(np.int32)
    return Dataset(name, inputs[train], labels[train], inputs[test], labels[test], int(labels.max()) + 1)


def digits() -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), pixel
    values scaled to [0, 1]; 20% held out as the test split."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    return _split("digits", bunch.data / 16.0, bunch.target, test_fraction=0.2, seed=0)


DATASETS: dict[str, Callable[[], Dataset]] = {"digits": digits}


@functools.lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    """The dataset `name`, loaded once per process."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; datasets are {sorted(DATASETS)}")
    return DATASETS[name]()
