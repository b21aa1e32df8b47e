"""Where datasets live on disk, and writing files there atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV_VAR = "LEARNED_OPT_DATA"
DEFAULT_ROOT = Path("~/.cache/learned_opt")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: `root` if given, else `$LEARNED_OPT_DATA` if set (and non-empty), else
    `~/.cache/learned_opt`. Each dataset has its own directory under it."""
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(root).expanduser()


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The directory of dataset `name`: `<data root>/<name>`."""
    return data_root(root) / name


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path`; when the block succeeds the temporary file is
    renamed to `path` (an atomic replace on one file system), when it raises the temporary
    file is removed. Readers therefore see either no file or a complete one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
