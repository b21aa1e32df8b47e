"""Does the shipped `gated` optimizer lose on mnist1d because it steps too far too early?

    python experiments/gated_warmup.py [--ship]

Runs the shipped `gated` meta-parameters on the held-out MLP tasks of
`evaluate_pretrained.py` (10 seeds of its test split) with its whole update scaled by a linear
warm-up from 0 to 1 over W steps (the rule's `warmup_steps`; W = 0 is none), and counts the
runs that end stalled near chance loss (log 10 ~ 2.30; above 2.25 at step 300). It also
scores each warm-up on the meta-training families' validation problems, family by family,
by the curve validation score that `pretrain.py` selects its stages by (the same 48
problems a family, 400 steps), the fair way to choose a warm-up length: the held-out tasks
must not choose it. Writes experiments/results/gated_warmup.md. With `--ship`, the
warm-up with the best mean validation score is written into the shipped
learned_opt/pretrained/gated.msgpack (its rule's `warmup_steps`; the meta-parameters and the
meta-training command stay as they were, and the metadata records the scores).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import learned_opt as lo
from learned_opt.checkpoint import load_pretrained, save
from learned_opt.evaluation import problem_curves
from learned_opt.meta import MetaTrainConfig
from learned_opt.tasks import MLPFamily

from dead_units import STALLED_LOSS
from evaluate_pretrained import HELD_OUT, task_label
from pretrain import shipped_file, validation_scores, validation_table

ROOT = Path(__file__).resolve().parent.parent
WARMUP_STEPS = (0, 2, 5, 10, 25, 100)
NUM_STEPS = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ship", action="store_true",
                        help="write the warm-up with the best mean validation score into the shipped gated.msgpack")
    args = parser.parse_args()
    lines = [
        "# The shipped `gated` optimizer with a fixed warm-up",
        "",
        "Mean training loss over 10 test seeds (`evaluate_pretrained.py --num-problems 10`); stalled: runs above "
        f"{STALLED_LOSS} at step {NUM_STEPS}. Produced by `python experiments/gated_warmup.py`.",
        "",
        "| task | warm-up steps | loss at 100 | loss at 300 | stalled |",
        "|---|---|---|---|---|",
    ]
    loaded = load_pretrained("gated")
    rules = {warmup_steps: dataclasses.replace(loaded.rule, warmup_steps=warmup_steps) for warmup_steps in WARMUP_STEPS}
    for dataset, hidden, activation in HELD_OUT:
        family = MLPFamily(hidden_sizes=hidden, activation=activation, dataset=dataset)
        for warmup_steps, rule in rules.items():
            curves = problem_curves(family, lo.learned_optimizer(rule, loaded.meta_params), 0, "test", 10, NUM_STEPS)
            row = (f"| {task_label(dataset, hidden, activation)} | {warmup_steps} | "
                   f"{curves[:, 100].mean():.4g} | {curves[:, NUM_STEPS].mean():.4g} | "
                   f"{int((curves[:, NUM_STEPS] > STALLED_LOSS).sum())} |")
            print(row, flush=True)
            lines.append(row)
    # the settings the shipped stage was selected with: horizon, validation problems, objective, seed
    config = MetaTrainConfig(**loaded.metadata["meta_train_config"])
    scores = validation_scores(rules.values(), loaded.meta_params, config, "broad")
    table, mean_scores = validation_table([f"warm-up {w}" for w in WARMUP_STEPS], scores, "broad")
    means = dict(zip(rules, mean_scores))
    lines += [
        "",
        f"Curve validation score (`{config.meta_objective}` of the mean loss, averaged over the steps; lower is "
        "better) on the meta-training families' validation problems (`--families broad`, 48 a family, 400 steps), "
        "family by family and their mean, the score `pretrain.py` selected the shipped stage by:",
        "",
        *table,
    ]
    print("\n".join(table), flush=True)
    (ROOT / "experiments" / "results" / "gated_warmup.md").write_text("\n".join(lines) + "\n")
    if args.ship:
        best = min(means, key=means.get)
        metadata = {**loaded.metadata, "warmup_steps": {
            "chosen": best, "command": "python experiments/gated_warmup.py --ship",
            "mean_curve_validation_scores": {str(w): mean for w, mean in means.items()}}}
        path = save(shipped_file("gated"), rules[best], loaded.meta_params, metadata)
        print(f"wrote {path} with warmup_steps={best}")


if __name__ == "__main__":
    main()
