"""Datasets: the bundled digits, MNIST-1D generation and caching, the IDX and CIFAR readers on
small files written here, missing-data messages, and `learned-opt data {list,download}` from
local file:// sources. Nothing here touches the network."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from learned_opt.cli import main
from learned_opt.data import cifar, datasets, download, generated, idx, load_dataset
from learned_opt.data.cifar import CIFARError
from learned_opt.data.download import DownloadError, Remote
from learned_opt.data.idx import IDXError
from learned_opt.tasks.conv import to_images

IDX_STEMS = idx.IDX_FILES


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty data root, installed as $LEARNED_OPT_DATA."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("LEARNED_OPT_DATA", str(path))
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array, written independently of the reader under test."""
    array = np.asarray(array, np.uint8)
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def idx_arrays(seed: int = 0, shape=(4, 3)):
    """Small MNIST-layout arrays: (train_images, train_labels, test_images, test_labels)."""
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (7, *shape), dtype=np.uint8),
        rng.integers(0, 10, 7, dtype=np.uint8),
        rng.integers(0, 256, (3, *shape), dtype=np.uint8),
        rng.integers(0, 10, 3, dtype=np.uint8),
    )


def write_idx_files(directory, arrays, gz) -> list:
    """Writes the four IDX files into `directory`; `gz` is a bool or one bool per file."""
    directory.mkdir(parents=True, exist_ok=True)
    flags = gz if isinstance(gz, (list, tuple)) else [gz] * 4
    paths = []
    for stem, array, compress in zip(IDX_STEMS, arrays, flags):
        body = idx_bytes(array)
        path = directory / (stem + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(body) if compress else body)
        paths.append(path)
    return paths


