"""Datasets as numpy arrays with a fixed train / test split.

Every loader returns a `Dataset`: float32 inputs flattened to (n, features) and scaled to
[0, 1], int32 labels, and the number of classes. `digits` is bundled with scikit-learn and
`mnist1d` is generated locally, so both work offline; `mnist`, `fashion_mnist` and `cifar10`
read the standard files from `<data root>/<name>/` (data root: `$LEARNED_OPT_DATA`, else
`~/.cache/learned_opt`), which `learned-opt data download NAME` fetches.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from learned_opt.data import cifar, generated, idx
from learned_opt.data.paths import data_root, dataset_dir


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


def _from_bytes(name: str, train_images, train_labels, test_images, test_labels, num_classes: int) -> Dataset:
    """A Dataset from uint8 images (any trailing shape, flattened row-major) scaled by 1/255."""

    def inputs(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)

    return Dataset(
        name,
        inputs(train_images),
        np.asarray(train_labels, np.int32),
        inputs(test_images),
        np.asarray(test_labels, np.int32),
        num_classes,
    )


def digits() -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), pixel
    values scaled to [0, 1]; 20% held out as the test split."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    return _split("digits", bunch.data / 16.0, bunch.target, test_fraction=0.2, seed=0)


def mnist1d(root: str | os.PathLike | None = None) -> Dataset:
    """MNIST-1D (Greydanus 2020): 5000 1-D signals of length 40, 10 classes, with the
    generator's own 4000 / 1000 train / test split, generated with seed 42 and cached as .npz
    in `<data root>/mnist1d/`.

    Inputs are the generator's signals as it emits them, already about standardised (training
    mean -0.0003, standard deviation 1.0; per feature 0.77 to 1.12). Min-max scaling them into
    [0, 1], as this loader once did, leaves every input near the same value (mean 0.547,
    standard deviation 0.100), so that one large first step can turn a ReLU unit off on every
    example, and ReLU networks then stall at chance loss."""
    arrays = generated.mnist1d_arrays(dataset_dir("mnist1d", root))
    return Dataset(
        "mnist1d",
        arrays["x"].astype(np.float32),
        arrays["y"].astype(np.int32),
        arrays["x_test"].astype(np.float32),
        arrays["y_test"].astype(np.int32),
        10,
    )


def _idx_dataset(name: str, root) -> Dataset:
    directory = dataset_dir(name, root)
    require(name, root)
    return _from_bytes(name, *idx.read_idx_split(directory), num_classes=10)


def mnist(root: str | os.PathLike | None = None) -> Dataset:
    """MNIST (LeCun et al. 1998): 28x28 grey digits, 60000 train / 10000 test (the files' own
    split), inputs the 784 pixels row by row scaled by 1/255; read from the IDX files in
    `<data root>/mnist/`."""
    return _idx_dataset("mnist", root)


def fashion_mnist(root: str | os.PathLike | None = None) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): 28x28 grey clothing images in 10 classes, 60000 train /
    10000 test, inputs the 784 pixels row by row scaled by 1/255; read from the IDX files in
    `<data root>/fashion_mnist/`."""
    return _idx_dataset("fashion_mnist", root)


def cifar10(root: str | os.PathLike | None = None) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009): 32x32 colour images in 10 classes, 50000 train / 10000 test,
    read from the python batches in `<data root>/cifar10/cifar-10-batches-py/`.

    Inputs keep the file's channel-first order: 3072 values = 1024 red, 1024 green, 1024 blue
    pixels (each row by row), scaled by 1/255. For images use
    `learned_opt.tasks.conv.to_images(inputs, "cifar10")`."""
    require("cifar10", root)
    return _from_bytes("cifar10", *cifar.read_cifar10(dataset_dir("cifar10", root)), num_classes=cifar.NUM_CLASSES)


DATASETS: dict[str, Callable[[], Dataset]] = {
    "digits": digits,
    "mnist1d": mnist1d,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
}

# Datasets read from files that `learned-opt data download` fetches.
FILE_DATASETS = ("mnist", "fashion_mnist", "cifar10")


def missing_files(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """The files of dataset `name` absent from its directory, as paths relative to it (an IDX
    file counts as present raw or gzipped); empty for bundled and generated datasets."""
    directory = dataset_dir(name, root)
    if name in ("mnist", "fashion_mnist"):
        return [stem + "[.gz]" for stem in idx.IDX_FILES if idx.find_idx(directory, stem) is None]
    if name == "cifar10":
        names = (*cifar.TRAIN_BATCHES, cifar.TEST_BATCH)
        return [f"{cifar.BATCH_DIR}/{n}" for n in names if not (directory / cifar.BATCH_DIR / n).is_file()]
    return []


def manual_instructions(name: str, root: str | os.PathLike | None = None) -> str:
    """How to put dataset `name`'s files in place by hand (a sentence starting lower-case)."""
    directory = dataset_dir(name, root)
    if name in ("mnist", "fashion_mnist"):
        files = ", ".join(f"{stem}[.gz]" for stem in idx.IDX_FILES)
        return f"place the four IDX files ({files}; raw or gzipped) in {directory}/"
    if name == "cifar10":
        batches = ", ".join((*cifar.TRAIN_BATCHES, cifar.TEST_BATCH))
        return (
            f"download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
            f"extract it in {directory}/ (`tar -xzf cifar-10-python.tar.gz -C {directory}`), so that "
            f"{directory / cifar.BATCH_DIR}/ holds {batches}"
        )
    return "nothing to fetch: it is bundled or generated locally"


def how_to_get(name: str, root: str | os.PathLike | None = None) -> str:
    """Instructions for putting dataset `name` where its loader looks for it."""
    command = f"learned-opt data download {name}" + ("" if root is None else f" --dir {data_root(root)}")
    return f"Run `{command}`, or {manual_instructions(name, root)}."


def require(name: str, root: str | os.PathLike | None = None) -> None:
    """Raises FileNotFoundError, saying what is missing and how to get it, unless every file of
    dataset `name` is present. The data root can be changed with $LEARNED_OPT_DATA."""
    missing = missing_files(name, root)
    if missing:
        raise FileNotFoundError(
            f"Dataset {name!r} is not available: {dataset_dir(name, root)} lacks {', '.join(missing)}. "
            f"{how_to_get(name, root)} (Data root: $LEARNED_OPT_DATA, else ~/.cache/learned_opt.)"
        )


def availability(name: str, root: str | os.PathLike | None = None) -> tuple[bool, str]:
    """(usable now without a download, a one-line description of where it comes from)."""
    if name == "digits":
        return True, "bundled with scikit-learn"
    if name == "mnist1d":
        path = generated.cache_path(dataset_dir(name, root))
        return True, f"generated locally; cached at {path}" if path.is_file() else "generated locally on first use"
    missing = missing_files(name, root)
    if not missing:
        return True, f"files in {dataset_dir(name, root)}"
    return False, f"missing {len(missing)} file(s) in {dataset_dir(name, root)}; run `learned-opt data download {name}`"


@functools.cache
def _load_cached(name: str, root: str) -> Dataset:
    del root  # only a cache key: the loaders read the same data root themselves
    return DATASETS[name]()


def load_dataset(name: str) -> Dataset:
    """The dataset `name`, loaded once per process (and per data root)."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; datasets are {sorted(DATASETS)}")
    return _load_cached(name, str(data_root()))
