"""Saving and loading meta-parameters with their architecture and a format version.

A checkpoint file is a msgpack envelope ``{"sha256", "body"}`` whose body (flax's msgpack
serialization) holds the format name and version, the update rule's name and dataclass
fields, the meta-parameters and free-form JSON metadata. The checksum tells a damaged file
from a foreign one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from learned_opt.optimizers import UpdateRule, rule_config, rule_from_config

FORMAT_NAME = "learned_opt.checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_FILENAME = "optimizer.msgpack"


class CheckpointError(ValueError):
    """A checkpoint that is damaged, of an unknown format, or for another architecture."""


class Checkpoint(NamedTuple):
    rule: UpdateRule
    meta_params: Any
    metadata: dict


def checkpoint_file(path: str | os.PathLike) -> Path:
    """`path` itself, or the checkpoint file inside it when `path` is a run directory."""
    path = Path(path)
    return path / CHECKPOINT_FILENAME if path.is_dir() else path


def atomic_write(path: Path, data: bytes) -> None:
    """Write-then-rename, so a crash never leaves a half-written checkpoint behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes files private; checkpoints are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: str | os.PathLike, rule: UpdateRule, meta_params, metadata: dict | None = None) -> Path:
    """Writes `meta_params` of `rule` to `path` (a file, or a directory to hold
    optimizer.msgpack) atomically; returns the file written."""
    if not dataclasses.is_dataclass(rule) or not hasattr(rule, "name"):
        raise TypeError(f"rule must be an update rule such as DirectLSTM(), got {rule!r}")
    path = Path(path)
    if path.is_dir() or (path.suffix == "" and not path.exists()):
        path = path / CHECKPOINT_FILENAME
    body = serialization.msgpack_serialize(
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "rule": rule.name,
            "config": json.dumps(rule_config(rule)),
            "meta_params": serialization.to_state_dict(jax.device_get(meta_params)),
            "metadata": json.dumps(metadata or {}),
        }
    )
    envelope = serialization.msgpack_serialize({"sha256": hashlib.sha256(body).hexdigest(), "body": body})
    atomic_write(path, envelope)
    return path


def _describe(rule: UpdateRule) -> str:
    fields = ", ".join(f"{k}={v!r}" for k, v in rule_config(rule).items())
    return f"{rule.name}({fields})"


def fits_architecture(rule: UpdateRule, meta_params) -> bool:
    """Whether `meta_params` have the tree structure and array shapes of `rule.init`'s."""
    expected = jax.eval_shape(rule.init, jax.random.PRNGKey(0))
    expected_shapes = jax.tree.map(lambda x: tuple(x.shape), expected)
    return expected_shapes == jax.tree.map(lambda x: tuple(np.shape(x)), meta_params)


def _check_structure(path: Path, rule: UpdateRule, meta_params) -> None:
    if not fits_architecture(rule, meta_params):
        raise CheckpointError(
            f"{path} is damaged: its meta-parameters do not fit its own architecture {_describe(rule)}"
        )


def load(path: str | os.PathLike, rule: UpdateRule | None = None) -> Checkpoint:
    """Reads a checkpoint written by `save`.

    Raises `CheckpointError` saying "damaged" when the file is unreadable, truncated or
    altered; "format" when it is not a learned_opt checkpoint of a version this library
    reads; and "architecture" when `rule` is given and differs from the stored one.
    """
    path = checkpoint_file(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}")
    raw = path.read_bytes()
    try:
        envelope = serialization.msgpack_restore(raw)
    except Exception as error:  # msgpack raises several unrelated types on bad bytes
        raise CheckpointError(f"{path} is damaged: it cannot be decoded as a checkpoint ({error})") from None
    if not isinstance(envelope, dict) or set(envelope) != {"sha256", "body"}:
        raise CheckpointError(f"{path} is damaged or not a learned_opt checkpoint: it holds no checksummed body")
    body, digest = envelope["body"], envelope["sha256"]
    if not isinstance(body, bytes) or hashlib.sha256(body).hexdigest() != digest:
        raise CheckpointError(f"{path} is damaged: its checksum does not match its contents")
    try:
        payload = serialization.msgpack_restore(body)
    except Exception as error:
        raise CheckpointError(f"{path} is not a learned_opt checkpoint: its body is not msgpack ({error})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        found = payload.get("format") if isinstance(payload, dict) else None
        raise CheckpointError(f"{path} is not a learned_opt checkpoint (format {found!r})")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')}; "
            f"this version of learned_opt reads version {FORMAT_VERSION}"
        )
    try:
        stored_rule = rule_from_config(payload["rule"], json.loads(payload["config"]))
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path} holds an architecture this library cannot build: {error}") from None
    if rule is not None and rule != stored_rule:
        raise CheckpointError(
            f"{path} was written for architecture {_describe(stored_rule)}, not the requested {_describe(rule)}"
        )
    meta_params = payload["meta_params"]
    _check_structure(path, stored_rule, meta_params)
    return Checkpoint(stored_rule, jax.tree.map(jnp.asarray, meta_params), json.loads(payload["metadata"]))


