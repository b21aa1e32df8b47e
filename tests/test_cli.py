"""The `learned-opt` command: meta-train runs a recipe into a usable checkpoint; evaluate
writes the table; export ships a finished run."""

import json
import subprocess
import sys
import textwrap

import pytest

from learned_opt import checkpoint
from learned_opt.cli import main

QUADRATIC_RECIPE = textwrap.dedent("""
    from learned_opt.meta.recipe import Recipe, Stage
    from learned_opt.meta import ClippedAdam, MetaTrainConfig, Validation
    from learned_opt.optimizers import DirectLSTM
    from learned_opt.tasks import QuadraticFamily


    def get_config():
        config = MetaTrainConfig(num_meta_steps=20, num_tasks=8, horizon=100, truncation_length=20,
                                 outer_optimizer=ClippedAdam(learning_rate=1e-2),
                                 validation=Validation(every=10, num_problems=8))
        return Recipe("small_quadratic", DirectLSTM(), (QuadraticFamily(),), (Stage(config),))
""")


def test_meta_train_then_evaluate(tmp_path, capsys):
    recipe = tmp_path / "small_quadratic.py"
    recipe.write_text(QUADRATIC_RECIPE)
    run = tmp_path / "run"
    code = main(
        [
            "meta-train",
            "--config",
            str(recipe),
            "--out",
            str(run),
            "--no-progress",
            "--json",
            str(tmp_path / "train.json"),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "train.json").read_text())
    (stage,) = summary["stages"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validations = [r for r in records if r["kind"] == "validation"]
    assert stage["best_validation_loss"] < validations[0]["validation_loss"]
    assert sum(r["kind"] == "train" for r in records) == 20
    assert [r["step"] for r in validations] == [0, 10, 20]
    loaded = checkpoint.load(run)
    assert loaded.rule.name == "direct" and loaded.metadata["recipe"] == "small_quadratic"
    assert loaded.metadata["recipe_file"] == str(recipe) and loaded.metadata["seconds"] > 0
    assert loaded.metadata["command"] == f"learned-opt meta-train --config {recipe} --out {run}"

    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(run),
            "--task",
            "quadratic",
            "--num-problems",
            "10",
            "--tuning-problems",
            "10",
            "--steps",
            "20",
            "--baselines",
            "adam",
            "sgd",
            "--json",
            str(tmp_path / "eval.json"),
        ]
    )
    assert code == 0
    rows = json.loads((tmp_path / "eval.json").read_text())
    assert [r["optimizer"] for r in rows] == ["learned (direct)", "adam", "sgd"]
    for row in rows:
        assert {"optimizer", "learning_rate", "final_loss_mean", "final_loss_ci95"} <= set(row)
        assert row["final_loss_mean"] > 0 and row["final_loss_ci95"] >= 0
    assert rows[0]["learning_rate"] is None and rows[1]["learning_rate"] > 0
    table = capsys.readouterr().out
    assert "| learned (direct) | learned |" in table and "| adam |" in table


def test_a_custom_family_from_module_attribute(tmp_path, monkeypatch):
    (tmp_path / "my_tasks.py").write_text(
        textwrap.dedent("""
        from learned_opt.tasks import QuadraticFamily

        def family():
            return QuadraticFamily(dim=3)
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tmp_path / "run"
    assert (
        main(
            [
                "meta-train",
                "--config",
                "quadratic",
                "--smoke",
                "--family",
                "my_tasks:family",
                "--out",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    assert checkpoint.load(run).metadata["families"] == [repr(__import__("my_tasks").family())]
    with pytest.raises(SystemExit, match="module:attribute"):
        main(["meta-train", "--config", "quadratic", "--family", "my_tasks", "--out", str(tmp_path / "x")])


def test_a_run_directory_is_not_overwritten(tmp_path):
    run = tmp_path / "run"
    assert main(["meta-train", "--config", "quadratic", "--smoke", "--out", str(run), "--no-progress"]) == 0
    with pytest.raises(SystemExit, match="--resume"):
        main(["meta-train", "--config", "quadratic", "--smoke", "--out", str(run), "--no-progress"])
    assert main(["meta-train", "--config", "quadratic", "--smoke", "--out", str(run), "--no-progress", "--resume"]) == 0


def test_an_unknown_recipe_is_named(tmp_path, capsys):
    assert main(["meta-train", "--config", "nope", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "no recipe file 'nope'" in error and "quadratic" in error


def test_export_ships_only_a_finished_run_of_the_same_recipe(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert main(["meta-train", "--config", "gated_mlp_digits", "--smoke", "--out", str(run), "--no-progress"]) == 0
    monkeypatch.setattr(checkpoint, "__file__", str(tmp_path / "package" / "checkpoint.py"))
    with pytest.raises(SystemExit, match="recipe 'gated_mlp_digits', not 'gated'"):
        main(["export", str(run), "gated"])
    with pytest.raises(SystemExit, match="unknown shipped optimizer"):
        main(["export", str(run), "nope"])
    with pytest.raises(SystemExit, match="not the checkpoint of a finished recipe run"):
        main(["export", str(run / "stage_0"), "gated_mlp_digits"])
    assert main(["export", str(run), "gated_mlp_digits"]) == 0
    shipped = tmp_path / "package" / "pretrained" / "gated_mlp_digits.msgpack"
    assert shipped.read_bytes() == (run / "optimizer.msgpack").read_bytes()
    metadata = checkpoint.load(shipped).metadata
    assert metadata["recipe_file"] == "learned_opt/recipes/gated_mlp_digits.py"
    assert metadata["command"] == f"learned-opt meta-train --config gated_mlp_digits --out {run} --smoke"


def test_evaluate_reports_a_damaged_checkpoint(tmp_path, capsys):
    bad = tmp_path / "optimizer.msgpack"
    bad.write_bytes(b"\x00not a checkpoint")
    assert main(["evaluate", "--checkpoint", str(bad), "--baselines"]) == 2
    assert "damaged" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["meta-train", "evaluate", "export"])
def test_help(command):
    result = subprocess.run(
        [sys.executable, "-m", "learned_opt.cli", command, "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: learned-opt " + command in result.stdout
