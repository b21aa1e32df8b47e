"""Shipped optimizers: every one loads offline and trains a small model; the demo runs."""

import dataclasses
import importlib
import json
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import learned_opt as lo
from learned_opt.checkpoint import PRETRAINED, load_pretrained
from learned_opt.cli import main
from learned_opt.meta.unroll import init_inner_state, unroll
from learned_opt.tasks import MLPFamily

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def test_list_pretrained_names_the_shipped_files():
    names = lo.list_pretrained()
    assert {"l2l", "gated"} <= set(names)
    assert all(isinstance(text, str) and len(text) > 20 for text in names.values())
    assert set(names) == set(PRETRAINED)


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_each_pretrained_optimizer_lowers_the_loss(name):
    loaded = load_pretrained(name)
    assert loaded.rule.name in ("direct", "gated")
    tx = optax.chain(optax.clip_by_global_norm(100.0), lo.pretrained(name))  # composes like optax
    # The paper's base MLP (other seeds than in meta-training): every shipped optimizer has seen
    # this architecture; held-out architectures are measured by experiments/evaluate_pretrained.py.
    family = MLPFamily(hidden_sizes=(20,), activation="sigmoid", batch_size=64)
    data = family.sample_data(jax.random.PRNGKey(0))
    state = init_inner_state(family, tx, data, jax.random.PRNGKey(1))
    state, losses = jax.jit(lambda s: unroll(family, tx, s, 60))(state)
    losses = np.asarray(losses)
    assert np.all(np.isfinite(losses))
    assert losses[-5:].mean() < 0.6 * losses[:5].mean(), (name, losses[:5], losses[-5:])


@pytest.mark.parametrize("name", ["l2l", "gated"])
def test_shipped_weights_record_a_documented_command(name):
    """The command stored in a shipped file is one that experiments/pretrain.py documents,
    so the weights can be reproduced from the repository."""
    command = load_pretrained(name).metadata["command"]
    script = EXPERIMENTS / "pretrain.py"
    documented = " ".join(script.read_text().replace("\\\\\n", " ").split())
    assert command.startswith("python experiments/pretrain.py --rules " + name)
    assert " ".join(command.split()) in documented, command


def test_default_is_l2l_and_unknown_names_are_listed():
    assert lo.pretrained() is not None and load_pretrained(None).rule.name == "direct"
    with pytest.raises(ValueError, match="l2l, gated"):
        lo.pretrained("adamw")


def test_demo_prints_and_plots(tmp_path, capsys):
    plot = tmp_path / "demo.png"
    assert main(["demo", "--steps", "30", "--tuning-problems", "2", "--plot", str(plot),
                 "--json", str(tmp_path / "demo.json")]) == 0
    rows = json.loads((tmp_path / "demo.json").read_text())
    assert [row["optimizer"] for row in rows] == ["learned (l2l)", "adam"]
    for row in rows:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and np.isfinite(row["final_train_loss"]) and row["seconds"] > 0
    assert plot.stat().st_size > 1000
    out = capsys.readouterr().out
    assert "test accuracy" in out and "| adam |" in out


def schedule_choice(name: str, key: str) -> dict | None:
    """The record of a schedule setting chosen on validation after meta-training (`key`: the
    warm-up, the step-size multiplier or the agreement gain), made either for the shipped
    meta-parameters themselves or for the stage they were fine-tuned from (then the stage's
    meta-training must have kept it fixed: `assert_fixed_in_meta_training_if_inherited`).
    None when the shipped file has no such record."""
    metadata = load_pretrained(name).metadata
    return metadata.get(key, metadata.get("start_schedule_choices", {}).get(key))


def value_before_validation_cells(name: str, setting: str):
    """The shipped rule's `setting` as it was before experiments/validation_cells.py --ship
    replaced it (the value an earlier choice, and the stage's meta-training, set)."""
    loaded = load_pretrained(name)
    replaced = loaded.metadata.get("validation_cells", {}).get("replaced", {})
    return replaced.get(setting, getattr(loaded.rule, setting))


@pytest.fixture
def pretrain_script(monkeypatch):
    """experiments/pretrain.py as a module (it imports its sibling scripts)."""
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    return importlib.import_module("pretrain")


