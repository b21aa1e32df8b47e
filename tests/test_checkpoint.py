"""Checkpoints: round trips, the directory convention, and the errors for another
architecture, a damaged file and a foreign file."""

from __future__ import annotations

import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tree_equal
from flax import serialization

import learned_opt as lo
from learned_opt import checkpoint
from learned_opt.checkpoint import CheckpointError
from learned_opt.optimizers import rule_config, rule_from_config

RULES = [
    pytest.param(lo.DirectLSTM(), id="direct"),
    pytest.param(lo.DirectLSTM(hidden_sizes=(8, 4), output_scale=0.05), id="direct-custom"),
    pytest.param(lo.GatedLSTM(), id="gated"),
    pytest.param(lo.GatedLSTM(hidden_size=7, forget_bias_init=5.0, input_bias_init=-3.0), id="gated-custom"),
    pytest.param(lo.DirectLSTM(hidden_sizes=(6,), momentum_decays=(0.5, 0.99)), id="direct-moments"),
    pytest.param(
        lo.GatedLSTM(hidden_size=5, momentum_decays=(0.9,), descent_direction="normalized_momentum"),
        id="gated-adam-direction",
    ),
]

METADATA = {
    "task": "quadratic",
    "meta_steps": 100,
    "lr": 3e-3,
    "history": [1.0, 0.5],
    "nested": {"ok": True, "none": None},
}


def meta_params_of(rule):
    """Meta-parameters with the rule's shapes and arbitrary, non-initial values: a loader
    that re-initialised instead of reading would be caught (and no init is compiled)."""
    shapes, treedef = jax.tree.flatten(jax.eval_shape(rule.init, jax.random.PRNGKey(0)))
    leaves = [
        jnp.asarray(0.3 * np.sin(np.arange(int(np.prod(s.shape))) + 10.0 * i).reshape(s.shape), s.dtype)
        for i, s in enumerate(shapes)
    ]
    return treedef.unflatten(leaves)


def some_updates(rule, meta_params):
    """Two steps of the rule's optimizer on a small problem."""
    return _jitted_updates(rule)(meta_params)


@functools.cache
def _jitted_updates(rule):
    # Jitted with the meta-parameters as an argument: one compilation per rule is cheaper
    # than running the LSTM eagerly.
    @jax.jit
    def run(meta_params):
        tx = lo.learned_optimizer(rule, meta_params)
        params = {"w": jnp.array([1.0, -2.0, 0.5, 0.0]), "b": jnp.array(0.3)}
        grads = {"w": jnp.array([0.1, -1e-3, 3.0, 0.0]), "b": jnp.array(-0.7)}
        state = tx.init(params)
        outputs = []
        for _ in range(2):
            updates, state = tx.update(grads, state, params, value=2.0)
            outputs.append(updates)
        return outputs

    return run


@pytest.fixture(scope="module")
def gated_file(tmp_path_factory):
    """A checkpoint of the default gated rule and its raw bytes."""
    rule = lo.GatedLSTM()
    path = checkpoint.save(tmp_path_factory.mktemp("gated") / "gated.msgpack", rule, meta_params_of(rule), METADATA)
    return path, path.read_bytes()


def envelope(body: bytes) -> bytes:
    """The documented container: msgpack {"sha256": hex digest of body, "body": body}."""
    return serialization.msgpack_serialize({"sha256": hashlib.sha256(body).hexdigest(), "body": body})


# ---------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("rule", RULES)
def test_round_trip(tmp_path, rule):
    meta_params = meta_params_of(rule)
    written = checkpoint.save(tmp_path / "opt.msgpack", rule, meta_params, METADATA)
    assert written == tmp_path / "opt.msgpack" and written.is_file()

    loaded = checkpoint.load(written)
    assert loaded.rule == rule
    assert type(loaded.rule) is type(rule)
    tree_equal(loaded.meta_params, meta_params)
    assert loaded.metadata == METADATA
    original = some_updates(rule, meta_params)
    tree_equal(some_updates(loaded.rule, loaded.meta_params), original)
    assert np.any(np.asarray(original[1]["w"]) != 0.0)
    # Loading with the matching rule given explicitly is fine.
    tree_equal(checkpoint.load(written, rule=rule).meta_params, meta_params)


def test_round_trip_without_metadata(tmp_path):
    rule = lo.GatedLSTM()
    path = checkpoint.save(tmp_path / "opt.msgpack", rule, meta_params_of(rule))
    assert checkpoint.load(path).metadata == {}


