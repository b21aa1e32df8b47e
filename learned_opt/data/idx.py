"""Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT: element type, DD: number of
dimensions), DD big-endian uint32 sizes, then the elements in row-major order, big-endian.
Files may be gzip-compressed (recognised by content, whatever the name).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

# Element type codes of the IDX format.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# The four files of the MNIST distribution (and of Fashion-MNIST, which copies its layout).
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file that is malformed: bad magic number, truncated, or not what was expected."""


def parse_idx(buffer: bytes, source: str = "<bytes>") -> np.ndarray:
    """The array stored in the (uncompressed) IDX bytes `buffer`, in native byte order.

    Raises IDXError naming `source` when the magic number is invalid or the data length does
    not equal prod(sizes) * itemsize."""
    if len(buffer) < 4:
        raise IDXError(f"{source}: not an IDX file ({len(buffer)} bytes, shorter than the 4-byte magic number)")
    code, ndim = buffer[2], buffer[3]
    if buffer[:2] != b"\0\0" or code not in IDX_DTYPES or ndim == 0:
        raise IDXError(
            f"{source}: bad IDX magic number 0x{buffer[:4].hex()} (expected 0x0000TTDD: two zero bytes, "
            f"a type code in {{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}} and the number of dimensions)"
        )
    header = 4 + 4 * ndim
    if len(buffer) < header:
        raise IDXError(f"{source}: truncated IDX header ({len(buffer)} bytes, the {ndim} sizes need {header})")
    shape = struct.unpack(f">{ndim}I", buffer[4:header])
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(buffer) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "trailing bytes"
        raise IDXError(
            f"{source}: {problem}: the header declares shape {shape} of {dtype.name} "
            f"({expected} data bytes) but the file holds {actual} data bytes"
        )
    array = np.frombuffer(buffer, dtype=dtype, count=math.prod(shape), offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in the IDX file at `path`, gunzipped first if the file is gzip data."""
    raw = Path(path).read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise IDXError(f"{path}: corrupt gzip data ({error})") from error
    return parse_idx(raw, str(path))


def find_idx(directory: str | os.PathLike, stem: str) -> Path | None:
    """`directory/stem` or else `directory/stem.gz`, whichever exists first; None if neither."""
    for name in (stem, stem + ".gz"):
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    return None


def _read_part(directory: Path, stem: str, ndim: int) -> np.ndarray:
    path = find_idx(directory, stem)
    if path is None:
        raise FileNotFoundError(f"{directory / stem}[.gz] does not exist")
    array = read_idx(path)
    if array.dtype != np.uint8 or array.ndim != ndim:
        raise IDXError(f"{path}: expected {ndim}-d unsigned bytes, found shape {array.shape} of {array.dtype}")
    return array


def _check_pair(images: np.ndarray, labels: np.ndarray, split: str, directory: Path, num_classes: int) -> None:
    if len(images) != len(labels):
        raise IDXError(f"{directory}: the {split} split has {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() >= num_classes:
        raise IDXError(f"{directory}: {split} label {labels.max()} is outside 0..{num_classes - 1}")


def read_idx_split(directory: str | os.PathLike, num_classes: int = 10):
    """(train_images, train_labels, test_images, test_labels) from the four MNIST-layout IDX
    files in `directory`: images (n, rows, cols) uint8, labels (n,) uint8 in [0, num_classes)."""
    directory = Path(directory)
    train_images = _read_part(directory, TRAIN_IMAGES, 3)
    train_labels = _read_part(directory, TRAIN_LABELS, 1)
    test_images = _read_part(directory, TEST_IMAGES, 3)
    test_labels = _read_part(directory, TEST_LABELS, 1)
    _check_pair(train_images, train_labels, "train", directory, num_classes)
    _check_pair(test_images, test_labels, "test", directory, num_classes)
    if train_images.shape[1:] != test_images.shape[1:]:
        raise IDXError(
            f"{directory}: train images are {train_images.shape[1:]} but test images {test_images.shape[1:]}"
        )
    return train_images, train_labels, test_images, test_labels
