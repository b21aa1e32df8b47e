"""Would standardised mnist1d inputs remove the stalls that the gated rule's warm-up guards
against? The ReLU networks on mnist1d, min-max scaled, against the same networks on inputs
standardised feature by feature with the training split's mean and standard deviation.

    python experiments/standardized_mnist1d.py [--tasks 24 64 32-32-32] [--problems 48]

`experiments/dead_units.py` traces the stalls to the scaling: every min-max scaled input lies
near the same value (mean 0.547, standard deviation 0.100), so a step that pushes a ReLU
unit's pre-activation below zero turns it off on the whole dataset. This script registers
the standardised copy as the dataset "mnist1d_standardized" in this process only (the library's
mnist1d is unchanged) and runs, on the validation problems of each ReLU network, Adam with its
learning rate tuned for 300 steps on the tuning problems, the shipped `l2l`, the shipped
`gated` and `gated` without its warm-up (`warmup_steps=0`): the mean loss at 100 and 300
steps and the number of runs stalled at chance (above 2.25 at step 300). No optimizer was
meta-trained on the standardised data. It also prints the mean and standard deviation of the
training inputs before and after the library's min-max scaling: the generator's own signals
are already about standardised. Writes experiments/results/standardized_mnist1d.md.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

import learned_opt as lo
from learned_opt.baselines import DEFAULT_LEARNING_RATES, tune_learning_rate
from learned_opt.checkpoint import load_pretrained
from learned_opt.data import DATASETS, Dataset, dataset_dir, generated, load_dataset
from learned_opt.evaluation import problem_curves
from learned_opt.tasks import MLPFamily

from dead_units import STALLED_LOSS

ROOT = Path(__file__).resolve().parent.parent
STANDARDIZED = "mnist1d_standardized"
STEPS = (100, 300)


def standardized(dataset: Dataset) -> Dataset:
    """x' = (x - mean) / std per input feature, both over the training split."""
    mean = dataset.train_inputs.mean(axis=0)
    std = dataset.train_inputs.std(axis=0)
    return dataset._replace(name=STANDARDIZED,
                            train_inputs=((dataset.train_inputs - mean) / std).astype(np.float32),
                            test_inputs=((dataset.test_inputs - mean) / std).astype(np.float32))


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
    DATASETS[STANDARDIZED] = lambda: standardized(load_dataset("mnist1d"))
    raw = generated.mnist1d_arrays(dataset_dir("mnist1d"))["x"]
    scaled = load_dataset("mnist1d").train_inputs
    gated = load_pretrained("gated")
    optimizers = [
        ("l2l", lo.pretrained("l2l")),
        (f"gated (warm-up {gated.rule.warmup_steps})", lo.pretrained("gated")),
        ("gated, no warm-up", lo.learned_optimizer(dataclasses.replace(gated.rule, warmup_steps=0),
                                                   gated.meta_params)),
    ]
    lines = [
        "# ReLU networks on mnist1d: min-max scaled against standardised inputs",
        "",
        f"Mean loss over {args.problems} validation problems at steps {' and '.join(map(str, STEPS))}, and runs "
        f"stalled (above {STALLED_LOSS} at step {STEPS[-1]}); Adam's learning rate tuned for {STEPS[-1]} steps on as "
        "many tuning problems. Produced by `python experiments/standardized_mnist1d.py"
        + (f" --tasks {' '.join(args.tasks)}" if args.tasks != parser.get_default("tasks") else "")
        + (f" --problems {args.problems}" if args.problems != parser.get_default("problems") else "") + "`.",
        "",
        f"Training inputs: min-max scaled (the library's mnist1d) mean {scaled.mean():.3f}, standard deviation "
        f"{scaled.std():.3f}; the MNIST-1D generator's own signals, before that scaling, mean {raw.mean():.4f}, "
        f"standard deviation {raw.std():.3f}, per-feature standard deviations {raw.std(axis=0).min():.2f} to "
        f"{raw.std(axis=0).max():.2f}.",
        "",
        "| network | inputs | optimizer | loss at 100 | loss at 300 | stalled |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for hidden in hidden_sizes:
        for dataset, inputs in (("mnist1d", "min-max"), (STANDARDIZED, "standardised")):
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
    (ROOT / "experiments" / "results" / "standardized_mnist1d.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