# name -> (file under learned_opt/pretrained/, one-line description); each file is written by
# `learned-opt export` from a run of the recipe learned_opt/recipes/NAME.py
PRETRAINED: dict[str, tuple[str, str]] = {
    "l2l": (
        "l2l.msgpack",
        "direct LSTM rule (Andrychowicz et al. 2016) reading RMS-normalised momenta and the "
        "step number too, meta-trained on ten small MLP classifiers; the general-purpose default",
    ),
    "gated": (
        "gated.msgpack",
        "gated LSTM rule (Ravi & Larochelle 2017) stepping along Adam's direction, its "
        "input gate a learned learning rate, reading the loss's changes and the step number too, "
        "meta-trained on ten small MLP classifiers",
    ),
    "gated_mlp_digits": (
        "gated_mlp_digits.msgpack",
        "the paper's gated LSTM rule meta-trained on the base MLP "
        "(20 sigmoid units) on digits only; unstable on other activations (notebooks/gates.ipynb)",
    ),
}
DEFAULT_PRETRAINED = "l2l"


def list_pretrained() -> dict[str, str]:
    """Names of the shipped optimizers with a one-line description each."""
    return {name: description for name, (_, description) in PRETRAINED.items()}


def load_pretrained(name: str | None = None, rule: UpdateRule | None = None) -> Checkpoint:
    """The shipped checkpoint `name` (default: the general-purpose one); `rule` as in `load`."""
    import importlib.resources

    name = DEFAULT_PRETRAINED if name is None else name
    if name not in PRETRAINED:
        raise ValueError(f"Unknown pretrained optimizer {name!r}; available: {', '.join(PRETRAINED)}")
    resource = importlib.resources.files("learned_opt") / "pretrained" / PRETRAINED[name][0]
    with importlib.resources.as_file(resource) as path:
        return load(path, rule)


def pretrained(name: str | None = None):
    """A shipped, meta-trained optimizer as an optax transform; works offline.

    ``lo.pretrained()`` gives the default general-purpose optimizer, ``lo.pretrained("gated")``
    one by name; `list_pretrained()` lists the names."""
    from learned_opt.optimizers import learned_optimizer

    loaded = load_pretrained(name)
    return learned_optimizer(loaded.rule, loaded.meta_params)


def export(run_dir: str | os.PathLike, name: str) -> Path:
    """Copies the checkpoint of a finished `learned-opt meta-train` run of recipe `name` to
    the shipped file of `name` in this source tree: the one step that writes under
    `learned_opt/pretrained/`. Raises ValueError for an unknown name, an unfinished run or
    a run of another recipe."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown shipped optimizer {name!r}; shipped: {', '.join(PRETRAINED)}")
    source = checkpoint_file(run_dir)
    loaded = load(source)
    if not loaded.metadata.get("finished") or "stages" not in loaded.metadata:
        raise ValueError(f"{source} is not the checkpoint of a finished recipe run (learned-opt meta-train)")
    if loaded.metadata.get("recipe") != name:
        raise ValueError(f"{source} was written by recipe {loaded.metadata.get('recipe')!r}, not {name!r}")
    target = Path(__file__).resolve().parent / "pretrained" / PRETRAINED[name][0]
    atomic_write(target, source.read_bytes())
    return target
