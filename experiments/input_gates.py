"""The learning rate a shipped gated optimizer gives itself over the first steps of training,
against the one Adam is tuned to, on the validation problems of meta-training families.

    python experiments/input_gates.py [--name gated] [--tasks digits:20:sigmoid mnist1d:24:relu] \\
        [--problems 8] [--at 0 1 2 5 10 20 30 50 100]

The gated rule's input gate i_t (Ravi & Larochelle 2017) multiplies its step along Adam's
direction, so with a forget gate near 1 it is a per-coordinate Adam learning rate. For each
task this prints, at each step of `--at`, the mean over problems of each parameter tensor's
mean input gate (before the warm-up and agreement scaling, which multiply it further) and the
mean training loss, and Adam's learning rate tuned for 100 steps on as many tuning problems.
It shows whether the rule starts each task at a rate of its own or at one rate for all.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import learned_opt as lo
from learned_opt.baselines import DEFAULT_LEARNING_RATES, tune_learning_rate
from learned_opt.evaluation import gate_recording
from learned_opt.tasks import sample_problems

from setting_curves import parse_task


def mean_input_gates(family, tx, num_problems: int, num_steps: int) -> tuple[dict, np.ndarray]:
    """({tensor path: (num_steps,) mean input gate}, (num_steps,) loss before each step), both
    averaged over `num_problems` validation problems."""
    data, keys = sample_problems(family, 0, "validation", num_problems)
    _, (losses, gates) = jax.device_get(jax.jit(jax.vmap(gate_recording(family, tx, num_steps)))(data, keys))
    return {path: stats["input_mean"].mean(axis=0) for path, stats in gates.items()}, losses.mean(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gated_names = [name for name in lo.list_pretrained() if name.startswith("gated")]
    parser.add_argument("--name", default="gated", choices=gated_names, help="shipped gated optimizer")
    parser.add_argument("--tasks", type=parse_task, nargs="+",
                        default=[parse_task("digits:20:sigmoid"), parse_task("mnist1d:24:relu")])
    parser.add_argument("--problems", type=int, default=8, help="validation (and tuning) problems a task")
    parser.add_argument("--at", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20, 30, 50, 100],
                        help="steps to report (0: the first step)")
    args = parser.parse_args()
    if min(args.at) < 0 or args.problems < 1:
        parser.error("--at steps must be non-negative and --problems positive")
    tx = lo.pretrained(args.name)
    num_steps = max(args.at) + 1
    for family in args.tasks:
        adam = tune_learning_rate("adam", family, num_problems=args.problems, num_steps=100,
                                  grid=DEFAULT_LEARNING_RATES)
        gates, losses = mean_input_gates(family, tx, args.problems, num_steps)
        print(f"\n{family.dataset} {'-'.join(map(str, family.hidden_sizes))} {family.activation}: mean input gate "
              f"of each tensor over {args.problems} validation problems (Adam tuned for 100 steps: "
              f"{adam.learning_rate:.3g})")
        print("| step | " + " | ".join(gates) + " | loss |")
        print("|---|" + "---|" * (len(gates) + 1))
        for step in args.at:
            print(f"| {step} | " + " | ".join(f"{gate[step]:.3g}" for gate in gates.values())
                  + f" | {losses[step]:.3g} |")


if __name__ == "__main__":
    main()
