"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"), generated locally and cached.

The `mnist1d` package's own generator builds the data from ten 1-D digit templates by
padding, shearing, translating, adding correlated and i.i.d. noise, and subsampling to 40
points; it is never asked to download anything.
"""

from __future__ import annotations

import json
import os
import random
import warnings
import zipfile
from pathlib import Path

import numpy as np

from learned_opt.data.paths import atomic_path

SEED = 42  # the package's default, which reproduces the published MNIST-1D data
_KEYS = ("x", "y", "x_test", "y_test")


def generate_mnist1d(seed: int = SEED) -> dict[str, np.ndarray]:
    """Arrays {x (4000, 40), y (4000,), x_test (1000, 40), y_test (1000,)} from
    `mnist1d.data.make_dataset` with the package's default arguments and `seed`; inputs as the
    generator returns them (standardised to mean 0, std 1 over the whole set), float32.

    The generator seeds numpy's and python's global random state; both are restored after."""
    try:
        import mnist1d.data  # lazy: pulls in scipy and matplotlib
    except ImportError as error:
        raise ImportError("MNIST-1D is generated with the `mnist1d` package: pip install mnist1d") from error

    args = mnist1d.data.get_dataset_args()
    args.seed = seed
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = mnist1d.data.make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {
        "x": np.asarray(data["x"], np.float32),
        "y": np.asarray(data["y"], np.int32),
        "x_test": np.asarray(data["x_test"], np.float32),
        "y_test": np.asarray(data["y_test"], np.int32),
    }


def cache_path(directory: str | os.PathLike, seed: int = SEED) -> Path:
    """Where the arrays generated with `seed` are cached."""
    return Path(directory) / f"mnist1d_seed{seed}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays at `path`, or None when the file is unreadable or incomplete."""
    try:
        with np.load(path) as stored:
            arrays = {key: stored[key] for key in _KEYS}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return arrays


def mnist1d_arrays(directory: str | os.PathLike, seed: int = SEED) -> dict[str, np.ndarray]:
    """The MNIST-1D arrays for `seed`, read from `directory`'s .npz cache, or generated and
    then cached there (atomically; a cache that cannot be written only costs a warning)."""
    path = cache_path(directory, seed)
    cached = _read_cache(path) if path.is_file() else None
    if cached is not None:
        return cached
    arrays = generate_mnist1d(seed)
    try:
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as stream:
                np.savez(stream, **arrays, generator=json.dumps({"package": "mnist1d", "seed": seed}))
    except OSError as error:
        warnings.warn(f"could not cache MNIST-1D at {path}: {error}", stacklevel=2)
    return arrays
