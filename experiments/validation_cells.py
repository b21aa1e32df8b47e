"""The held-out test's question asked on validation problems: on each meta-training family,
is a shipped optimizer's mean loss at 100 and at 300 steps below that of Adam tuned for
that step count?

    python experiments/validation_cells.py --name gated \\
        [--variants warmup_steps=2 max_learning_rate=1.1,warmup_steps=3] [--checkpoint FILE] \\
        [--problems 48] [--at 100 300]

`evaluate_pretrained.py` asks it on held-out tasks, which no choice of meta-parameters or
settings may look at. This script asks it on the validation problems of the meta-training
families (the `pretrain.py --families` set of the stage that wrote the checkpoint) against
Adam's envelope b(t) on their tuning problems (the lowest mean loss at step t over the
learning-rate grid: Adam tuned for stopping at t, on the problems it is scored on, so the
comparison favours Adam). Each cell is log(f(t) / b(t)), the rule's mean loss over Adam's,
in natural-log units: negative where the rule is below Adam. The candidates are ranked by
their worst cell (the criterion of the held-out test, that every cell be below Adam), then
by the mean cell; the unchanged rule is the first. Variants are `setting=value` pairs of the
rule's `schedule_settings`, as in `setting_curves.py`.

With `--ship`, the first-ranked candidate's settings go into the shipped file (`--name`'s;
not with `--checkpoint`), its meta-parameters unchanged, with a `validation_cells` record in
its metadata: the command, every candidate's worst and mean cell, the settings chosen and
the values they replaced.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import learned_opt as lo
from learned_opt.baselines import envelope_curve
from learned_opt.checkpoint import save
from learned_opt.evaluation import problem_curves

from pretrain import FAMILY_SETS, family_label, shipped_file, stage_arguments, training_families
from setting_curves import add_candidate_arguments, parsed_candidates


def log_ratio_cells(family, rules, meta_params, problems: int, at: list[int]) -> np.ndarray:
    """cells[r, s]: log of rule r's mean validation loss at step at[s] over Adam's envelope there."""
    envelope = envelope_curve("adam", family, seed=0, num_problems=problems, num_steps=max(at))
    cells = []
    for rule in rules:
        mean_curve = problem_curves(family, lo.learned_optimizer(rule, meta_params), 0, "validation", problems,
                                    max(at)).mean(axis=0)
        cells.append([np.log(mean_curve[step] / envelope[step]) for step in at])
    return np.asarray(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_candidate_arguments(parser)
    parser.add_argument("--problems", type=int, default=48, help="validation (and tuning) problems a family")
    parser.add_argument("--at", type=int, nargs="+", default=[100, 300], help="step counts of the cells")
    parser.add_argument("--output", metavar="FILE", help="also write the table, with this command, to FILE (markdown)")
    parser.add_argument("--ship", action="store_true",
                        help="write the first-ranked candidate's settings into --name's shipped file")
    args = parser.parse_args()
    if min(args.at) < 1 or args.problems < 1:
        parser.error("--at step counts and --problems must be positive")
    if args.ship and args.checkpoint:
        parser.error("--ship writes --name's shipped file; it cannot be combined with --checkpoint")
    loaded, candidates = parsed_candidates(parser, args)
    labels, rules = (list(column) for column in zip(*candidates))
    command = "python experiments/validation_cells.py " + " ".join(sys.argv[1:])
    lines = [f"log(mean loss / Adam's envelope) on {args.problems} validation problems a family; negative: below "
             f"Adam. Produced by `{command}`.", "",
             "| family | step | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    print("\n".join(lines), flush=True)
    family_cells = []  # [f][r, s]
    family_set = stage_arguments(loaded.metadata).families  # the families the checkpoint was meta-trained on
    for spec, family in zip(FAMILY_SETS[family_set], training_families(family_set)):
        family_cells.append(log_ratio_cells(family, rules, loaded.meta_params, args.problems, args.at))
        rows = [f"| {family_label(*spec)} | {step} | " + " | ".join(f"{x:+.3f}" for x in family_cells[-1][:, s])
                + " |" for s, step in enumerate(args.at)]
        print("\n".join(rows), flush=True)
        lines += rows
    flat = np.stack(family_cells).transpose(1, 0, 2).reshape(len(rules), -1)  # [r, f * s]
    ranking = sorted(range(len(rules)), key=lambda r: (flat[r].max(), flat[r].mean()))
    summary = [
        "| cells below Adam | | " + " | ".join(f"{int((row < 0).sum())}/{row.size}" for row in flat) + " |",
        "| worst cell | | " + " | ".join(f"{row.max():+.3f}" for row in flat) + " |",
        "| mean cell | | " + " | ".join(f"{row.mean():+.3f}" for row in flat) + " |",
        "", "Ranked by worst, then mean cell: " + "; ".join(labels[r] for r in ranking) + ".",
    ]
    print("\n".join(summary))
    if args.output:
        Path(args.output).write_text("\n".join(lines + summary) + "\n")
    if args.ship:
        best = ranking[0]
        chosen = args.variants[best - 1] if best > 0 else {}
        record = {"command": command, "chosen": labels[best], "settings": chosen,
                  "replaced": {setting: getattr(loaded.rule, setting) for setting in chosen},
                  "worst_cells": {label: float(row.max()) for label, row in zip(labels, flat)},
                  "mean_cells": {label: float(row.mean()) for label, row in zip(labels, flat)}}
        path = save(shipped_file(args.name), rules[best], loaded.meta_params, {**loaded.metadata, "validation_cells": record})
        print(f"wrote {path} with {labels[best]}")


if __name__ == "__main__":
    main()
