"""Fetching dataset files into the data root, with the standard library only.

Every file is streamed to a temporary name beside its destination, checked (MD5 where the
published checksum is known) and renamed into place, so an interrupted or failed download
leaves no partial file. Tarballs are unpacked into a staging directory first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from learned_opt.data import generated
from learned_opt.data.datasets import DATASETS, manual_instructions, missing_files
from learned_opt.data.paths import atomic_path, dataset_dir

_BLOCK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Remote:
    """One file to fetch: saved as `filename` in the dataset directory, from the first of
    `urls` that answers, checked against `md5` when given. With `extract`, the file is a
    tarball that is unpacked into the dataset directory and then deleted."""

    filename: str
    urls: tuple[str, ...]
    md5: str | None = None
    extract: bool = False


def _idx_remotes(mirrors: tuple[str, ...], md5s: dict[str, str]) -> tuple[Remote, ...]:
    return tuple(Remote(name, tuple(base + name for base in mirrors), md5) for name, md5 in md5s.items())


# Mirrors of the original files, tried in order; the checksums are the published ones.
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_FASHION_MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

SOURCES: dict[str, tuple[Remote, ...]] = {
    "mnist": _idx_remotes(
        _MNIST_MIRRORS,
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion_mnist": _idx_remotes(
        _FASHION_MIRRORS,
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "cifar10": (
        Remote(
            "cifar-10-python.tar.gz",
            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            "c58f30108f718f92721af3b95e74349a",
            extract=True,
        ),
    ),
}


class DownloadError(RuntimeError):
    """A dataset file could not be fetched, failed its checksum, or could not be unpacked."""


def fetch_url(url: str, destination: str | os.PathLike, md5: str | None = None, timeout: float = 60.0) -> int:
    """Copies `url` (http, https or file) to `destination` atomically and returns its size in
    bytes. Raises DownloadError, leaving no file, when the transfer fails, is shorter than the
    announced Content-Length, or the MD5 differs from `md5`."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with atomic_path(destination) as temporary:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(temporary, "wb") as out:
                announced = response.headers.get("Content-Length")
                for block in iter(lambda: response.read(_BLOCK), b""):
                    out.write(block)
                    digest.update(block)
                    size += len(block)
        except (OSError, http.client.HTTPException, ValueError) as error:  # URLError is an OSError
            raise DownloadError(f"{url}: {error}") from error
        if announced is not None and announced.isdigit() and int(announced) != size:
            raise DownloadError(f"{url}: incomplete transfer ({size} of {announced} bytes)")
        if md5 is not None and digest.hexdigest() != md5:
            raise DownloadError(f"{url}: checksum mismatch (md5 {digest.hexdigest()}, expected {md5})")
    return size


def fetch_remote(remote: Remote, destination: str | os.PathLike, log: Callable[[str], None] = print) -> int:
    """Fetches `remote` to `destination` from the first of its URLs that succeeds; returns the
    size. Raises DownloadError listing every URL's failure when none does."""
    failures = []
    for url in remote.urls:
        log(f"fetching {url}")
        try:
            return fetch_url(url, destination, remote.md5)
        except DownloadError as error:
            log(f"  failed: {error}")
            failures.append(str(error))
    raise DownloadError(f"could not fetch {remote.filename}: " + "; ".join(failures))


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
        raise DownloadError(f"{archive}: refusing to extract unsafe member {member.name!r}")


def extract_tarball(archive: str | os.PathLike, directory: str | os.PathLike) -> list[Path]:
    """Unpacks the (optionally compressed) tarball `archive` into `directory`, keeping its
    layout, and returns the files written. Members are unpacked into a staging directory and
    then renamed into place, so a damaged archive writes nothing; links, devices, absolute
    paths and paths with '..' are refused."""
    archive, directory = Path(archive), Path(directory)
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=".extract-"))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(member, archive)
                options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(staging, members=members, **options)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise DownloadError(f"{archive}: cannot unpack ({error})") from error
        written = []
        for file in sorted(p for p in staging.rglob("*") if p.is_file()):
            target = directory / file.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
            written.append(target)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _already_there(directory: Path, filename: str) -> bool:
    return (directory / filename).is_file() or (directory / filename.removesuffix(".gz")).is_file()


def download(name: str, root: str | os.PathLike | None = None, log: Callable[[str], None] = print) -> list[Path]:
    """Puts dataset `name` under `<data root>/<name>/` and returns the files written: fetches the
    files of `SOURCES[name]` that are not there yet (unpacking tarballs), generates and caches
    MNIST-1D, and does nothing for the bundled digits. Raises DownloadError when a file cannot
    be fetched or the dataset is still incomplete afterwards."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; datasets are {sorted(DATASETS)}")
    directory = dataset_dir(name, root)
    if name == "mnist1d":
        path = generated.cache_path(directory)
        if path.is_file():
            log(f"kept {path} (MNIST-1D already generated)")
            return []
        generated.mnist1d_arrays(directory)
        log(f"wrote {path} (generated locally, no download)")
        return [path]
    if name not in SOURCES:
        log(f"{name} is bundled with the library's dependencies: nothing to download")
        return []
    if not missing_files(name, root):
        log(f"{name} is already complete in {directory}")
        return []
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        written = _fetch_all(SOURCES[name], directory, log)
    except DownloadError as error:
        if created and not any(directory.iterdir()):
            directory.rmdir()
        raise DownloadError(f"{error}\nWithout network access, {manual_instructions(name, root)}.") from error
    still_missing = missing_files(name, root)
    if still_missing:
        raise DownloadError(f"{name}: {directory} still lacks {', '.join(still_missing)} after the download")
    return written


def _fetch_all(remotes: tuple[Remote, ...], directory: Path, log: Callable[[str], None]) -> list[Path]:
    """Fetches each of `remotes` into `directory` unless already there; returns the files written."""
    written = []
    for remote in remotes:
        target = directory / remote.filename
        if not remote.extract and _already_there(directory, remote.filename):
            log(f"kept {target} (already there)")
            continue
        size = fetch_remote(remote, target, log)
        if remote.extract:
            try:
                files = extract_tarball(target, directory)
            finally:
                target.unlink(missing_ok=True)
            written += files
            log(f"unpacked {remote.filename} ({size} bytes) into {directory}:")
            for path in files:
                log(f"wrote {path}")
        else:
            written.append(target)
            log(f"wrote {target} ({size} bytes)")
    return written
