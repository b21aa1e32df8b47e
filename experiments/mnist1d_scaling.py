"""Why the library loads mnist1d as the generator emits it: the ReLU networks on the
generator's signals (the library's mnist1d) against the same networks on the min-max scaled
inputs that its loader once made of them.

    python experiments/mnist1d_scaling.py [--tasks 24 64 32-32-32] [--problems 48]

`experiments/dead_units.py --min-max` traces the stalls of the ReLU networks to that scaling:
every min-max scaled input lies near the same value (mean 0.547, standard deviation 0.100),
so a step that pushes a ReLU unit's pre-activation below zero turns it off on the whole
dataset. This script registers the min-max scaled copy as the dataset "mnist1d_min_max" in
this process only and runs, on the validation problems of each ReLU network on both inputs,
Adam with its learning rate tuned for 300 steps on the tuning problems, the shipped `l2l`,
the shipped `gated` and `gated` with the 5-step warm-up that guarded its earlier stages
against those stalls: the mean loss at 100 and 300 steps and the number of runs stalled at
chance (above 2.25 at step 300). It also prints the mean and standard deviation of the
training inputs both ways. Writes experiments/results/mnist1d_scaling.md.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import learned_opt as lo
from learned_opt.baselines import DEFAULT_LEARNING_RATES, tune_learning_rate
from learned_opt.checkpoint import load_pretrained
from learned_opt.data import load_dataset
from learned_opt.evaluation import problem_curves
from learned_opt.tasks import MLPFamily

from dead_units import STALLED_LOSS, register_min_max

ROOT = Path(__file__).resolve().parent.parent
STEPS = (100, 300)
FORMER_WARMUP_STEPS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["24", "64", "32-32-32"],
                        help="hidden sizes of the ReLU networks, e.g. 32-32-32")
    parser.add_argument("--problems", type=int, default=48, help="validation (and tuning) problems a network")
    args = parser.parse_args()
    try:
        hidden_sizes = [tuple(int(size) for size in task.split("-")) for task in args.tasks]
    except ValueError:
        parser.error(f"--tasks takes hidden sizes joined by '-', got {args.tasks}")
    if args.problems < 1:
        parser.error("--problems must be positive")
    min_max = register_min_max()
    generator = load_dataset("mnist1d").train_inputs
    scaled = load_dataset(min_max).train_inputs
    gated = load_pretrained("gated")
    optimizers = [("l2l", lo.pretrained("l2l")), (f"gated (warm-up {gated.rule.warmup_steps})", lo.pretrained("gated"))]
    if gated.rule.warmup_steps != FORMER_WARMUP_STEPS:
        optimizers.append((f"gated, warm-up {FORMER_WARMUP_STEPS}", lo.learned_optimizer(
            dataclasses.replace(gated.rule, warmup_steps=FORMER_WARMUP_STEPS), gated.meta_params)))
    lines = [
        "# ReLU networks on mnist1d: the generator's signals against min-max scaled inputs",
        "",
        f"Mean loss over {args.problems} validation problems at steps {' and '.join(map(str, STEPS))}, and runs "
        f"stalled (above {STALLED_LOSS} at step {STEPS[-1]}); Adam's learning rate tuned for {STEPS[-1]} steps on as "
        "many tuning problems. Produced by `python experiments/mnist1d_scaling.py"
        + (f" --tasks {' '.join(args.tasks)}" if args.tasks != parser.get_default("tasks") else "")
        + (f" --problems {args.problems}" if args.problems != parser.get_default("problems") else "") + "`.",
        "",
        f"Training inputs: the generator's signals (the library's mnist1d) mean {generator.mean():.4f}, standard "
        f"deviation {generator.std():.3f}, per-feature standard deviations {generator.std(axis=0).min():.2f} to "
        f"{generator.std(axis=0).max():.2f}; min-max scaled (the library's loader before) mean {scaled.mean():.3f}, "
        f"standard deviation {scaled.std():.3f}.",
        "",
        "| network | inputs | optimizer | loss at 100 | loss at 300 | stalled |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for hidden in hidden_sizes:
        for dataset, inputs in (("mnist1d", "generator's"), (min_max, "min-max")):
            family = MLPFamily(hidden_sizes=hidden, activation="relu", dataset=dataset)
            adam = tune_learning_rate("adam", family, num_problems=args.problems, num_steps=STEPS[-1],
                                      grid=DEFAULT_LEARNING_RATES)
            for label, tx in [*optimizers, (f"Adam {adam.learning_rate:.3g}", adam.transform())]:
                curves = problem_curves(family, tx, 0, "validation", args.problems, STEPS[-1])
                row = (f"| {'-'.join(map(str, hidden))} relu | {inputs} | {label} | "
                       + " | ".join(f"{curves[:, step].mean():.4g}" for step in STEPS)
                       + f" | {int((curves[:, STEPS[-1]] > STALLED_LOSS).sum())} |")
                print(row, flush=True)
                lines.append(row)
    (ROOT / "experiments" / "results" / "mnist1d_scaling.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
