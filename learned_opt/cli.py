"""The `learned-opt` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from learned_opt import checkpoint
from learned_opt.tasks import TASK_FAMILIES, task_family


def _write_json(path: str | None, payload) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """States an option's default unless it has none, or its help already says it."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


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


def _reproducing_command(args: argparse.Namespace) -> str:
    """The `learned-opt meta-train` command that writes what this one writes (a resumed run
    continues bit for bit where it stopped, so `--resume` is left out)."""
    words = ["learned-opt", "meta-train", "--config", args.config, "--out", args.out]
    for spec in args.family or ():
        words += ["--family", spec]
    if args.smoke:
        words.append("--smoke")
    return " ".join(words)


def meta_train_command(args: argparse.Namespace) -> int:
    if args.num_processes > 1:
        from learned_opt.meta.sharding import initialize_distributed

        initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    import jax

    from learned_opt.meta.recipe import load_attribute, load_recipe, recipe_file_name, run_recipe

    try:
        recipe, path = load_recipe(args.config)
        if args.family:
            recipe = recipe.with_families(tuple(load_attribute(spec) for spec in args.family))
    except (ImportError, AttributeError, ValueError) as error:
        raise SystemExit(f"learned-opt meta-train: error: {error}") from None
    if args.smoke:
        recipe = recipe.smoke()
    try:
        written = run_recipe(
            recipe,
            args.out,
            resume=args.resume,
            progress=not args.no_progress,
            recipe_file=recipe_file_name(path),
            command=_reproducing_command(args),
        )
    except FileExistsError as error:
        raise SystemExit(f"learned-opt meta-train: error: {error}") from None
    if jax.process_index() == 0:
        metadata = checkpoint.load(written).metadata
        for stage in metadata["stages"]:
            print(
                f"stage {stage['stage']}: best validation loss {stage['best_validation_loss']:.4g} at meta-step "
                f"{stage['best_step']} ({stage['seconds']:.0f} s)"
            )
        print(f"meta-trained recipe {recipe.name!r} in {metadata['seconds']:.0f} s; wrote {written}")
        _write_json(args.json, metadata)
    return 0


def export_command(args: argparse.Namespace) -> int:
    from learned_opt.checkpoint import export

    try:
        target = export(args.run, args.name)
    except ValueError as error:
        raise SystemExit(f"learned-opt export: error: {error}") from None
    print(f"wrote {target}")
    return 0


def plot_command(args: argparse.Namespace) -> int:
    from learned_opt.plotting import plot_metrics

    try:
        path = plot_metrics(args.metrics, args.out)
    except ValueError as error:
        raise SystemExit(f"learned-opt plot: error: {error}") from None
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
        rows, _ = compare(
            family,
            learned,
            args.baselines,
            seed=args.seed,
            num_problems=args.num_problems,
            tuning_problems=args.tuning_problems,
            num_steps=args.steps,
        )
    except ValueError as error:
        raise SystemExit(f"learned-opt evaluate: error: {error}") from None
    print(f"{args.task}: {args.num_problems} held-out problems, {args.steps} steps, seed {args.seed}")
    print(format_table(rows, args.steps))
    _write_json(args.json, [row.as_dict() for row in rows])
    return 0


def benchmark_command(args: argparse.Namespace) -> int:
    from learned_opt.data import availability
    from learned_opt.suite import SuiteConfig, run_suite

    config = SuiteConfig.quick() if args.quick else SuiteConfig()
    changes = {
        "datasets": tuple(args.datasets) if args.datasets else None,
        "num_seeds": args.seeds,
        "meta_steps": args.meta_steps,
    }
    config = dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
    availabilities = {name: availability(name) for name in config.datasets}
    missing = [f"{name}: {detail}" for name, (available, detail) in availabilities.items() if not available]
    if missing:
        raise SystemExit("learned-opt benchmark: error: " + "; ".join(missing))
    out = Path(args.out or f"benchmark-{time.strftime('%Y%m%d-%H%M%S')}")
    start = time.perf_counter()
    results = run_suite(config, out)
    print(f"wrote {out}/suite.json, suite.md and PNG curves in {time.perf_counter() - start:.0f}s")
    _write_json(args.json, results)
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from learned_opt.demo import format_rows, run_demo

    start = time.perf_counter()
    try:
        rows = run_demo(args.optimizer, args.steps, args.tuning_problems, args.seed, Path(args.plot))
    except ValueError as error:
        raise SystemExit(f"learned-opt demo: error: {error}") from None
    print(
        f"digits, MLP 64-64-10 ReLU, batch 128, {args.steps} steps, seed {args.seed}; Adam's learning rate "
        f"tuned on {args.tuning_problems} other seeds (log grid 1e-4..10)"
    )
    print(format_rows(rows))
    print(f"wrote {args.plot} ({time.perf_counter() - start:.0f}s in all)")
    _write_json(args.json, rows)
    return 0