def scaled(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255


def assert_dataset(data, num_features: int, num_classes: int = 10, unit_range: bool = True) -> None:
    assert data.train_inputs.dtype == np.float32 and data.test_inputs.dtype == np.float32
    assert data.train_labels.dtype == np.int32 and data.test_labels.dtype == np.int32
    assert data.train_inputs.shape == (len(data.train_labels), num_features)
    assert data.test_inputs.shape == (len(data.test_labels), num_features)
    for inputs in (data.train_inputs, data.test_inputs):
        assert np.all(np.isfinite(inputs))
        assert not unit_range or (inputs.min() >= 0.0 and inputs.max() <= 1.0)
    assert data.num_classes == num_classes
    for labels in (data.train_labels, data.test_labels):
        assert labels.min() >= 0 and labels.max() < num_classes


# -- digits -----------------------------------------------------------------------------------


def test_digits_shapes_ranges_and_fixed_disjoint_split():
    from sklearn.datasets import load_digits

    data = datasets.digits()
    assert_dataset(data, 64)
    assert (len(data.train_labels), len(data.test_labels)) == (1438, 359)
    again = datasets.digits()
    for a, b in zip(data[1:5], again[1:5]):
        np.testing.assert_array_equal(a, b)
    # Together the splits use each of the 1797 samples exactly once.
    bunch = load_digits()
    full = np.column_stack([bunch.data / 16.0, bunch.target]).astype(np.float32)
    split = np.concatenate(
        [np.column_stack([data.train_inputs, data.train_labels]), np.column_stack([data.test_inputs, data.test_labels])]
    ).astype(np.float32)
    np.testing.assert_array_equal(
        np.unique(full, axis=0, return_counts=True)[1], np.unique(split, axis=0, return_counts=True)[1]
    )
    np.testing.assert_array_equal(np.unique(full, axis=0), np.unique(split, axis=0))


def test_unknown_dataset_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown dataset 'nope'.*mnist"):
        load_dataset("nope")


def test_importing_the_library_pulls_in_no_heavy_dependency():
    """The core install (jax, flax, optax, chex, numpy) is enough to use a shipped optimizer."""
    code = (
        "import sys, learned_opt, learned_opt.data, learned_opt.data.download, learned_opt.cli; "
        "[learned_opt.pretrained(name) for name in learned_opt.list_pretrained()]; "
        "print([m for m in ('mnist1d', 'sklearn', 'matplotlib', 'scipy', 'tqdm') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- MNIST-1D ---------------------------------------------------------------------------------


def test_mnist1d_generated_deterministic_and_cached(root, monkeypatch):
    rng_state = np.random.get_state()[1].copy()
    data = load_dataset("mnist1d")
    np.testing.assert_array_equal(np.random.get_state()[1], rng_state)  # global RNG restored
    assert_dataset(data, 40, unit_range=False)
    assert (len(data.train_labels), len(data.test_labels)) == (4000, 1000)
    assert set(np.unique(data.train_labels)) == set(range(10))
    # the generator's signals as emitted: about standardised, not squeezed into [0, 1]
    assert abs(float(data.train_inputs.mean())) < 0.05 and 0.9 < float(data.train_inputs.std()) < 1.1
    cache = generated.cache_path(root / "mnist1d")
    assert cache.is_file()

    # A fresh generation reproduces the cached arrays exactly: the generator is seeded.
    fresh = generated.generate_mnist1d()
    with np.load(cache) as stored:
        for key in ("x", "y", "x_test", "y_test"):
            np.testing.assert_array_equal(stored[key], fresh[key])
    np.testing.assert_array_equal(data.train_inputs, fresh["x"])  # loaded unscaled
    np.testing.assert_array_equal(data.test_inputs, fresh["x_test"])

    # A second load reads the cache and never calls the generator.
    def no_generation(*args, **kwargs):
        raise AssertionError("generated again instead of reading the cache")

    monkeypatch.setattr(generated, "generate_mnist1d", no_generation)
    again = datasets.mnist1d()
    for a, b in zip(data[1:5], again[1:5]):
        np.testing.assert_array_equal(a, b)


def test_mnist1d_damaged_cache_is_ignored(tmp_path):
    path = tmp_path / "mnist1d_seed42.npz"
    path.write_bytes(b"PK\x03\x04 not a zip archive")
    assert generated._read_cache(path) is None
    with open(path, "wb") as stream:
        np.savez(stream, x=np.zeros(3))  # complete archive, missing arrays
    assert generated._read_cache(path) is None


# -- IDX (MNIST, Fashion-MNIST) -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("gz", [False, True, [True, False, False, True]], ids=["raw", "gz", "mixed"])
def test_idx_dataset_reads_back_exactly(root, name, gz):
    arrays = idx_arrays()
    write_idx_files(root / name, arrays, gz)
    data = load_dataset(name)
    assert data.name == name
    assert_dataset(data, 12)
    np.testing.assert_array_equal(data.train_inputs, scaled(arrays[0]))
    np.testing.assert_array_equal(data.train_labels, arrays[1].astype(np.int32))
    np.testing.assert_array_equal(data.test_inputs, scaled(arrays[2]))
    np.testing.assert_array_equal(data.test_labels, arrays[3].astype(np.int32))


def test_load_dataset_follows_the_data_root(tmp_path, monkeypatch):
    for k, seed in enumerate([1, 2]):
        monkeypatch.setenv("LEARNED_OPT_DATA", str(tmp_path / f"root{k}"))
        arrays = idx_arrays(seed)
        write_idx_files(tmp_path / f"root{k}" / "mnist", arrays, gz=True)
        np.testing.assert_array_equal(load_dataset("mnist").train_inputs, scaled(arrays[0]))


def test_parse_idx_reads_big_endian_types():
    values = np.array([[-2, 300], [7, -32768]], dtype=">i2")
    buffer = struct.pack(">BBBB2I", 0, 0, 0x0B, 2, 2, 2) + values.tobytes()
    parsed = idx.parse_idx(buffer)
    assert parsed.dtype == np.int16 and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, values.astype(np.int16))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda b: b"\x08\x03" + b[2:], "bad IDX magic number 0x0803"),
        (lambda b: b[:2] + b"\x42" + b[3:], "bad IDX magic number"),
        (lambda b: b[:-5], "truncated: the header declares shape \\(7, 4, 3\\)"),
        (lambda b: b[:10], "truncated IDX header"),
        (lambda b: b + b"\0", "trailing bytes"),
        (lambda b: b[:3], "not an IDX file"),
    ],
    ids=["magic-order", "magic-type", "truncated-data", "truncated-header", "trailing", "tiny"],
)
def test_corrupt_idx_gives_a_clear_error(root, corrupt, message):
    paths = write_idx_files(root / "mnist", idx_arrays(), gz=False)
    paths[0].write_bytes(corrupt(paths[0].read_bytes()))
    with pytest.raises(IDXError, match=message) as error:
        datasets.mnist()
    assert str(paths[0]) in str(error.value)


