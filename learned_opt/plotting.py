"""Plots of meta-training metrics (matplotlib is imported only here, and only when plotting,
so that `import learned_opt` stays light)."""

from __future__ import annotations

import json
from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or a message saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise SystemExit('plotting needs matplotlib: pip install "learned-opt[plot]"') from error
    return plt


def read_metrics(path) -> list[dict]:
    """Records of a metrics.jsonl (or of the one inside a run directory)."""
    path = Path(path)
    path = path / "metrics.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"No metrics log at {path}")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or record.get("kind") not in ("train", "validation"):
            raise ValueError(
                f"{path}:{number} is not a meta-training metrics record (a JSON object whose "
                f'"kind" is "train" or "validation"); pass the metrics.jsonl of a run'
            )
        records.append(record)
    return records


def plot_metrics(path, out=None) -> Path:
    """Writes a PNG with the meta-loss per meta-step and the validation loss; returns its path."""
    plt = pyplot()
    records = read_metrics(path)
    train = [r for r in records if r["kind"] == "train"]
    validation = [r for r in records if r["kind"] == "validation"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot([r["step"] for r in train], [r["meta_loss"] for r in train], lw=0.8)
    left.set(xlabel="meta-step", ylabel="meta-loss (sum over truncation)", yscale="log", title="meta-loss")
    right.plot(
        [r["step"] for r in validation],
        [r["validation_loss"] for r in validation],
        marker="o",
        ms=3,
        label="validation",
    )
    right.plot([r["step"] for r in validation], [r["best_validation_loss"] for r in validation], label="best")
    right.set(xlabel="meta-step", ylabel="mean loss at the horizon", yscale="log", title="validation")
    right.legend()
    figure.tight_layout()
    source = Path(path)
    out = Path(out) if out else (source if source.is_dir() else source.parent) / "metrics.png"
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
