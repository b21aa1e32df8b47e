"""Held-out evaluation of the shipped optimizers against Adam tuned on each task.

    python experiments/evaluate_pretrained.py [--names l2l gated] [--num-problems 100] [--seed 0]
    python experiments/evaluate_pretrained.py --checkpoint NAME=PATH [--checkpoint ...]

MLP tasks that the shipped recipes (learned_opt/recipes/) do not train on (other widths, depths and
activations, and 300 as well as 100 steps; always other seeds), 100 test seeds each. Adam's
learning rate is tuned per task and step count on as many seeds of the separate tuning split,
over 1e-4 ... 10 in quarter decades. The final loss is one minibatch's, so at 10 seeds its
95% interval on the digits sigmoid network (about +-0.03 at a mean of 0.06) is wider than
the differences between the optimizers; 100 seeds narrow it about threefold.
`--seed` draws other test and tuning problems (and other minibatches) of the same tasks, to
replicate the table. `--beside JSON` adds the learned optimizers of an earlier output of this
script as columns (the README's table shows the files shipped before the recipes this way).
Writes experiments/results/pretrained.json and pretrained.md, or
pretrained_seed{S}.json and .md for a seed S other than 0; with `--names` other than both
rules, the names join the file name (pretrained_seed1_gated.md), so that the tables of both
rules are not overwritten.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import learned_opt as lo
from learned_opt.baselines import DEFAULT_LEARNING_RATES
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
DEFAULT_NAMES = ("l2l", "gated")


def task_label(dataset: str, hidden_sizes, activation: str) -> str:
    """How the result tables name an MLP task: "mnist1d 32-32-32 relu"."""
    return f"{dataset} {'-'.join(map(str, hidden_sizes))} {activation}"


def entry_key(entry: dict) -> tuple:
    """What identifies one cell of the table in the JSON output: task and step count."""
    return entry["dataset"], tuple(entry["hidden_sizes"]), entry["activation"], entry["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--names",
        nargs="+",
        default=list(DEFAULT_NAMES),
        choices=list(lo.list_pretrained()),
        help="shipped optimizers to evaluate",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="evaluate the checkpoint file PATH under NAME instead of shipped optimizers (repeatable)",
    )
    parser.add_argument(
        "--num-problems", type=int, default=100, help="test seeds per task, and tuning seeds for Adam's learning rate"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="root seed of the test and tuning problems (0: the table in the README)"
    )
    parser.add_argument(
        "--beside",
        metavar="JSON",
        help="also show the learned optimizers of this earlier output (same tasks and seeds) as "
        "columns 'NAME (previous)'",
    )
    args = parser.parse_args()
    if args.num_problems < 2:
        parser.error("--num-problems must be at least 2 for a confidence interval")
    checkpoints = dict(spec.split("=", 1) for spec in args.checkpoint if "=" in spec)
    if len(checkpoints) != len(args.checkpoint):
        parser.error("--checkpoint takes NAME=PATH")
    stem = "pretrained" if args.seed == 0 else f"pretrained_seed{args.seed}"
    names_option = ""
    if checkpoints:
        args.names = list(checkpoints)
        names_option = "".join(f" --checkpoint {name}={path}" for name, path in checkpoints.items())
    elif tuple(args.names) != DEFAULT_NAMES:
        names_option = " --names " + " ".join(args.names)
    if names_option:
        stem += "_" + "_".join(args.names)
    beside, beside_learned, beside_option = {}, [], ""
    if args.beside:
        earlier = json.loads(Path(args.beside).read_text())
        beside = {entry_key(entry): entry["rows"] for entry in earlier}
        beside_learned = [row["optimizer"] for row in earlier[0]["rows"] if row["optimizer"] != "adam"]
        beside_option = f" --beside {args.beside}"
    beside_names = [f"{name} (previous)" for name in beside_learned]
    start = time.perf_counter()
    if checkpoints:
        learned = {name: lo.learned_optimizer(*lo.load(path)[:2]) for name, path in checkpoints.items()}
    else:
        learned = {name: lo.pretrained(name) for name in args.names}
    results = []
    for dataset, hidden, activation in HELD_OUT:
        family = MLPFamily(hidden_sizes=hidden, activation=activation, dataset=dataset)
        for steps in STEPS:
            rows, _ = compare(
                family,
                learned,
                ("adam",),
                seed=args.seed,
                num_problems=args.num_problems,
                tuning_problems=args.num_problems,
                num_steps=steps,
                grid=DEFAULT_LEARNING_RATES,
            )
            results.append(
                {
                    "dataset": dataset,
                    "hidden_sizes": list(hidden),
                    "activation": activation,
                    "steps": steps,
                    "rows": [row.as_dict() for row in rows],
                }
            )
            print(
                dataset,
                hidden,
                activation,
                steps,
                [(r.optimizer, round(r.final_loss_mean, 4)) for r in rows],
                flush=True,
            )
    out = ROOT / "experiments" / "results"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{time.perf_counter() - start:.0f} s")
    lines = [
        "# Shipped optimizers on held-out MLP tasks",
        "",
        f"Mean final training loss over {args.num_problems} test seeds (95% CI); Adam's learning rate tuned per",
        f"task and step count on {args.num_problems} tuning seeds over 1e-4 … 10 in quarter decades. Produced by",
        f"`python experiments/evaluate_pretrained.py{names_option}{beside_option} --num-problems {args.num_problems} "
        f"--seed {args.seed}`.",
        "",
        "| task | steps | " + " | ".join(args.names + beside_names) + " | Adam (tuned lr) |",
        "|---|---|" + "---|" * len(args.names + beside_names) + "---|",
    ]
    for entry in results:
        rows = {row["optimizer"]: row for row in entry["rows"]}
        adam = rows["adam"]

        def cell(row):
            text = f"{row['final_loss_mean']:.4g} ± {row['final_loss_ci95']:.2g}"
            return f"**{text}**" if row["final_loss_mean"] < adam["final_loss_mean"] else text

        task = task_label(entry["dataset"], entry["hidden_sizes"], entry["activation"])
        previous = {row["optimizer"]: row for row in beside.get(entry_key(entry), [])}
        learned_cells = " | ".join(
            [cell(rows[name]) for name in args.names] + [cell(previous[name]) for name in beside_learned]
        )
        lines.append(
            f"| {task} | {entry['steps']} | {learned_cells} | "
            f"{adam['final_loss_mean']:.4g} ± {adam['final_loss_ci95']:.2g} ({adam['learning_rate']:.3g}) |"
        )
    lines += ["", "**Bold**: below tuned Adam."]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
