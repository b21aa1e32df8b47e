"""Held-out evaluation of the shipped optimizers against Adam tuned on each task.

    python experiments/evaluate_pretrained.py

MLP tasks that `experiments/pretrain.py` did not train on (other widths, depths and
activations, and 300 as well as 100 steps; always other seeds), 10 test seeds each. Adam's
learning rate is tuned per task and step count on 10 seeds of the separate tuning split.
Writes experiments/results/pretrained.json and pretrained.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import learned_opt as lo
from learned_opt.evaluation import compare
from learned_opt.tasks import MLPFamily

ROOT = Path(__file__).resolve().parent.parent

# (dataset, hidden sizes, activation): none of these is a training family
HELD_OUT = (
    ("digits", (20,), "sigmoid"),  # the paper's base task: seen architecture, unseen seeds
    ("digits", (64,), "relu"),
    ("digits", (32, 32), "tanh"),
    ("mnist1d", (64,), "relu"),
    ("mnist1d", (32, 32, 32), "relu"),
)
STEPS = (100, 300)
GRID = tuple(float(10.0**e) for e in np.arange(-4.0, 1.0 + 1e-9, 0.5))


def main() -> None:
    learned = {name: lo.pretrained(name) for name in ("l2l", "gated")}
    results = []
    for dataset, hidden, activation in HELD_OUT:
        family = MLPFamily(hidden_sizes=hidden, activation=activation, dataset=dataset)
        for steps in STEPS:
            rows, _ = compare(family, learned, ("adam",), seed=0, num_problems=10, tuning_problems=10,
                              num_steps=steps, grid=GRID)
            results.append({"dataset": dataset, "hidden_sizes": list(hidden), "activation": activation,
                            "steps": steps, "rows": [row.as_dict() for row in rows]})
            print(dataset, hidden, activation, steps, [(r.optimizer, round(r.final_loss_mean, 4)) for r in rows],
                  flush=True)
    out = ROOT / "experiments" / "results"
    (out / "pretrained.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Shipped optimizers on held-out MLP tasks",
        "",
        "Mean final training loss over 10 test seeds (95% CI); Adam's learning rate tuned per task and step "
        "count on 10 tuning seeds. Produced by `python experiments/evaluate_pretrained.py`.",
        "",
        "| task | steps | l2l | gated | Adam (tuned lr) |",
        "|---|---|---|---|---|",
    ]
    for entry in results:
        rows = {row["optimizer"]: row for row in entry["rows"]}
        adam = rows["adam"]

        def cell(row):
            text = f"{row['final_loss_mean']:.4g} ± {row['final_loss_ci95']:.2g}"
            return f"**{text}**" if row["final_loss_mean"] < adam["final_loss_mean"] else text

        task = f"{entry['dataset']} {'-'.join(map(str, entry['hidden_sizes']))} {entry['activation']}"
        lines.append(f"| {task} | {entry['steps']} | {cell(rows['l2l'])} | {cell(rows['gated'])} | "
                     f"{adam['final_loss_mean']:.4g} ± {adam['final_loss_ci95']:.2g} ({adam['learning_rate']:.3g}) |")
    lines += ["", "**Bold**: below tuned Adam."]
    (out / "pretrained.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
