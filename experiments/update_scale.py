"""Choose a shipped optimizer's step-size multiplier, or its agreement gain, on validation,
after meta-training.

    python experiments/update_scale.py --name l2l [--multipliers 0.9 1 1.1 1.2 1.3] [--ship]
    python experiments/update_scale.py --name gated --agreement-gains 0 1 2 4 [--ship]

Meta-training takes its meta-gradients over truncations of 25 or 100 steps of 400-step
tasks, and a meta-gradient that sees only a short stretch of training can favour steps
smaller than the whole run wants (the short-horizon bias of Wu et al. 2018, "Understanding
short-horizon bias in stochastic meta-optimization"). This script multiplies the step of a
shipped optimizer by each of `--multipliers`, through the one setting of its rule that
scales every step and has no meta-parameters (the direct rule's `output_scale`, the gated
rule's `max_learning_rate`, a factor of each input gate), and scores each on the
meta-training families' validation problems by the score that selected its last
meta-training stage (the settings in the file's metadata: 48 problems a family, 400 steps,
the whole loss curve). The held-out tasks of `evaluate_pretrained.py` play no part.

With `--agreement-gains`, the candidates are instead the shipped rule (at its shipped step
size) with each `agreement_gain` (`base.agreement_scaled`: each parameter leaf's step times
exp(gain * a_t), a_t the moving average, decay `agreement_decay` = 0.9, of the cosine of its
gradient with its last update, a hypergradient that lengthens the steps on a task where they
keep falling short, as on the digits sigmoid network, and shortens them where they
overshoot), scored the same way.

Writes experiments/results/update_scale_NAME.md (update_scale_NAME_agreement.md with
`--agreement-gains`). With `--ship`, the candidate with the best mean score goes into
learned_opt/pretrained/NAME.msgpack (the meta-parameters stay as they were; the metadata
records the scores and this command). Multipliers apply to the meta-trained value, which
the metadata keeps, so running it again starts from the same point.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import NamedTuple

from learned_opt.checkpoint import load_pretrained, save
from learned_opt.meta import MetaTrainConfig

from pretrain import RULES, shipped_file, stage_arguments, validation_scores, validation_table

ROOT = Path(__file__).resolve().parent.parent
# the setting that scales every step of each rule (keyed by the rule's `name`)
SCALE_SETTINGS = {"direct": "output_scale", "gated": "max_learning_rate"}


class ScaleSearch(NamedTuple):
    """The candidates of one mode of this script and how its report and metadata name them."""

    setting: str  # the rule setting that differs between candidates
    values: list  # the multipliers or gains on the command line
    labels: list  # column names of the validation table
    rules: list  # the shipped rule with each value applied
    title: str  # how the report's heading describes the candidates
    candidates: str  # how the report's text describes them
    suffix: str  # of the report's file name
    record_key: str  # where --ship records the choice in the metadata
    chosen_key: str  # under which name the record holds the chosen value
    record: dict  # what else the record holds


def multiplier_search(loaded, multipliers) -> ScaleSearch:
    """The shipped rule's step-size setting at its meta-trained value times each multiplier."""
    setting = SCALE_SETTINGS[loaded.rule.name]
    meta_trained = loaded.metadata.get("update_scale", {}).get("meta_trained_value", getattr(loaded.rule, setting))
    return ScaleSearch(
        setting, multipliers, [f"x{m:g}" for m in multipliers],
        [dataclasses.replace(loaded.rule, **{setting: meta_trained * m}) for m in multipliers],
        "with its step size multiplied", f"with `{setting}` = {meta_trained:g} (meta-trained) times each multiplier",
        "", "update_scale", "multiplier", {"setting": setting, "meta_trained_value": meta_trained})


def agreement_search(loaded, gains) -> ScaleSearch:
    """The shipped rule (at its shipped step size) with each agreement gain."""
    decay = loaded.rule.agreement_decay
    return ScaleSearch(
        "agreement_gain", gains, [f"gain {g:g}" for g in gains],
        [dataclasses.replace(loaded.rule, agreement_gain=g) for g in gains],
        "with agreement-scaled steps",
        f"with `agreement_gain` = each gain (`agreement_decay` = {decay:g}) at the shipped step size",
        "_agreement", "agreement_scaling", "gain", {"setting": "agreement_gain", "agreement_decay": decay})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, choices=list(RULES), help="shipped optimizer")
    parser.add_argument("--multipliers", type=float, nargs="+", default=[0.9, 1.0, 1.1, 1.2, 1.3],
                        help="factors of the meta-trained step size to score")
    parser.add_argument("--agreement-gains", type=float, nargs="+", metavar="GAIN",
                        help="score these agreement gains at the shipped step size instead of multipliers")
    parser.add_argument("--ship", action="store_true",
                        help="write the candidate with the best mean validation score into the shipped file")
    args = parser.parse_args()
    command = "python experiments/update_scale.py " + " ".join(sys.argv[1:])
    if min(args.multipliers) <= 0:
        parser.error("--multipliers must be positive")
    if args.agreement_gains is not None and min(args.agreement_gains) < 0:
        parser.error("--agreement-gains must be non-negative")
    loaded = load_pretrained(args.name)
    search = (multiplier_search(loaded, args.multipliers) if args.agreement_gains is None
              else agreement_search(loaded, args.agreement_gains))
    setting, values, labels, rules = search.setting, search.values, search.labels, search.rules
    # the settings the shipped stage was selected with: horizon, validation problems, objective, seed
    config = MetaTrainConfig(**loaded.metadata["meta_train_config"])
    family_set = stage_arguments(loaded.metadata).families
    scores = validation_scores(rules, loaded.meta_params, config, family_set)
    table, means = validation_table(labels, scores, family_set)
    best = min(range(len(rules)), key=means.__getitem__)
    lines = [
        f"# The shipped `{args.name}` optimizer {search.title}",
        "",
        f"Validation score (`{config.meta_objective}` of the mean loss "
        f"{'averaged over the steps' if config.validate_on == 'curve' else 'at the last step'} of {config.horizon}; "
        f"lower is better) on {config.num_validation_problems} validation problems of each meta-training family "
        f"(`--families {family_set}`), {search.candidates}. Produced by `{command}`.",
        "",
        *table,
        "",
        f"Best mean: {labels[best]} (`{setting}` = {getattr(rules[best], setting):g}).",
    ]
    print("\n".join(lines), flush=True)
    (ROOT / "experiments" / "results" / f"update_scale_{args.name}{search.suffix}.md").write_text("\n".join(lines) + "\n")
    if args.ship:
        metadata = {**loaded.metadata, search.record_key: {
            **search.record, search.chosen_key: values[best],
            "command": command, "mean_validation_scores": {f"{v:g}": mean for v, mean in zip(values, means)}}}
        path = save(shipped_file(args.name), rules[best], loaded.meta_params, metadata)
        print(f"wrote {path} with {setting}={getattr(rules[best], setting):g}")


if __name__ == "__main__":
    main()