def test_truncated_gzip_and_wrong_rank_give_clear_errors(root):
    paths = write_idx_files(root / "mnist", idx_arrays(), gz=True)
    whole = paths[0].read_bytes()
    paths[0].write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IDXError, match="corrupt gzip data"):
        datasets.mnist()
    paths[0].write_bytes(whole)
    paths[1].write_bytes(gzip.compress(idx_bytes(np.zeros((7, 2), np.uint8))))  # labels must be 1-d
    with pytest.raises(IDXError, match="expected 1-d unsigned bytes"):
        datasets.mnist()
    paths[1].write_bytes(gzip.compress(idx_bytes(np.zeros(6, np.uint8))))  # 7 images, 6 labels
    with pytest.raises(IDXError, match="7 images but 6 labels"):
        datasets.mnist()


# -- CIFAR-10 ---------------------------------------------------------------------------------


def write_cifar_batches(directory, sizes=(2, 1, 3, 2, 2, 3), seed=0):
    """Python-pickle batches in `directory/cifar-10-batches-py`; returns (images, labels) per batch."""
    rng = np.random.default_rng(seed)
    batch_dir = directory / cifar.BATCH_DIR
    batch_dir.mkdir(parents=True, exist_ok=True)
    batches = []
    for name, size in zip((*cifar.TRAIN_BATCHES, cifar.TEST_BATCH), sizes):
        images = rng.integers(0, 256, (size, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size)]
        content = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": images,
            b"filenames": [f"{name}_{k}.png".encode() for k in range(size)],
        }
        (batch_dir / name).write_bytes(pickle.dumps(content, protocol=2))
        batches.append((images, np.array(labels, np.int32)))
    return batches


def test_cifar10_reads_batches_in_order_channel_first(root):
    batches = write_cifar_batches(root / "cifar10")
    data = load_dataset("cifar10")
    assert_dataset(data, 3072)
    np.testing.assert_array_equal(data.train_inputs, scaled(np.concatenate([b[0] for b in batches[:5]])))
    np.testing.assert_array_equal(data.train_labels, np.concatenate([b[1] for b in batches[:5]]))
    np.testing.assert_array_equal(data.test_inputs, scaled(batches[5][0]))
    np.testing.assert_array_equal(data.test_labels, batches[5][1])
    # Channel-first rows: value (row r, column c, channel k) is at k * 1024 + r * 32 + c.
    images = np.asarray(to_images(data.test_inputs, "cifar10"))
    assert images.shape == (3, 32, 32, 3)
    r, c, k = 5, 17, 2
    assert images[1, r, c, k] == data.test_inputs[1, k * 1024 + r * 32 + c]