def assert_fixed_in_meta_training_if_inherited(pretrain_script, name: str, key: str, setting: str, value):
    """A choice inherited from the stage a file started from was kept fixed through the
    file's own meta-training: its command, parsed by pretrain.py's own parser (so that a
    value left at the flag's default counts as passed), sets `setting` to `value`."""
    metadata = load_pretrained(name).metadata
    if key not in metadata:
        parsed = pretrain_script.stage_arguments(metadata)
        assert getattr(parsed, setting) == pytest.approx(value), (setting, value, metadata["command"])


def test_shipped_gated_warmup_is_the_one_validation_chose(pretrain_script):
    """The warm-up stored in the shipped gated rule is the one with the best recorded curve
    validation score on the training families, among candidates that include none."""
    loaded = load_pretrained("gated")
    record = schedule_choice("gated", "warmup_steps")
    scores = record["mean_curve_validation_scores"]
    assert "0" in scores and len(scores) > 1
    assert loaded.rule.warmup_steps == record["chosen"] == int(min(scores, key=scores.get))
    assert record["command"] == "python experiments/gated_warmup.py --ship"
    assert_fixed_in_meta_training_if_inherited(pretrain_script, "gated", "warmup_steps", "warmup_steps",
                                               record["chosen"])


@pytest.mark.parametrize("name", [name for name in ("l2l", "gated") if schedule_choice(name, "update_scale")])
def test_shipped_step_size_multiplier_is_the_one_validation_chose(pretrain_script, name):
    """A shipped rule whose step size was chosen after meta-training (experiments/update_scale.py)
    runs at its meta-trained step size times the multiplier with the best recorded validation
    score, among candidates that include 1 (the step size it was meta-trained at)."""
    loaded = load_pretrained(name)
    record = schedule_choice(name, "update_scale")
    scores = record["mean_validation_scores"]
    assert "1" in scores and len(scores) > 1
    assert record["multiplier"] == float(min(scores, key=scores.get))
    chosen = value_before_validation_cells(name, record["setting"])
    assert chosen == pytest.approx(record["meta_trained_value"] * record["multiplier"])
    assert record["command"].startswith(f"python experiments/update_scale.py --name {name}")
    assert_fixed_in_meta_training_if_inherited(pretrain_script, name, "update_scale", record["setting"], chosen)


@pytest.mark.parametrize("name", [name for name in ("l2l", "gated") if schedule_choice(name, "agreement_scaling")])
def test_shipped_agreement_gain_is_the_one_validation_chose(pretrain_script, name):
    """A shipped rule whose agreement gain was chosen after meta-training (experiments/
    update_scale.py --agreement-gains) runs with the gain of the best recorded validation
    score, among candidates that include 0 (no agreement scaling, as it was meta-trained)."""
    loaded = load_pretrained(name)
    record = schedule_choice(name, "agreement_scaling")
    assert_fixed_in_meta_training_if_inherited(pretrain_script, name, "agreement_scaling", "agreement_gain",
                                               record["gain"])
    scores = record["mean_validation_scores"]
    assert "0" in scores and len(scores) > 1
    assert record["gain"] == float(min(scores, key=scores.get))
    assert value_before_validation_cells(name, "agreement_gain") == record["gain"]
    assert value_before_validation_cells(name, "agreement_decay") == record["agreement_decay"]
    assert record["command"].startswith(f"python experiments/update_scale.py --name {name} --agreement-gains")


@pytest.mark.parametrize("name", [name for name in ("l2l", "gated")
                                  if "validation_cells" in load_pretrained(name).metadata])
def test_shipped_settings_are_the_ones_validation_cells_ranked_first(name):
    """A shipped rule whose schedule settings experiments/validation_cells.py --ship chose runs
    with the settings of the candidate with the lowest worst cell (then mean cell) on the
    training families' validation problems, among candidates that include the file as it was."""
    loaded = load_pretrained(name)
    record = loaded.metadata["validation_cells"]
    worst, mean = record["worst_cells"], record["mean_cells"]
    assert "as stored" in worst and len(worst) > 1 and set(worst) == set(mean)
    assert record["chosen"] == min(worst, key=lambda label: (worst[label], mean[label]))
    assert record["chosen"] == (",".join(f"{k}={v:g}" for k, v in record["settings"].items()) or "as stored")
    for setting, value in record["settings"].items():
        assert getattr(loaded.rule, setting) == pytest.approx(value), setting
    assert set(record["replaced"]) == set(record["settings"])
    assert record["command"].startswith(f"python experiments/validation_cells.py --name {name} ")
    assert "--ship" in record["command"].split()


