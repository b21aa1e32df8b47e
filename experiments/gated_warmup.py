"""Does the shipped `gated` optimizer lose on mnist1d because it steps too far too early?

    python experiments/gated_warmup.py [--ship]

Runs the shipped `gated` meta-parameters on the held-out MLP tasks of
`evaluate_pretrained.py` (same 10 test seeds) with its whole update scaled by a linear
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
from learned_opt.meta.train import adam_envelopes, make_validation_loss
from learned_opt.tasks import MLPFamily

from evaluate_pretrained import HELD_OUT, task_label
from pretrain import FAMILY_SETS, training_families

ROOT = Path(__file__).resolve().parent.parent
WARMUP_STEPS = (0, 2, 5, 10, 25, 100)
NUM_STEPS = 300
STALLED_LOSS = 2.25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ship", action="store_true",
                        help="write the warm-up with the best mean validation score into the shipped gated.msgpack")
    args = parser.parse_args()
    lines = [
        "# The shipped `gated` optimizer with a fixed warm-up",
        "",
        "Mean training loss over the 10 test seeds of `evaluate_pretrained.py`; stalled: runs above "
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
    families = training_families("broad")
    # the settings the shipped stage was selected with: horizon, validation problems, objective, seed
    config = MetaTrainConfig(**loaded.metadata["meta_train_config"])
    lines += [
        "",
        f"Curve validation score (`{config.meta_objective}` of the mean loss, averaged over the steps; lower is "
        "better) on the meta-training families' validation problems (`--families broad`, 48 a family, 400 steps), "
        "family by family and their mean, the score `pretrain.py` selected the shipped stage by:",
        "",
        "| family | " + " | ".join(f"warm-up {w}" for w in WARMUP_STEPS) + " |",
        "|---|" + "---|" * len(WARMUP_STEPS),
    ]
    baselines = adam_envelopes(families, config)  # Adam's b(t) under log_loss_over_adam, once a family
    scores = []
    for index, family in enumerate(families):
        family_baseline = None if baselines is None else (baselines[index],)
        scores.append([float(make_validation_loss(rule, (family,), config, family_baseline)(loaded.meta_params))
                       for rule in rules.values()])
    for (dataset, hidden, activation, scaled), row_scores in zip(FAMILY_SETS["broad"], scores):
        label = task_label(dataset, hidden, activation) + (" randomly scaled" if scaled else "")
        lines.append(f"| {label} | " + " | ".join(f"{x:.3f}" for x in row_scores) + " |")
    means = {warmup_steps: sum(column) / len(column) for warmup_steps, column in zip(rules, zip(*scores))}
    lines.append("| mean | " + " | ".join(f"{mean:.4f}" for mean in means.values()) + " |")
    print("\n".join(lines[-len(families) - 1:]), flush=True)
    (ROOT / "experiments" / "results" / "gated_warmup.md").write_text("\n".join(lines) + "\n")
    if args.ship:
        best = min(means, key=means.get)
        metadata = {**loaded.metadata, "warmup_steps": {
            "chosen": best, "command": "python experiments/gated_warmup.py --ship",
            "mean_curve_validation_scores": {str(w): mean for w, mean in means.items()}}}
        path = save(ROOT / "learned_opt" / "pretrained" / "gated.msgpack", rules[best], loaded.meta_params, metadata)
        print(f"wrote {path} with warmup_steps={best}")


if __name__ == "__main__":
    main()