def test_cifar_reader_rejects_malformed_and_unsafe_batches(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(CIFARError, match=r"should be \(n, 3072\) uint8"):
        cifar.read_cifar_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    with pytest.raises(CIFARError, match="labels outside"):
        cifar.read_cifar_batch(path)
    path.write_bytes(pickle.dumps({b"labels": [0]}))
    with pytest.raises(CIFARError, match="not a CIFAR-10 python batch"):
        cifar.read_cifar_batch(path)
    path.write_bytes(b"\x80\x02}q\x00(")  # truncated pickle
    with pytest.raises(CIFARError, match="not a CIFAR-10 python batch"):
        cifar.read_cifar_batch(path)

    marker = tmp_path / "created-by-unpickling"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path.write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}))
    with pytest.raises(CIFARError, match="is not allowed"):
        cifar.read_cifar_batch(path)
    assert not marker.exists()


# -- missing data -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", datasets.FILE_DATASETS)
def test_missing_dataset_says_how_to_get_it(root, name):
    with pytest.raises(FileNotFoundError) as error:
        load_dataset(name)
    message = str(error.value)
    assert f"learned-opt data download {name}" in message
    assert str(root / name) in message
    if name == "cifar10":
        assert "cifar-10-python.tar.gz" in message and "cifar-10-batches-py/" in message
        assert all(batch in message for batch in (*cifar.TRAIN_BATCHES, cifar.TEST_BATCH))
    else:
        assert all(stem in message for stem in IDX_STEMS)


def test_partly_present_dataset_lists_only_the_missing_files(root):
    paths = write_idx_files(root / "mnist", idx_arrays(), gz=True)
    paths[2].unlink()
    assert datasets.missing_files("mnist") == [IDX_STEMS[2] + "[.gz]"]
    with pytest.raises(FileNotFoundError, match=f"lacks {IDX_STEMS[2]}"):
        datasets.mnist()


# -- the `data` command -----------------------------------------------------------------------


