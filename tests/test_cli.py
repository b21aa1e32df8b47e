"""The `learned-opt` command: meta-train writes a usable checkpoint; evaluate writes the table."""

import json
import subprocess
import sys

import pytest

from learned_opt import checkpoint
from learned_opt.cli import main


def test_meta_train_then_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["meta-train", "--task", "quadratic", "--rule", "direct", "--out", str(run), "--meta-steps", "20",
                 "--num-tasks", "8", "--validate-every", "10", "--validation-problems", "8", "--no-progress",
                 "--json", str(tmp_path / "train.json")])
    assert code == 0
    summary = json.loads((tmp_path / "train.json").read_text())
    assert summary["best_validation_loss"] <= summary["initial_validation_loss"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["kind"] == "train" for r in records) == 20
    assert [r["step"] for r in records if r["kind"] == "validation"] == [0, 10, 20]
    loaded = checkpoint.load(run)
    assert loaded.rule.name == "direct" and loaded.metadata["best_step"] == summary["best_step"]

    code = main(["evaluate", "--checkpoint", str(run), "--task", "quadratic", "--num-problems", "10",
                 "--tuning-problems", "10", "--steps", "20", "--baselines", "adam", "sgd",
                 "--json", str(tmp_path / "eval.json")])
    assert code == 0
    rows = json.loads((tmp_path / "eval.json").read_text())
    assert [r["optimizer"] for r in rows] == ["learned (direct)", "adam", "sgd"]
    for row in rows:
        assert {"optimizer", "learning_rate", "final_loss_mean", "final_loss_ci95"} <= set(row)
        assert row["final_loss_mean"] > 0 and row["final_loss_ci95"] >= 0
    assert rows[0]["learning_rate"] is None and rows[1]["learning_rate"] > 0
    table = capsys.readouterr().out
    assert "| learned (direct) | learned |" in table and "| adam |" in table


def test_evaluate_reports_a_damaged_checkpoint(tmp_path, capsys):
    bad = tmp_path / "optimizer.msgpack"
    bad.write_bytes(b"\x00not a checkpoint")
    assert main(["evaluate", "--checkpoint", str(bad), "--baselines"]) == 2
    assert "damaged" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["meta-train", "evaluate"])
def test_help(command):
    result = subprocess.run([sys.executable, "-m", "learned_opt.cli", command, "--help"], capture_output=True,
                            text=True, check=True)
    assert "usage: learned-opt " + command in result.stdout
    assert "--json" in result.stdout


def test_bad_option_is_rejected(tmp_path):
    with pytest.raises(SystemExit):
        main(["meta-train", "--out", str(tmp_path), "--meta-steps", "0"])


def test_rule_options(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["meta-train", "--rule", "gated", "--rule-option", "max_learning_rate=4", "--rule-option",
                 "hidden_size=5", "--out", str(run), "--meta-steps", "2", "--num-tasks", "2", "--validate-every", "1",
                 "--validation-problems", "2", "--horizon", "4", "--truncation", "2", "--no-progress"]) == 0
    loaded = checkpoint.load(run)
    assert loaded.rule.max_learning_rate == 4 and loaded.rule.hidden_size == 5
    with pytest.raises(SystemExit, match="no option"):
        main(["meta-train", "--rule", "gated", "--rule-option", "learning_rate=4", "--out", str(run)])


def test_moment_options_and_log_loss_reach_the_run(tmp_path):
    """A list-valued --rule-option, --meta-objective and --validate-on end up in the rule and the config."""
    run = tmp_path / "run"
    code = main(["meta-train", "--task", "quadratic", "--rule", "gated", "--out", str(run), "--meta-steps", "4",
                 "--num-tasks", "4", "--validate-every", "2", "--validation-problems", "4", "--no-progress",
                 "--rule-option", "momentum_decays=[0.9,0.5]", "--rule-option", "descent_direction=normalized_momentum",
                 "--meta-objective", "log_loss", "--validate-on", "curve"])
    assert code == 0
    loaded = checkpoint.load(run)
    assert loaded.rule.momentum_decays == (0.9, 0.5) and loaded.rule.descent_direction == "normalized_momentum"
    meta_train_config = json.loads((run / "config.json").read_text())["meta_train_config"]
    assert meta_train_config["meta_objective"] == "log_loss" and meta_train_config["validate_on"] == "curve"
    with pytest.raises(SystemExit):
        main(["meta-train", "--out", str(tmp_path / "other"), "--meta-objective", "hinge"])


def test_init_from_fine_tunes_a_checkpoint(tmp_path):
    small = ["--task", "quadratic", "--meta-steps", "4", "--num-tasks", "4", "--validate-every", "2",
             "--validation-problems", "4", "--no-progress"]
    assert main(["meta-train", "--out", str(tmp_path / "first"), *small]) == 0
    first = checkpoint.load(tmp_path / "first")
    assert main(["meta-train", "--out", str(tmp_path / "second"), "--init-from", str(tmp_path / "first"), *small]) == 0
    records = [json.loads(line) for line in (tmp_path / "second" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["step"] == 0
    assert records[0]["validation_loss"] == pytest.approx(first.metadata["best_validation_loss"], rel=1e-5)
    assert json.loads((tmp_path / "second" / "config.json").read_text())["init_from"] == str(tmp_path / "first")
    with pytest.raises(SystemExit, match="architecture"):
        main(["meta-train", "--rule", "gated", "--out", str(tmp_path / "third"), "--init-from",
              str(tmp_path / "first"), *small])
    with pytest.raises(SystemExit, match="--rule-option"):  # the shipped l2l reads momenta and step features
        main(["meta-train", "--out", str(tmp_path / "fourth"), "--init-from", "l2l", *small])
    assert main(["meta-train", "--out", str(tmp_path / "fifth"), "--init-from", "l2l", "--rule-option",
                 "momentum_decays=[0.5,0.9,0.99]", "--rule-option", "step_timescales=[10,30,100,300]", *small]) == 0
    # Step features may be added: the extended rule starts where the checkpoint was.
    assert main(["meta-train", "--out", str(tmp_path / "sixth"), "--init-from", str(tmp_path / "first"),
                 "--rule-option", "step_timescales=[5,50]", *small]) == 0
    extended = [json.loads(line) for line in (tmp_path / "sixth" / "metrics.jsonl").read_text().splitlines()]
    assert extended[0]["validation_loss"] == pytest.approx(first.metadata["best_validation_loss"], rel=1e-5)
    assert checkpoint.load(tmp_path / "sixth").rule.step_timescales == (5.0, 50.0)