def fewshot_command(args: argparse.Namespace) -> int:
    from learned_opt.fewshot.configs import default_config, format_result, run_fewshot

    overrides = {
        "test_ways": args.test_ways,
        "test_shots": args.test_shots,
        "iterations": args.iterations,
        "meta_batch": args.meta_batch,
        "inner_lr": args.inner_lr,
        "inner_steps": args.inner_steps,
        "eval_steps": args.eval_steps,
        "test_tasks": args.test_tasks,
        "validation_tasks": args.validation_tasks,
        "filters": args.filters,
        "seed": args.seed,
    }
    try:
        config = default_config(args.benchmark, args.method, args.shots, args.ways, **overrides)
    except ValueError as error:
        raise SystemExit(f"learned-opt fewshot: error: {error}") from None
    out = Path(args.out or f"fewshot-{config.name}")
    payload = run_fewshot(config, out, progress=not args.no_progress)
    print(format_result(payload))
    curve = ", ".join(f"{x:.4g}" for x in payload["test"]["curve"])
    print(f"test {payload['metric']} after 0..{config.eval_steps} steps: {curve}")
    print(f"wrote {out}/result.json and {out}/meta_params.msgpack")
    _write_json(args.json, payload)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from learned_opt.data import DATASETS

    parser = argparse.ArgumentParser(
        prog="learned-opt",
        description="Meta-train learned LSTM optimizers and compare them with tuned optax baselines.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "meta-train",
        help="meta-train a learned optimizer from a recipe file",
        description="Run a recipe (a rule, task families and meta-training stages; see learned_opt/recipes/) "
        "from random initialisation. Writes OUT/optimizer.msgpack (the last stage's best meta-parameters, with "
        "the recipe, code commit and wall time in its metadata), OUT/metrics.jsonl and, per stage, "
        "OUT/stage_K/ with its training state for --resume. The task batch is sharded over all JAX devices; "
        "several hosts join with --num-processes/--process-id/--coordinator-address.",
    )
    train.add_argument(
        "--config",
        required=True,
        metavar="RECIPE",
        help="a recipe file, or the name of one in learned_opt/recipes/ (quadratic, mlp, l2l, gated, "
        "gated_mlp_digits, ...)",
    )
    train.add_argument("--out", required=True, help="run directory to write")
    train.add_argument(
        "--family",
        action="append",
        metavar="MODULE:ATTRIBUTE",
        help="meta-train on this task family (a TaskFamily, or a function returning one) instead of "
        "the recipe's (repeatable)",
    )
    train.add_argument(
        "--smoke", action="store_true", help="the recipe at tiny sizes (2 meta-steps of 4 tasks): checks that it runs"
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in OUT (finished stages are kept; the stage in flight resumes)",
    )
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument("--num-processes", type=_positive_int, default=1, help="processes of a multi-host run")
    train.add_argument("--process-id", type=int, default=0, help="this process's rank in a multi-host run")
    train.add_argument(
        "--coordinator-address",
        default="127.0.0.1:12355",
        help="host:port of process 0 in a multi-host run (jax.distributed)",
    )
    train.add_argument("--json", metavar="PATH", help="also write the checkpoint's metadata as JSON here")
    train.set_defaults(handler=meta_train_command)

    export = commands.add_parser(
        "export",
        help="ship a finished run's checkpoint as a pretrained optimizer",
        description="Copy RUN/optimizer.msgpack, written by `learned-opt meta-train` from the recipe of the "
        "same name, to learned_opt/pretrained/NAME's file. The only step that writes there.",
    )
    export.add_argument("run", help="run directory of a finished `learned-opt meta-train`")
    export.add_argument("name", help="shipped optimizer name (see learned_opt.list_pretrained())")
    export.set_defaults(handler=export_command)

    evaluate = commands.add_parser(
        "evaluate",
        help="compare learned optimizers with learning-rate-tuned optax baselines",
        description="Run each checkpoint and each baseline on the same held-out test problems. "
        "Baselines get the learning rate, from a log grid (1e-4 .. 10, quarter decades), with the "
        "lowest mean final loss on separate tuning problems.",
        formatter_class=_HelpFormatter,
    )
    evaluate.add_argument(
        "--checkpoint",
        nargs="+",
        required=True,
        metavar="PATH",
        help="run directories or checkpoint files of learned optimizers, or names of shipped "
        "ones (learned_opt.list_pretrained())",
    )
    evaluate.add_argument("--task", choices=sorted(TASK_FAMILIES), default="quadratic", help="task family")
    evaluate.add_argument("--num-problems", type=_positive_int, default=100, help="held-out test problems")
    evaluate.add_argument("--tuning-problems", type=_positive_int, default=100, help="problems for tuning baselines")
    evaluate.add_argument("--steps", type=_positive_int, default=100, help="inner steps")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the test and tuning problems")
    evaluate.add_argument(
        "--baselines", nargs="*", default=["adam", "rmsprop", "sgd", "nesterov"], help="baselines to tune and run"
    )
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
        formatter_class=_HelpFormatter,
    )
    benchmark.add_argument("--quick", action="store_true", help="a reduced suite (digits, base task, 4 seeds)")
    benchmark.add_argument(
        "--out", help="output directory, reused by a later call (default: a new benchmark-DATE-TIME directory here)"
    )
    benchmark.add_argument(
        "--datasets",
        nargs="+",
        choices=sorted(DATASETS),
        metavar="DATASET",
        help=f"datasets among {', '.join(sorted(DATASETS))} (default: digits, mnist1d, and mnist "
        "when its files are present; quick: digits)",
    )
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
        formatter_class=_HelpFormatter,
    )
    demo.add_argument(
        "--optimizer",
        default=None,
        help="pretrained name (see learned_opt.list_pretrained(); default: the general-purpose one)",
    )
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
        formatter_class=_HelpFormatter,
    )
    plot.add_argument("metrics", help="a metrics.jsonl, or the run directory holding one")
    plot.add_argument("--out", help="PNG to write (default: metrics.png beside the log)")
    plot.set_defaults(handler=plot_command)

    fewshot = commands.add_parser(
        "fewshot",
        help="meta-train and test a few-shot method (MAML, first-order MAML, Reptile, pretraining, gated)",
        description="Meta-train METHOD on BENCHMARK's training tasks, choose its number of adaptation steps "
        "(and pretraining's fine-tuning step) on validation tasks (glyphs; sinusoid reports 10 steps), then "
        "report the test metric with its 95%% interval. Settings not given are the published ones "
        "(learned_opt/fewshot/configs.py). Writes OUT/result.json and OUT/meta_params.msgpack; the "
        "meta-training state is checkpointed in OUT, and the same command resumes it.",
        formatter_class=_HelpFormatter,
    )
    fewshot.add_argument("--benchmark", required=True, choices=["sinusoid", "glyphs"], help="task distribution")
    fewshot.add_argument(
        "--method", required=True, choices=["maml", "fomaml", "reptile", "pretrain", "gated"], help="meta-learner"
    )
    fewshot.add_argument("--shots", type=_positive_int, default=5, help="K: support examples per class (per task)")
    fewshot.add_argument(
        "--ways", type=_positive_int, default=5, help="N: classes per episode in meta-training (glyphs)"
    )
    fewshot.add_argument("--test-ways", type=_positive_int, help="N of the test episodes (default: --ways)")
    fewshot.add_argument("--test-shots", type=_positive_int, help="K of the test episodes (default: --shots)")
    fewshot.add_argument("--iterations", type=_positive_int, help="outer steps (default: the benchmark's)")
    fewshot.add_argument("--meta-batch", type=_positive_int, help="tasks per outer step (default: the benchmark's)")
    fewshot.add_argument("--inner-lr", type=_positive_float, help="inner step size (default: the method's)")
    fewshot.add_argument(
        "--inner-steps", type=_positive_int, help="inner steps in meta-training (default: the method's)"
    )
    fewshot.add_argument("--eval-steps", type=_positive_int, help="adaptation steps recorded at test (default 10)")
    fewshot.add_argument("--test-tasks", type=_positive_int, help="test episodes (default 600)")
    fewshot.add_argument("--validation-tasks", type=_positive_int, help="validation episodes (default 200)")
    fewshot.add_argument("--filters", type=_positive_int, help="conv filters per block (glyphs; default 32)")
    fewshot.add_argument("--seed", type=int, help="seed of meta-training and of the tasks (default 0)")
    fewshot.add_argument("--out", help="run directory (default: fewshot-NAME here); rerunning resumes it")
    fewshot.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    fewshot.add_argument("--json", metavar="PATH", help="also write the result as JSON here")
    fewshot.set_defaults(handler=fewshot_command)

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
        _write_json(
            args.json,
            {
                "root": str(root),
                "datasets": [
                    {"name": name, "available": available, "detail": detail}
                    for name, (available, detail) in rows.items()
                ],
            },
        )
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
    listing = actions.add_parser(
        "list",
        help="print each dataset and whether it is available locally",
        description="Print each dataset and whether it can be loaded without a download.",
    )
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
