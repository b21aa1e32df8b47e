"""`learned-opt benchmark --quick`: the reduced generalisation suite runs and reports."""

import json
import math

import pytest

from learned_opt.cli import main
from learned_opt.suite import VARIANTS, SuiteConfig


@pytest.mark.slow
def test_benchmark_quick_writes_results(tmp_path):
    out = tmp_path / "suite"
    assert main(["benchmark", "--quick", "--out", str(out), "--json", str(tmp_path / "copy.json")]) == 0
    results = json.loads((out / "suite.json").read_text())
    assert json.loads((tmp_path / "copy.json").read_text()) == results
    quick = SuiteConfig.quick()
    assert list(results["datasets"]) == list(quick.datasets)
    for dataset, per_variant in results["datasets"].items():
        assert list(per_variant) == list(quick.variants)
        for entry in per_variant.values():
            names = [row["optimizer"] for row in entry["rows"]]
            assert names == ["learned (direct)", "learned (gated)", "adam", "rmsprop", "sgd", "nesterov"]
            for row in entry["rows"]:
                assert row["num_problems"] == quick.num_seeds and math.isfinite(row["final_loss_mean"])
                assert (row["learning_rate"] is None) == row["optimizer"].startswith("learned")
                assert row["learning_rate"] is None or row["learning_rate"] in quick.learning_rates
            assert len(entry["median"]["adam"]) == entry["steps"] + 1
        assert (out / f"suite_{dataset}.png").stat().st_size > 1000
    report = (out / "suite.md").read_text()
    assert "| adam |" in report and "## digits: base" in report
    # The meta-trained rules are kept and reused by a second run.
    assert (out / "runs" / "digits_direct" / "done").is_file()


def test_variants_are_the_papers():
    names = [name for name, _, _ in VARIANTS]
    assert names == ["base", "200 steps", "40 hidden units", "two hidden layers", "ReLU"]
    assert dict((name, steps) for name, _, steps in VARIANTS)["200 steps"] == 200


def test_mnist_joins_the_suite_when_its_files_are_present(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNED_OPT_DATA", str(tmp_path))
    assert SuiteConfig().datasets == ("digits", "mnist1d")
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (mnist / name).write_bytes(b"")
    assert SuiteConfig().datasets == ("digits", "mnist1d", "mnist")