def test_save_overwrites(tmp_path):
    rule = lo.GatedLSTM()
    path = tmp_path / "opt.msgpack"
    checkpoint.save(path, rule, jax.tree.map(lambda x: x + 1.0, meta_params_of(rule)), {"version": 1})
    checkpoint.save(path, rule, meta_params_of(rule), {"version": 2})
    loaded = checkpoint.load(path)
    assert loaded.metadata == {"version": 2}
    tree_equal(loaded.meta_params, meta_params_of(rule))
    assert [p.name for p in tmp_path.iterdir()] == ["opt.msgpack"]  # no temporary left behind


# ------------------------------------------------------------------------------ directories


def test_save_into_existing_directory(tmp_path):
    rule = lo.GatedLSTM()
    written = checkpoint.save(tmp_path, rule, meta_params_of(rule), METADATA)
    assert written == tmp_path / checkpoint.CHECKPOINT_FILENAME == tmp_path / "optimizer.msgpack"
    assert written.is_file()
    from_dir = checkpoint.load(tmp_path)
    tree_equal(from_dir.meta_params, meta_params_of(rule))
    assert from_dir.metadata == METADATA


def test_save_into_new_run_directory(tmp_path):
    rule = lo.GatedLSTM()
    run_dir = tmp_path / "runs" / "run1"
    written = checkpoint.save(run_dir, rule, meta_params_of(rule))
    assert written == run_dir / "optimizer.msgpack" and written.is_file()
    assert checkpoint.load(run_dir).rule == rule


def test_save_into_existing_directory_with_dot_in_name(tmp_path):
    rule = lo.GatedLSTM()
    run_dir = tmp_path / "run_lr0.01"
    run_dir.mkdir()
    written = checkpoint.save(run_dir, rule, meta_params_of(rule))
    assert written == run_dir / "optimizer.msgpack"
    assert checkpoint.load(run_dir).rule == rule


# ---------------------------------------------------------------------------- architecture


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param(lo.DirectLSTM(), id="direct"),
        pytest.param(lo.DirectLSTM(hidden_sizes=(10,)), id="direct-other-sizes"),
        pytest.param(lo.GatedLSTM(hidden_size=8), id="gated-other-size"),
        pytest.param(lo.GatedLSTM(forget_bias_init=2.0), id="gated-other-bias"),
    ],
)
def test_other_architecture_rejected_gated_file(gated_file, requested):
    path, _ = gated_file
    with pytest.raises(CheckpointError, match="architecture"):
        checkpoint.load(path, rule=requested)


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param(lo.GatedLSTM(), id="gated"),
        pytest.param(lo.DirectLSTM(hidden_sizes=(10,)), id="direct-other-sizes"),
        pytest.param(lo.DirectLSTM(hidden_sizes=(20, 20, 20)), id="direct-deeper"),
    ],
)
def test_other_architecture_rejected_direct_file(tmp_path, requested):
    rule = lo.DirectLSTM()
    path = checkpoint.save(tmp_path / "direct.msgpack", rule, meta_params_of(rule))
    with pytest.raises(CheckpointError, match="architecture"):
        checkpoint.load(path, rule=requested)


def test_checkpoint_error_is_value_error():
    assert issubclass(CheckpointError, ValueError)


# ------------------------------------------------------------------------------- damage


@pytest.mark.parametrize("fraction", [0.0, 0.002, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0])
@pytest.mark.parametrize("mask", [0xFF, 0x01])
def test_flipped_byte_is_damaged(tmp_path, gated_file, fraction, mask):
    _, raw = gated_file
    position = min(int(fraction * len(raw)), len(raw) - 1)
    corrupt = bytearray(raw)
    corrupt[position] ^= mask
    path = tmp_path / "bad.msgpack"
    path.write_bytes(bytes(corrupt))
    with pytest.raises(CheckpointError, match="damaged"):
        checkpoint.load(path)


