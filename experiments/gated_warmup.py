"""Does the shipped `gated` optimizer lose on mnist1d because it steps too far too early?

    python experiments/gated_warmup.py

Runs `lo.pretrained("gated")` on the held-out MLP tasks of `evaluate_pretrained.py` (same
10 test seeds), as shipped and with its whole update scaled by a linear warm-up from 0 to 1
over W steps (`optax.scale_by_schedule` chained after it), and counts the runs that end
stalled near chance loss (log 10 ~ 2.30; above 2.25 at step 300). It also scores each
warm-up on the meta-training families' validation problems, by the curve validation score
that `pretrain.py` selects its stages by (the same 48 problems a family, 400 steps), the
fair way to choose a warm-up length: the held-out tasks must not choose it. Writes
experiments/results/gated_warmup.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optax

import learned_opt as lo
from learned_opt.checkpoint import load_pretrained
from learned_opt.evaluation import problem_curves
from learned_opt.meta import MetaTrainConfig
from learned_opt.meta.train import make_validation_loss
from learned_opt.tasks import MLPFamily

from evaluate_pretrained import HELD_OUT
from pretrain import training_families

ROOT = Path(__file__).resolve().parent.parent
WARMUP_STEPS = (0, 25, 100)
NUM_STEPS = 300
STALLED_LOSS = 2.25


def warmed_up(tx, warmup_steps: int):
    """`tx` with its updates scaled by min(1, t / warmup_steps) at step t (0-based); `tx` itself for 0."""
    if warmup_steps == 0:
        return tx
    return optax.chain(tx, optax.scale_by_schedule(optax.linear_schedule(0.0, 1.0, warmup_steps)))


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    lines = [
        "# The shipped `gated` optimizer with a fixed warm-up",
        "",
        "Mean training loss over the 10 test seeds of `evaluate_pretrained.py`; stalled: runs above "
        f"{STALLED_LOSS} at step {NUM_STEPS}. Produced by `python experiments/gated_warmup.py`.",
        "",
        "| task | warm-up steps | loss at 100 | loss at 300 | stalled |",
        "|---|---|---|---|---|",
    ]
    shipped = lo.pretrained("gated")
    for dataset, hidden, activation in HELD_OUT:
        family = MLPFamily(hidden_sizes=hidden, activation=activation, dataset=dataset)
        for warmup_steps in WARMUP_STEPS:
            curves = problem_curves(family, warmed_up(shipped, warmup_steps), 0, "test", 10, NUM_STEPS)
            row = (f"| {dataset} {'-'.join(map(str, hidden))} {activation} | {warmup_steps} | "
                   f"{curves[:, 100].mean():.4g} | {curves[:, NUM_STEPS].mean():.4g} | "
                   f"{int((curves[:, NUM_STEPS] > STALLED_LOSS).sum())} |")
            print(row, flush=True)
            lines.append(row)
    lines += [
        "",
        "Curve validation score (mean over the steps and families of the log mean loss; lower is better) on the "
        "meta-training families' validation problems (`--families broad`, 48 a family, 400 steps), as "
        "`pretrain.py` scores its stages:",
        "",
        "| warm-up steps | validation score |",
        "|---|---|",
    ]
    loaded = load_pretrained("gated")
    config = MetaTrainConfig(horizon=400, truncation_length=100, meta_objective="log_loss", validate_on="curve",
                             num_validation_problems=48, seed=0)
    for warmup_steps in WARMUP_STEPS:
        validation_loss = make_validation_loss(loaded.rule, training_families("broad"), config,
                                               wrap_optimizer=lambda tx: warmed_up(tx, warmup_steps))
        row = f"| {warmup_steps} | {float(validation_loss(loaded.meta_params)):.4f} |"
        print(row, flush=True)
        lines.append(row)
    (ROOT / "experiments" / "results" / "gated_warmup.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
