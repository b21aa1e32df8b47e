"""Meta-trains the shipped general-purpose optimizers, `l2l` (direct rule) and `gated`.

    python experiments/pretrain.py            # both rules, then copies them into the package

Each rule is meta-trained on a distribution of small classifiers: MLPs of several widths,
depths and activations on the offline datasets (digits, mnist1d), half of them under
random parameter scaling (Lv et al. 2017), taking meta-steps on each family in turn. The
best meta-parameters on the families' validation problems are written to
learned_opt/pretrained/NAME.msgpack with the settings and this command in their metadata;
the metrics logs go to experiments/results/pretrain_NAME.metrics.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import learned_opt as lo
from learned_opt.meta import MetaTrainConfig, meta_train
from learned_opt.tasks import MLPFamily, RandomScaling

ROOT = Path(__file__).resolve().parent.parent

# (dataset, hidden sizes, activation, randomly scaled)
TRAINING_FAMILIES = (
    ("digits", (20,), "sigmoid", False),
    ("digits", (32,), "relu", True),
    ("digits", (16, 16), "tanh", False),
    ("mnist1d", (24,), "relu", False),
    ("mnist1d", (20, 20), "sigmoid", True),
    ("mnist1d", (48,), "tanh", False),
)

# Both rules read the gradient's momenta at three timescales, normalised by its running
# RMS, besides the paper's inputs; the gated rule steps along Adam's direction, so that its
# input gate is a learned per-coordinate Adam learning rate. The shorter momentum comes
# second for the gated rule because the first decay sets its direction.
MOMENTUM_DECAYS = (0.5, 0.9, 0.99)
RULES = {
    "l2l": (lo.DirectLSTM(momentum_decays=MOMENTUM_DECAYS), 3e-3),
    "gated": (lo.GatedLSTM(momentum_decays=(0.9, 0.5, 0.99), descent_direction="normalized_momentum"), 3e-3),
}
# Tasks train for 200 steps, neither of the held-out step counts (100 and 300) of
# experiments/evaluate_pretrained.py; the log loss keeps late, small losses in the objective.
HORIZON = 200
TRUNCATION_LENGTH = 25


def training_families():
    families = []
    for dataset, hidden, activation, scaled in TRAINING_FAMILIES:
        family = MLPFamily(hidden_sizes=hidden, activation=activation, dataset=dataset)
        families.append(RandomScaling(family) if scaled else family)
    return tuple(families)


def pretrain(name: str, meta_steps: int, run_root: Path) -> Path:
    rule, meta_lr = RULES[name]
    config = MetaTrainConfig(num_meta_steps=meta_steps, num_tasks=16, horizon=HORIZON,
                             truncation_length=TRUNCATION_LENGTH, meta_objective="log_loss", validate_every=60,
                             num_validation_problems=16, meta_learning_rate=meta_lr, seed=0)
    run_dir = run_root / name
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(run_dir / "metrics.jsonl", "a") as metrics:
        result = meta_train(rule, training_families(), config, run_dir=run_dir, resume=True,
                            on_record=lambda r: metrics.write(json.dumps(r) + "\n"))
    metadata = {
        "command": "python experiments/pretrain.py " + " ".join(sys.argv[1:]),
        "training_families": [list(map(str, f)) for f in TRAINING_FAMILIES],
        "meta_train_config": dataclasses.asdict(config),
        "best_validation_loss": result.best_validation_loss,
        "best_step": result.best_step,
        "seconds": time.perf_counter() - start,
    }
    path = lo.save(run_dir / "optimizer.msgpack", rule, result.best_meta_params, metadata)
    print(f"{name}: best validation loss {result.best_validation_loss:.4g} at step {result.best_step}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    parser.add_argument("--meta-steps", type=int, default=600, help="meta-steps per rule (over all families)")
    parser.add_argument("--runs", default="runs/pretrain", help="where meta-training runs and resumes")
    args = parser.parse_args()
    for name in args.rules:
        path = pretrain(name, args.meta_steps, Path(args.runs))
        shutil.copy(path, ROOT / "learned_opt" / "pretrained" / f"{name}.msgpack")
        shutil.copy(Path(args.runs) / name / "metrics.jsonl", ROOT / "experiments" / "results" / f"pretrain_{name}.metrics.jsonl")


if __name__ == "__main__":
    main()