def test_flipped_byte_sweep_is_damaged(tmp_path, gated_file):
    _, raw = gated_file
    path = tmp_path / "bad.msgpack"
    for position in range(0, len(raw), max(1, len(raw) // 97)):
        corrupt = bytearray(raw)
        corrupt[position] ^= 0x10
        path.write_bytes(bytes(corrupt))
        with pytest.raises(CheckpointError, match="damaged"):
            checkpoint.load(path)


@pytest.mark.parametrize("keep", ["empty", "one byte", "half", "all but one"])
def test_truncated_file_is_damaged(tmp_path, gated_file, keep):
    _, raw = gated_file
    length = {"empty": 0, "one byte": 1, "half": len(raw) // 2, "all but one": len(raw) - 1}[keep]
    path = tmp_path / "short.msgpack"
    path.write_bytes(raw[:length])
    with pytest.raises(CheckpointError, match="damaged"):
        checkpoint.load(path)


def test_original_still_loads(gated_file):
    """Control for the damage tests: the untouched bytes load."""
    path, _ = gated_file
    assert checkpoint.load(path).metadata == METADATA


# ------------------------------------------------------------------------- foreign files


@pytest.mark.parametrize(
    "content, message",
    [
        pytest.param({"a": 1}, "not a learned_opt checkpoint", id="dict"),
        pytest.param([1, 2, 3], "not a learned_opt checkpoint", id="list"),
        pytest.param(42, "not a learned_opt checkpoint", id="int"),
        pytest.param("hello", "not a learned_opt checkpoint", id="str"),
        pytest.param({"sha256": "0" * 64, "body": b"\x80"}, "damaged", id="envelope-bad-digest"),
        pytest.param({"body": b"\x80"}, "not a learned_opt checkpoint", id="envelope-no-digest"),
    ],
)
def test_valid_msgpack_but_not_a_checkpoint(tmp_path, content, message):
    path = tmp_path / "foreign.msgpack"
    path.write_bytes(serialization.msgpack_serialize(content))
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path)


def test_foreign_format_in_valid_envelope(tmp_path):
    path = tmp_path / "foreign.msgpack"
    path.write_bytes(envelope(serialization.msgpack_serialize({"format": "someone.else", "format_version": 1})))
    with pytest.raises(CheckpointError, match="not a learned_opt checkpoint"):
        checkpoint.load(path)


def test_future_format_version(tmp_path, gated_file):
    _, raw = gated_file
    payload = serialization.msgpack_restore(serialization.msgpack_restore(raw)["body"])
    payload["format_version"] = checkpoint.FORMAT_VERSION + 1
    path = tmp_path / "future.msgpack"
    path.write_bytes(envelope(serialization.msgpack_serialize(payload)))
    with pytest.raises(CheckpointError, match="version"):
        checkpoint.load(path)


def test_meta_params_not_fitting_architecture(tmp_path, gated_file):
    """A consistent checksum over meta-parameters of the wrong shapes is still refused."""
    _, raw = gated_file
    payload = serialization.msgpack_restore(serialization.msgpack_restore(raw)["body"])
    payload["meta_params"] = serialization.to_state_dict(jax.device_get(meta_params_of(lo.GatedLSTM(hidden_size=9))))
    path = tmp_path / "mismatch.msgpack"
    path.write_bytes(envelope(serialization.msgpack_serialize(payload)))
    with pytest.raises(CheckpointError):
        checkpoint.load(path)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(serialization.msgpack_serialize([1, 2]), id="list-body"),
        pytest.param(b"\xc1 not msgpack", id="non-msgpack-body"),
        pytest.param(
            serialization.msgpack_serialize({"format": checkpoint.FORMAT_NAME, "format_version": 1}), id="missing-keys"
        ),
        pytest.param(serialization.msgpack_serialize({"format": 7}), id="odd-format"),
    ],
)
def test_foreign_body_in_valid_envelope(tmp_path, body):
    path = tmp_path / "foreign.msgpack"
    path.write_bytes(envelope(body))
    with pytest.raises(CheckpointError):
        checkpoint.load(path)


# ------------------------------------------------------------------------------- missing


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path / "nowhere.msgpack")


def test_missing_file_in_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path)


def test_a_stored_rule_with_a_removed_option_loads_only_when_it_was_off():
    """Files written before an unused option was removed hold it at its off value."""
    stored = {
        **rule_config(lo.GatedLSTM()),
        "direction_correction": False,
        "warmup_steps": 0,
        "agreement_gain": 0.0,
        "agreement_decay": 0.9,
        "direction_agreement": False,
    }
    assert rule_from_config("gated", stored) == lo.GatedLSTM()
    with pytest.raises(ValueError, match="no longer has"):
        rule_from_config("gated", {**stored, "direction_correction": True})
    with pytest.raises(TypeError):
        rule_from_config("direct", {**rule_config(lo.DirectLSTM()), "no_such_option": 1})