def test_data_list_reports_availability(root, tmp_path, capsys):
    write_idx_files(root / "mnist", idx_arrays(), gz=True)
    assert main(["data", "list", "--json", str(tmp_path / "list.json")]) == 0
    lines = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines == {
        "digits": "available",
        "mnist1d": "available",
        "mnist": "available",
        "fashion_mnist": "missing",
        "cifar10": "missing",
    }
    listing = json.loads((tmp_path / "list.json").read_text())
    assert listing["root"] == str(root)
    assert {d["name"]: d["available"] for d in listing["datasets"]}["fashion_mnist"] is False

    # --dir overrides $LEARNED_OPT_DATA.
    other = tmp_path / "other"
    write_cifar_batches(other / "cifar10")
    assert main(["data", "list", "--dir", str(other)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {other}" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith(("mnist ", "cifar10 "))] == [
        "missing",
        "available",
    ]


def local_idx_sources(directory, seed=3):
    """Gzipped IDX files in `directory` and the Remote table that serves them over file://."""
    arrays = idx_arrays(seed)
    paths = write_idx_files(directory, arrays, gz=True)
    remotes = tuple(Remote(p.name, (p.as_uri(),), hashlib.md5(p.read_bytes()).hexdigest()) for p in paths)
    return arrays, remotes


def leftovers(directory) -> list:
    return [p for p in directory.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]


def test_download_from_local_source_then_load(root, tmp_path, monkeypatch, capsys):
    arrays, remotes = local_idx_sources(tmp_path / "mirror")
    dead = (tmp_path / "offline" / "missing.gz").as_uri()
    # The first mirror of each file is unreachable: the second one is used.
    remotes = tuple(Remote(r.filename, (dead, *r.urls), r.md5) for r in remotes)
    monkeypatch.setitem(download.SOURCES, "mnist", remotes)
    assert main(["data", "download", "mnist"]) == 0
    out = capsys.readouterr().out
    for stem in IDX_STEMS:
        assert f"wrote {root / 'mnist' / (stem + '.gz')}" in out
    assert not leftovers(root)
    data = load_dataset("mnist")
    np.testing.assert_array_equal(data.train_inputs, scaled(arrays[0]))
    np.testing.assert_array_equal(data.test_labels, arrays[3].astype(np.int32))

    assert main(["data", "download", "mnist"]) == 0
    assert "already complete" in capsys.readouterr().out


def test_failed_download_exits_nonzero_and_leaves_no_partial_file(root, tmp_path, monkeypatch, capsys):
    _, remotes = local_idx_sources(tmp_path / "mirror")
    broken = Remote(remotes[1].filename, ((tmp_path / "nowhere" / remotes[1].filename).as_uri(),))
    monkeypatch.setitem(download.SOURCES, "mnist", (remotes[0], broken, *remotes[2:]))
    target = tmp_path / "elsewhere"
    assert main(["data", "download", "mnist", "--dir", str(target)]) == 1
    error = capsys.readouterr().err
    assert "could not fetch train-labels-idx1-ubyte.gz" in error
    assert "place the four IDX files" in error
    # The file fetched before the failure is complete; the failed one does not exist at all.
    assert sorted(p.name for p in (target / "mnist").iterdir()) == ["train-images-idx3-ubyte.gz"]
    assert not leftovers(target)

    # A checksum mismatch is a failure too, and writes nothing.
    wrong = Remote(remotes[1].filename, remotes[1].urls, md5="0" * 32)
    monkeypatch.setitem(download.SOURCES, "mnist", (remotes[0], wrong, *remotes[2:]))
    assert main(["data", "download", "mnist", "--dir", str(target)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert sorted(p.name for p in (target / "mnist").iterdir()) == ["train-images-idx3-ubyte.gz"]
    assert not leftovers(target)

    # When nothing could be fetched, the dataset directory the command made is removed again.
    monkeypatch.setitem(download.SOURCES, "fashion_mnist", (broken,))
    assert main(["data", "download", "fashion_mnist"]) == 1
    assert "could not fetch" in capsys.readouterr().err
    assert list(root.iterdir()) == []


def test_download_cifar_tarball_from_local_source(root, tmp_path, monkeypatch, capsys):
    source = tmp_path / "source"
    batches = write_cifar_batches(source)
    (source / cifar.BATCH_DIR / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"]}))
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / cifar.BATCH_DIR, arcname=cifar.BATCH_DIR)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(download.SOURCES, "cifar10", (Remote(archive.name, (archive.as_uri(),), md5, extract=True),))
    assert main(["data", "download", "cifar10"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {root / 'cifar10' / cifar.BATCH_DIR / 'test_batch'}" in out
    assert sorted(p.name for p in (root / "cifar10").iterdir()) == [cifar.BATCH_DIR]  # tarball removed
    assert not leftovers(root)
    data = load_dataset("cifar10")
    np.testing.assert_array_equal(data.test_inputs, scaled(batches[5][0]))


def test_unsafe_or_damaged_tarball_writes_nothing(root, tmp_path, monkeypatch, capsys):
    evil = tmp_path / "evil.tar.gz"
    payload = tmp_path / "payload"
    payload.write_bytes(b"x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(payload, arcname=f"{cifar.BATCH_DIR}/data_batch_1")
        tar.add(payload, arcname="../escaped")
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(evil.read_bytes()[:40])
    for archive, message in [(evil, "unsafe member '../escaped'"), (damaged, "cannot unpack")]:
        monkeypatch.setitem(
            download.SOURCES, "cifar10", (Remote("cifar-10-python.tar.gz", (archive.as_uri(),), extract=True),)
        )
        assert main(["data", "download", "cifar10"]) == 1
        assert message in capsys.readouterr().err
        assert not (root / "cifar10").exists() and not (root.parent / "escaped").exists()


def test_fetch_url_raises_download_error_for_unreachable_url(tmp_path):
    destination = tmp_path / "out" / "file.gz"
    with pytest.raises(DownloadError, match="nowhere"):
        download.fetch_url((tmp_path / "nowhere").as_uri(), destination)
    assert not destination.exists() and not leftovers(tmp_path)
