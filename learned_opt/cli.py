"""The `learned-opt` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from learned_opt import checkpoint
from learned_opt.meta.estimators import ESTIMATORS
from learned_opt.meta.train import META_OBJECTIVES, TRUNCATION_SCHEDULES, VALIDATION_POINTS
from learned_opt.optimizers import RULES, rule_config
from learned_opt.tasks import TASK_FAMILIES, task_family


def _write_json(path: str | None, payload) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _checkpoint_or_shipped(path: str) -> checkpoint.Checkpoint:
    """The checkpoint at `path`, or the shipped optimizer of that name when no such path exists."""
    if path in checkpoint.PRETRAINED and not Path(path).exists():
        return checkpoint.load_pretrained(path)
    return checkpoint.load(path)


def _build_rule(name: str, options: list[str]):
    """The update rule `name` with KEY=VALUE options (values parsed as JSON when they can be)."""
    settings = {}
    for option in options:
        key, separator, text = option.partition("=")
        if not separator:
            raise SystemExit(f"learned-opt meta-train: error: --rule-option wants KEY=VALUE, got {option!r}")
        try:
            settings[key] = json.loads(text)
        except json.JSONDecodeError:
            settings[key] = text
    fields = sorted(f.name for f in dataclasses.fields(RULES[name]))
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise SystemExit(f"learned-opt meta-train: error: rule '{name}' has no option {unknown}; options: {fields}")
    try:
        return RULES[name](**settings)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"learned-opt meta-train: error: bad --rule-option for '{name}': {error}")


def meta_train_command(args: argparse.Namespace) -> int:
    if args.num_processes > 1:
        from learned_opt.meta.sharding import initialize_distributed

        initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    import jax

    from learned_opt.meta import MetaTrainConfig, meta_train, metrics_up_to, train_state_step

    rule = _build_rule(args.rule, args.rule_option)
    family = task_family(args.task)
    initial_meta_params = None
    if args.init_from:
        try:
            initial_meta_params = checkpoint.meta_params_for(rule, _checkpoint_or_shipped(args.init_from))
        except (FileNotFoundError, checkpoint.CheckpointError) as error:
            raise SystemExit(f"learned-opt meta-train: error: --init-from: {error} (give --rule and --rule-option "
                             "the values it was trained with)")
    try:
        config = MetaTrainConfig(
            num_meta_steps=args.meta_steps,
            num_tasks=args.num_tasks,
            horizon=args.horizon,
            truncation_length=args.truncation,
            truncation_schedule=args.truncation_schedule,
            min_truncation_length=args.min_truncation,
            estimator=args.estimator,
            es_std=args.es_std,
            meta_learning_rate=args.meta_lr,
            max_grad_norm=args.max_grad_norm,
            normalize_meta_gradient=args.normalize_meta_gradient,
            second_order=args.second_order,
            remat=args.remat,
            validate_every=args.validate_every,
            num_validation_problems=args.validation_problems,
            seed=args.seed,
            meta_objective=args.meta_objective,
            validate_on=args.validate_on,
        )
    except ValueError as error:
        raise SystemExit(f"learned-opt meta-train: error: {error}")
    out = Path(args.out)
    writer = jax.process_index() == 0
    settings = {"task": args.task, "rule": rule.name, "rule_config": rule_config(rule),
                "meta_train_config": dataclasses.asdict(config), "init_from": args.init_from}
    resumed_step = train_state_step(out) if args.resume else None
    kept = metrics_up_to(out / "metrics.jsonl", resumed_step)
    if writer:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({**settings, "command": sys.argv}, indent=2) + "\n")
        (out / "metrics.jsonl").write_text("".join(line + "\n" for line in kept))
    start = time.perf_counter()
    with open(out / "metrics.jsonl", "a") if writer else open(os.devnull, "w") as metrics:
        def on_record(record: dict) -> None:
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()

        def on_best(step: int, meta_params) -> None:
            if writer:
                checkpoint.save(out, rule, meta_params, metadata={**settings, "best_step": step})

        result = meta_train(rule, family, config, run_dir=out, resume=args.resume, on_record=on_record,
                            on_best=on_best, progress=not args.no_progress, initial_meta_params=initial_meta_params)
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in kept] + result.history
    validations = [r for r in records if r["kind"] == "validation"]
    summary = {
        "task": args.task,
        "rule": rule.name,
        "best_validation_loss": result.best_validation_loss,
        "best_step": result.best_step,
        "initial_validation_loss": validations[0]["validation_loss"],
        "resumed_from_step": resumed_step,
        "skipped_meta_steps": int(sum(r.get("skipped", 0) for r in result.history)),
        "seconds": seconds,
    }
    if writer:
        path = checkpoint.save(out, rule, result.best_meta_params, metadata={**settings, **summary})
        print(
            f"meta-trained '{rule.name}' on '{args.task}' in {seconds:.0f}s: validation loss "
            f"{summary['initial_validation_loss']:.4g} (untrained) -> {result.best_validation_loss:.4g} "
            f"(best, step {result.best_step}); wrote {path}"
        )
        _write_json(args.json, summary)
    return 0


def plot_command(args: argparse.Namespace) -> int:
    from learned_opt.plotting import plot_metrics

    path = plot_metrics(args.metrics, args.out)
    print(f"wrote {path}")
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    from learned_opt.evaluation import compare, format_table
    from learned_opt.optimizers import learned_optimizer

    family = task_family(args.task)
    learned = {}
    for path in args.checkpoint:
        loaded = _checkpoint_or_shipped(path)
        name = f"learned ({loaded.rule.name})"
        if name in learned:
            name = f"learned ({loaded.rule.name}, {path})"
        learned[name] = learned_optimizer(loaded.rule, loaded.meta_params)
    try:
        rows, _ = compare(family, learned, args.baselines, seed=args.seed, num_problems=args.num_problems,
                          tuning_problems=args.tuning_problems, num_steps=args.steps)
    except ValueError as error:
        raise SystemExit(f"learned-opt evaluate: error: {error}")
    print(f"{args.task}: {args.num_problems} held-out problems, {args.steps} steps, seed {args.seed}")
    print(format_table(rows, args.steps))
    _write_json(args.json, [row.as_dict() for row in rows])
    return 0


def benchmark_command(args: argparse.Namespace) -> int:
    from learned_opt.suite import SuiteConfig, run_suite

    config = SuiteConfig.quick() if args.quick else SuiteConfig()
    changes = {"datasets": tuple(args.datasets) if args.datasets else None, "num_seeds": args.seeds,
               "meta_steps": args.meta_steps}
    config = dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
    start = time.perf_counter()
    results = run_suite(config, Path(args.out))
    print(f"wrote {args.out}/suite.json, suite.md and PNG curves in {time.perf_counter() - start:.0f}s")
    _write_json(args.json, results)
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from learned_opt.demo import format_rows, run_demo

    start = time.perf_counter()
    try:
        rows = run_demo(args.optimizer, args.steps, args.tuning_problems, args.seed, Path(args.plot))
    except ValueError as error:
        raise SystemExit(f"learned-opt demo: error: {error}")
    print(f"digits, MLP 64-64-10 ReLU, batch 128, {args.steps} steps, seed {args.seed}; Adam's learning rate "
          f"tuned on {args.tuning_problems} other seeds (log grid 1e-4..10)")
    print(format_rows(rows))
    print(f"wrote {args.plot} ({time.perf_counter() - start:.0f}s in all)")
    _write_json(args.json, rows)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="learned-opt",
        description="Meta-train learned LSTM optimizers and compare them with tuned optax baselines.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "meta-train",
        help="meta-train an update rule on a task family and save the best checkpoint",
        description="Meta-train an update rule by truncated backpropagation through unrolled inner "
        "training. Writes OUT/optimizer.msgpack (the meta-parameters with the best validation loss), "
        "OUT/metrics.jsonl, OUT/config.json and OUT/train_state.msgpack (the full training state, for "
        "--resume). The task batch is sharded over all JAX devices; several hosts join with "
        "--num-processes/--process-id/--coordinator-address.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument("--task", choices=sorted(TASK_FAMILIES), default="quadratic", help="task family")
    train.add_argument("--rule", choices=sorted(RULES), default="direct", help="update rule")
    train.add_argument("--rule-option", action="append", default=[], metavar="KEY=VALUE",
                       help="set a field of the rule's configuration, e.g. max_learning_rate=10 or "
                            "momentum_decays=[0.5,0.9,0.99] (repeatable)")
    train.add_argument("--out", required=True, help="run directory to write")
    train.add_argument("--init-from", metavar="CHECKPOINT",
                       help="start from the meta-parameters of this checkpoint or shipped optimizer (e.g. l2l; "
                            "same rule and options, or those plus step_timescales, direction_agreement=true or, for "
                            "gated, loss_change_decays or direction_correction=true, whose new weights start at "
                            "zero) instead of at random: a fine-tune")
    train.add_argument("--seed", type=int, default=0, help="seed of meta-parameters, tasks and validation problems")
    train.add_argument("--meta-steps", type=_positive_int, default=2000, help="outer updates (one per truncation)")
    train.add_argument("--num-tasks", type=_positive_int, default=64, help="tasks per meta-step")
    train.add_argument("--horizon", type=_positive_int, default=100, help="inner steps per task")
    train.add_argument("--truncation", type=_positive_int, default=20, help="inner steps per truncation")
    train.add_argument("--truncation-schedule", choices=TRUNCATION_SCHEDULES, default="fixed",
                       help="fixed truncations, or lengths drawn uniformly from [--min-truncation, --truncation]")
    train.add_argument("--min-truncation", type=_positive_int, default=1, help="shortest random truncation")
    train.add_argument("--estimator", choices=ESTIMATORS, default="tbptt",
                       help="meta-gradient estimator: truncated backpropagation, antithetic ES, persistent ES")
    train.add_argument("--es-std", type=_positive_float, default=0.01, help="perturbation scale of ES and PES")
    train.add_argument("--meta-objective", choices=META_OBJECTIVES, default="loss",
                       help="what a truncation minimises: the summed loss (as in the paper), the summed log loss, "
                       "or how far each step's log loss trails Adam tuned for that step")
    train.add_argument("--validate-on", choices=VALIDATION_POINTS, default="final",
                       help="score validation problems on their final loss, or on their whole loss curve (mean over steps)")
    train.add_argument("--meta-lr", type=_positive_float, default=3e-3, help="Adam learning rate of the outer loop")
    train.add_argument("--max-grad-norm", type=_positive_float, default=10.0, help="meta-gradient clipping norm")
    train.add_argument("--normalize-meta-gradient", action="store_true",
                       help="divide each meta-gradient by its global norm instead of clipping it, so that every "
                            "meta-step, whichever task family it is on, has the same length")
    train.add_argument("--second-order", action="store_true",
                       help="backpropagate through the optimizee's gradient (default: first order, as in the paper)")
    train.add_argument("--remat", action="store_true",
                       help="rematerialise inner steps in the backward pass (less memory, more compute)")
    train.add_argument("--validate-every", type=_positive_int, default=50, help="meta-steps between validations")
    train.add_argument("--validation-problems", type=_positive_int, default=100, help="held-out validation problems")
    train.add_argument("--resume", action="store_true",
                       help="continue from OUT/train_state.msgpack if present (saved at every validation)")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument("--num-processes", type=_positive_int, default=1, help="processes of a multi-host run")
    train.add_argument("--process-id", type=int, default=0, help="this process's rank in a multi-host run")
    train.add_argument("--coordinator-address", default="127.0.0.1:12355",
                       help="host:port of process 0 in a multi-host run (jax.distributed)")
    train.add_argument("--json", metavar="PATH", help="also write a JSON summary here")
    train.set_defaults(handler=meta_train_command)

    evaluate = commands.add_parser(
        "evaluate",
        help="compare learned optimizers with learning-rate-tuned optax baselines",
        description="Run each checkpoint and each baseline on the same held-out test problems. "
        "Baselines get the learning rate, from a log grid (1e-4 .. 10, quarter decades), with the "
        "lowest mean final loss on separate tuning problems.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    evaluate.add_argument("--checkpoint", nargs="+", default=[], metavar="PATH",
                          help="run directories or checkpoint files of learned optimizers, or names of shipped "
                          "ones (learned_opt.list_pretrained())")
    evaluate.add_argument("--task", choices=sorted(TASK_FAMILIES), default="quadratic", help="task family")
    evaluate.add_argument("--num-problems", type=_positive_int, default=100, help="held-out test problems")
    evaluate.add_argument("--tuning-problems", type=_positive_int, default=100, help="problems for tuning baselines")
    evaluate.add_argument("--steps", type=_positive_int, default=100, help="inner steps")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the test and tuning problems")
    evaluate.add_argument("--baselines", nargs="*", default=["adam", "rmsprop", "sgd", "nesterov"],
                          help="baselines to tune and run")
    evaluate.add_argument("--json", metavar="PATH", help="write the table rows as JSON here")
    evaluate.set_defaults(handler=evaluate_command)

    benchmark = commands.add_parser(
        "benchmark",
        help="run the paper's generalisation suite against tuned baselines",
        description="Meta-train the direct and gated rules on the base MLP task (20 sigmoid units, batch "
        "128, 100 steps) of each dataset, then compare them with learning-rate-tuned Adam, RMSprop, SGD and "
        "Nesterov on held-out seeds of the base task and of its variants (200 steps, 40 units, two layers, "
        "ReLU). Writes OUT/suite.json, OUT/suite.md and OUT/suite_DATASET.png; meta-training runs are kept "
        "under OUT/runs and reused.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    benchmark.add_argument("--quick", action="store_true", help="a reduced suite (digits, base task, 4 seeds)")
    benchmark.add_argument("--out", default="experiments/results/suite", help="output directory")
    benchmark.add_argument("--datasets", nargs="+",
                           help="datasets (default: digits, mnist1d, and mnist when its files are present; quick: digits)")
    benchmark.add_argument("--seeds", type=_positive_int, help="held-out seeds per variant (default 20; quick 4)")
    benchmark.add_argument("--meta-steps", type=_positive_int, help="meta-training steps per rule (default 300)")
    benchmark.add_argument("--json", metavar="PATH", help="also write the results JSON here")
    benchmark.set_defaults(handler=benchmark_command)

    demo = commands.add_parser(
        "demo",
        help="train an MLP on digits with a pretrained learned optimizer and with tuned Adam",
        description="Train an MLP (64 ReLU units) on scikit-learn's digits with a shipped learned optimizer and "
        "with Adam whose learning rate is tuned on other seeds of the same task; print final training loss, "
        "test accuracy and wall time, and plot both loss curves. Works offline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--optimizer", default=None, help="pretrained name (see learned_opt.list_pretrained(); "
                      "default: the general-purpose one)")
    demo.add_argument("--steps", type=_positive_int, default=200, help="training steps")
    demo.add_argument("--tuning-problems", type=_positive_int, default=8, help="seeds for tuning Adam")
    demo.add_argument("--seed", type=int, default=0, help="seed of the demo run and of the tuning seeds")
    demo.add_argument("--plot", default="demo.png", help="PNG of the loss curves")
    demo.add_argument("--json", metavar="PATH", help="also write the table as JSON here")
    demo.set_defaults(handler=demo_command)

    plot = commands.add_parser(
        "plot",
        help="plot the meta-loss and validation loss of a metrics log",
        description="Write a PNG of meta-loss (per meta-step) and validation loss from a metrics.jsonl.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    plot.add_argument("metrics", help="a metrics.jsonl, or the run directory holding one")
    plot.add_argument("--out", help="PNG to write (default: metrics.png beside the log)")
    plot.set_defaults(handler=plot_command)

    _add_data_parser(commands)
    return parser


def data_command(args: argparse.Namespace) -> int:
    """`learned-opt data list` and `learned-opt data download NAME`."""
    from learned_opt.data import DATASETS, availability, data_root

    if args.data_command == "list":
        root = data_root(args.dir)
        rows = {name: availability(name, args.dir) for name in DATASETS}
        print(f"data root: {root} (--dir, else $LEARNED_OPT_DATA, else ~/.cache/learned_opt)")
        width = max(len(name) for name in rows)
        for name, (available, detail) in rows.items():
            print(f"{name:<{width}}  {'available' if available else 'missing':<9}  {detail}")
        _write_json(args.json, {"root": str(root), "datasets": [
            {"name": name, "available": available, "detail": detail} for name, (available, detail) in rows.items()
        ]})
        return 0
    from learned_opt.data.download import DownloadError, download

    try:
        written = download(args.name, args.dir)
    except DownloadError as error:
        print(f"learned-opt data download: error: {error}", file=sys.stderr)
        return 1
    print(f"{args.name}: {len(written)} file(s) written")
    return 0


def _add_data_parser(commands) -> None:
    """Registers `learned-opt data {list,download}`."""
    from learned_opt.data import DATASETS

    data = commands.add_parser(
        "data",
        help="list datasets and download the ones that are not bundled",
        description="Datasets live under a data root: --dir, else $LEARNED_OPT_DATA, else "
        "~/.cache/learned_opt; dataset NAME in ROOT/NAME/.",
    )
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="print each dataset and whether it is available locally",
                                 description="Print each dataset and whether it can be loaded without a download.")
    listing.add_argument("--dir", metavar="DIR", help="data root (default: $LEARNED_OPT_DATA or ~/.cache/learned_opt)")
    listing.add_argument("--json", metavar="PATH", help="also write the list as JSON here")
    fetch = actions.add_parser(
        "download",
        help="fetch a dataset's files into the data root",
        description="Fetch the standard files of NAME into DIR/NAME/ (MNIST and Fashion-MNIST: the four "
        "IDX .gz files; CIFAR-10: the python tarball, unpacked to cifar-10-batches-py/), checking the "
        "published MD5s. Files are written atomically; files already there are kept. mnist1d is "
        "generated locally and digits needs nothing.",
    )
    fetch.add_argument("name", choices=sorted(DATASETS), metavar="NAME", help=f"one of {', '.join(sorted(DATASETS))}")
    fetch.add_argument("--dir", metavar="DIR", help="data root (default: $LEARNED_OPT_DATA or ~/.cache/learned_opt)")
    data.set_defaults(handler=data_command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (checkpoint.CheckpointError, FileNotFoundError) as error:
        print(f"learned-opt: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
