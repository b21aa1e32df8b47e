"""Reader for the python version of CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html).

The tarball ``cifar-10-python.tar.gz`` unpacks to ``cifar-10-batches-py/`` holding
``data_batch_1`` .. ``data_batch_5`` (10000 training images each) and ``test_batch``
(10000 test images). Each is a pickled dict with ``b"data"``, a (10000, 3072) uint8 array
whose rows are the 1024 red, then 1024 green, then 1024 blue pixels of a 32x32 image
(channel-first, rows top to bottom), and ``b"labels"``, a list of ints in 0..9.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SIZE = 3 * 32 * 32
NUM_CLASSES = 10

# The only globals a CIFAR batch pickle needs: numpy array reconstruction (and, in protocol-2
# pickles written by Python 3, `_codecs.encode` for bytes). Anything else is refused, so a
# tampered file cannot run code when it is loaded.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class CIFARError(ValueError):
    """A CIFAR batch file that is not a valid batch."""


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _field(batch: dict, key: str):
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise KeyError(key)


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one CIFAR-10 batch file: images (n, 3072) uint8 in the file's
    channel-first order, labels (n,) int32 in 0..9. Raises CIFARError on a malformed file."""
    try:
        with open(path, "rb") as stream:
            batch = _ArrayUnpickler(stream, encoding="bytes").load()
        images = np.asarray(_field(batch, "data"))
        labels = np.asarray(_field(batch, "labels"))
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise CIFARError(f"{path}: not a CIFAR-10 python batch ({type(error).__name__}: {error})") from error
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != IMAGE_SIZE:
        raise CIFARError(f"{path}: b'data' should be (n, {IMAGE_SIZE}) uint8, found {images.shape} {images.dtype}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise CIFARError(f"{path}: b'labels' should be {len(images)} integers, found {labels.shape} {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise CIFARError(f"{path}: labels outside 0..{NUM_CLASSES - 1}")
    return images, labels.astype(np.int32)


def read_cifar10(directory: str | os.PathLike):
    """(train_images, train_labels, test_images, test_labels) from `directory/cifar-10-batches-py`:
    the five training batches concatenated in order, and the test batch."""
    batch_dir = Path(directory) / BATCH_DIR
    train = [read_cifar_batch(batch_dir / name) for name in TRAIN_BATCHES]
    test_images, test_labels = read_cifar_batch(batch_dir / TEST_BATCH)
    train_images = np.concatenate([images for images, _ in train])
    train_labels = np.concatenate([labels for _, labels in train])
    return train_images, train_labels, test_images, test_labels
