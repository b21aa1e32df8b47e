"""Mean loss curves of a shipped optimizer with its schedule settings changed, on the
validation problems of meta-training families, against Adam with its learning rate tuned on
each family's tuning problems.

    python experiments/setting_curves.py --name gated \\
        --variants max_learning_rate=1.2 agreement_gain=4 agreement_gain=6 \\
        [--checkpoint FILE] [--tasks digits:20:sigmoid mnist1d:24:relu] [--problems 48] \\
        [--at 10 20 50 100 300]

Each variant is comma-separated `setting=value` pairs from the rule's `schedule_settings`
(for `gated`: warmup_steps, max_learning_rate, agreement_gain, agreement_decay; for `l2l`:
output_scale, agreement_gain, agreement_decay), applied to the shipped file's rule, whose
meta-parameters stay as they are (`--checkpoint`: any checkpoint file's instead, an earlier
shipped one, say). The unchanged rule itself is always the first row. It asks whether a
setting could close a held-out cell, the digits sigmoid network at 100 steps, say, without
costing another family, on problems that `evaluate_pretrained.py` does not test; the default
tasks are two meta-training families (`pretrain.py --families broad`), so a setting chosen
here is not chosen by the held-out tasks. Adam's learning rate is tuned for the largest
`--at` step count. Prints one table a task.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

import learned_opt as lo
from learned_opt.baselines import DEFAULT_LEARNING_RATES, tune_learning_rate
from learned_opt.checkpoint import CheckpointError, load, load_pretrained
from learned_opt.evaluation import problem_curves
from learned_opt.tasks import MLPFamily


def parse_task(text: str) -> MLPFamily:
    """"digits:32-32:tanh" as the MLP family it names."""
    try:
        dataset, hidden, activation = text.split(":")
        return MLPFamily(hidden_sizes=tuple(int(size) for size in hidden.split("-")), activation=activation,
                         dataset=dataset)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected DATASET:HIDDEN-SIZES:ACTIVATION, got {text!r} ({error})")


def parse_variant(text: str) -> dict[str, float]:
    """"max_learning_rate=1.2,warmup_steps=2" as {setting: value}."""
    try:
        pairs = [item.split("=") for item in text.split(",")]
        return {key.strip(): float(value) for key, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SETTING=VALUE[,SETTING=VALUE...], got {text!r}")


def with_settings(rule, settings: dict[str, float]):
    """The rule with its schedule settings replaced; ValueError naming the allowed ones, or
    for a fraction given to a whole-number setting."""
    unknown = sorted(set(settings) - set(rule.schedule_settings))
    if unknown:
        raise ValueError(f"{unknown} are not schedule settings of the {rule.name} rule; "
                         f"those are {list(rule.schedule_settings)}")
    whole = [key for key, value in settings.items() if isinstance(getattr(rule, key), int) and value != int(value)]
    if whole:
        raise ValueError(f"{whole} take whole numbers")
    typed = {key: type(getattr(rule, key))(value) for key, value in settings.items()}
    return dataclasses.replace(rule, **typed)


def add_candidate_arguments(parser: argparse.ArgumentParser) -> None:
    """--name, --checkpoint and --variants: a stored rule and the schedule settings to try it with."""
    parser.add_argument("--name", default="gated", choices=list(lo.list_pretrained()), help="shipped optimizer")
    parser.add_argument("--checkpoint", metavar="FILE", help="a checkpoint file to start from instead of --name's")
    parser.add_argument("--variants", type=parse_variant, nargs="*", default=[],
                        help="settings to run the stored rule with, e.g. agreement_gain=4,warmup_steps=2")


def parsed_candidates(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """(the loaded checkpoint, [(label, rule)]) for `add_candidate_arguments`: the stored rule,
    labelled "as stored", then one per variant; a parser error for an unreadable checkpoint or
    an unknown setting."""
    try:
        loaded = load(args.checkpoint) if args.checkpoint else load_pretrained(args.name)
    except (OSError, CheckpointError) as error:
        parser.error(f"cannot read --checkpoint: {error}")
    try:
        return loaded, [("as stored", loaded.rule)] + [
            (",".join(f"{k}={v:g}" for k, v in variant.items()), with_settings(loaded.rule, variant))
            for variant in args.variants]
    except ValueError as error:
        parser.error(str(error))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_candidate_arguments(parser)
    parser.add_argument("--tasks", type=parse_task, nargs="+",
                        default=[parse_task("digits:20:sigmoid"), parse_task("mnist1d:24:relu")])
    parser.add_argument("--problems", type=int, default=48, help="validation (and tuning) problems a task")
    parser.add_argument("--at", type=int, nargs="+", default=[10, 20, 50, 100, 300],
                        help="step counts to report the mean loss at")
    args = parser.parse_args()
    if min(args.at) < 0:
        parser.error("--at step counts must be non-negative")
    loaded, candidates = parsed_candidates(parser, args)
    num_steps = max(args.at)
    for family in args.tasks:
        adam = tune_learning_rate("adam", family, num_problems=args.problems, num_steps=num_steps,
                                  grid=DEFAULT_LEARNING_RATES)
        rows = [(label, lo.learned_optimizer(rule, loaded.meta_params)) for label, rule in candidates]
        rows.append((f"adam {adam.learning_rate:.3g}", adam.transform()))
        print(f"\n{family.dataset} {'-'.join(map(str, family.hidden_sizes))} {family.activation}, "
              f"mean loss over {args.problems} validation problems")
        print("| optimizer | " + " | ".join(f"step {step}" for step in args.at) + " |")
        print("|---|" + "---|" * len(args.at))
        for label, tx in rows:
            mean_curve = problem_curves(family, tx, 0, "validation", args.problems, num_steps).mean(axis=0)
            print(f"| {label} | " + " | ".join(f"{mean_curve[step]:.4g}" for step in args.at) + " |", flush=True)


if __name__ == "__main__":
    main()