def test_a_stage_inherits_the_validation_cells_choice_only_if_it_kept_it(pretrain_script):
    """A stage from a file whose step size validation_cells.py --ship chose carries that record
    if it meta-trains at that step size, and not if it changes it."""
    loaded = load_pretrained("l2l")
    record = {"settings": {"output_scale": 0.06}, "replaced": {"output_scale": 0.085}, "chosen": "output_scale=0.06"}
    start = {"validation_cells": record}
    kept = dataclasses.replace(loaded.rule, output_scale=0.06)
    changed = dataclasses.replace(loaded.rule, output_scale=0.085)
    assert pretrain_script.inherited_schedule_choices(start, kept) == {"validation_cells": record}
    assert pretrain_script.inherited_schedule_choices(start, changed) == {}


def test_validation_cells_ships_only_the_named_file(monkeypatch, capsys):
    """--ship writes --name's shipped file, so it refuses a --checkpoint to start from."""
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    validation_cells = importlib.import_module("validation_cells")
    monkeypatch.setattr("sys.argv", ["validation_cells.py", "--checkpoint", "x.msgpack", "--ship"])
    with pytest.raises(SystemExit):
        validation_cells.main()
    assert "--ship" in capsys.readouterr().err


def test_held_out_architectures_are_in_no_family_set_of_meta_training(pretrain_script):
    """experiments/evaluate_pretrained.py's held-out architectures stay unseen whichever
    `--families` set a shipped stage was meta-trained on; only the paper's base task, the
    digits 20 sigmoid network, is a training architecture there (on unseen seeds)."""
    from evaluate_pretrained import HELD_OUT  # importable once pretrain_script has put experiments/ on the path

    base_task = {("digits", (20,), "sigmoid")}
    trained = {family[:3] for families in pretrain_script.FAMILY_SETS.values() for family in families}
    assert {"base", "broad", "deep"} <= set(pretrain_script.FAMILY_SETS)
    assert trained & set(HELD_OUT) == base_task
    # the metadata holds each family as pretrain.py writes it: its fields as strings
    stored = lambda tasks: {tuple(map(str, task[:3])) for task in tasks}
    for name in ("l2l", "gated"):
        shipped = stored(load_pretrained(name).metadata["training_families"])
        assert stored(base_task) < shipped and shipped & stored(HELD_OUT) == stored(base_task), name


def test_a_stopped_pretrain_stage_leaves_its_best_meta_parameters(pretrain_script, tmp_path, monkeypatch):
    """A stage stopped before its end (a machine's time limit) leaves the best meta-parameters
    so far, with its command, in RUNS/NAME/optimizer.msgpack (its training state may be too
    large to copy off the machine it ran on)."""
    argv = ["--rules", "l2l", "--runs", str(tmp_path), "--horizon", "4", "--truncation", "2", "--num-tasks", "1",
            "--meta-steps", "3", "--validation-problems", "1"]
    monkeypatch.setattr("sys.argv", ["experiments/pretrain.py", *argv])

    class Stopped(Exception):
        pass

    def stop_at_first_validation(rule, families, config, **kwargs):
        def on_record(record):
            kwargs["on_record"](record)
            raise Stopped
        return lo.meta.meta_train(rule, families, config, **{**kwargs, "on_record": on_record})

    monkeypatch.setattr(pretrain_script, "meta_train", stop_at_first_validation)
    with pytest.raises(Stopped):
        pretrain_script.pretrain("l2l", pretrain_script.argument_parser().parse_args(argv))
    saved = lo.load(tmp_path / "l2l" / "optimizer.msgpack")
    assert saved.metadata["finished"] is False and saved.metadata["best_step"] == 0
    assert pretrain_script.stage_arguments(saved.metadata).num_tasks == 1
    assert saved.rule == pretrain_script.RULES["l2l"][0]
    records = [json.loads(line) for line in (tmp_path / "l2l" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["kind"] == "validation" and records[0]["step"] == 0
