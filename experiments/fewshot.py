"""Few-shot learning: MAML and first-order MAML (Finn et al. 2017), Reptile (Nichol et al.
2018), pretraining with fine-tuning, and the gated LSTM meta-learner (Ravi & Larochelle 2017)
on sinusoid regression (K = 5; K = 10 too with --sinusoid-shots 5 10) and on the generated
glyphs (one learner per method meta-trained on 5-way 1-shot episodes, tested on 5-way 1-shot,
5-way 5-shot and 20-way 1-shot episodes of the test scripts).

    python experiments/fewshot.py [--only sinusoid|glyphs] [--runs runs/fewshot] [--sinusoid-shots 5 10]

Each run is `learned-opt fewshot` with the published settings (learned_opt/fewshot/configs.py)
in RUNS/NAME; a stopped command resumes, and finished runs are read back. Writes
experiments/results/fewshot.{json,md}, fewshot_sinusoid.png (adapted curves of a few test
tasks) and fewshot_glyphs.png (test accuracy against adaptation steps). Two processes, one
with --only sinusoid and one with --only glyphs, share 2 cores well; a last call without
--only gathers both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from learned_opt.fewshot import adapt
from learned_opt.fewshot.configs import default_config, run_fewshot
from learned_opt.fewshot.train import as_jnp
from learned_opt.plotting import pyplot

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("maml", "fomaml", "reptile", "pretrain", "gated")
LABELS = {
    "maml": "MAML",
    "fomaml": "first-order MAML",
    "reptile": "Reptile",
    "pretrain": "pretrain + fine-tune",
    "gated": "gated LSTM meta-learner",
}


def configs(only: str | None, sinusoid_shots=(5,), methods=METHODS):
    """The experiment's runs: (table column, config, run directory name of its meta-training)."""
    runs = []
    if only in (None, "sinusoid"):
        for shots in sinusoid_shots:
            for method in methods:
                config = default_config("sinusoid", method, shots)
                runs.append((f"K = {shots}", config, config.name))
    if only in (None, "glyphs"):
        for test_ways, shots in ((5, 1), (5, 5), (20, 1)):
            for method in methods:
                config = default_config("glyphs", method, 1, 5, test_ways=test_ways, test_shots=shots)
                trained = default_config("glyphs", method, 1, 5).name
                runs.append((f"{test_ways}-way {shots}-shot", config, trained))
    return runs


def run_all(only, runs_dir: Path, progress: bool, sinusoid_shots=(5,), finished_only=False, methods=METHODS):
    """Runs (or reads back) every config; a test of the 5-way 1-shot learner on other
    episodes reuses its meta-training checkpoint. With `finished_only`, only the finished
    runs are read back and nothing is run."""
    results = []
    for column, config, trained in configs(only, sinusoid_shots, methods):
        out = runs_dir / config.name
        if finished_only and not (out / "result.json").exists():
            continue
        if out.name != trained and not (out / "meta_train.msgpack").exists():
            source = runs_dir / trained / "meta_train.msgpack"
            if source.exists():
                out.mkdir(parents=True, exist_ok=True)
                (out / "meta_train.msgpack").write_bytes(source.read_bytes())
        payload = run_fewshot(config, out, progress=progress)
        payload["column"] = column
        results.append(payload)
        print(f"{config.name}: {payload['test']['mean']:.4g} ± {payload['test']['interval']:.2g}", flush=True)
    return results


def table(results: list[dict], benchmark: str) -> str:
    """Markdown: a row per method, a column per setting, mean ± 95% interval at the reported steps."""
    rows = [r for r in results if r["config"]["benchmark"] == benchmark]
    columns = list(dict.fromkeys(r["column"] for r in rows))
    lines = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for method in METHODS:
        cells = []
        for column in columns:
            match = [r for r in rows if r["column"] == column and r["config"]["method"] == method]
            if not match:
                cells.append("-")
                continue
            test = match[0]["test"]
            value = f"{100 * test['mean']:.1f} ± {100 * test['interval']:.1f}%" if benchmark == "glyphs" else None
            value = value or f"{test['mean']:.3f} ± {test['interval']:.3f}"
            cells.append(f"{value} ({test['steps']})")
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_sinusoids(results: list[dict], runs_dir: Path, path: Path, tasks: int = 3) -> None:
    """Adapted K = 5 curves of a few test tasks, after 10 steps of each method."""
    plt = pyplot()
    chosen = [r for r in results if r["config"]["benchmark"] == "sinusoid" and r["config"]["shots"] == 5]
    if not chosen:
        return
    from learned_opt.fewshot.configs import FewShotConfig

    figure, axes = plt.subplots(1, tasks, figsize=(4.5 * tasks, 3.5), squeeze=False)
    x = jnp.linspace(-5.0, 5.0, 200)[:, None]
    episodes = None
    for payload in chosen:
        config = FewShotConfig(**{**payload["config"], "finetune_lrs": tuple(payload["config"]["finetune_lrs"])})
        method, benchmark = config.build_method(), config.build_benchmark()
        if payload["chosen"]["inner_lr"] is not None:
            method = dataclasses.replace(method, inner_lr=payload["chosen"]["inner_lr"])
        template = method.init(jax.random.PRNGKey(0), benchmark)
        stored = serialization.msgpack_restore((runs_dir / config.name / "meta_params.msgpack").read_bytes())
        meta_params = as_jnp(jax.tree.unflatten(jax.tree.structure(template), jax.tree.leaves(stored)))
        if episodes is None:
            episodes = benchmark.episodes(jax.random.PRNGKey(123), tasks, "test")
        initial = benchmark.expand(method.initial_params(meta_params, benchmark))
        optimizer = method.inner_optimizer(meta_params)
        for k in range(tasks):
            episode = jax.tree.map(lambda a, k=k: a[k], episodes)
            adapted, _ = adapt(benchmark.loss, initial, episode.support, optimizer, config.eval_steps)
            axes[0, k].plot(x[:, 0], benchmark_predict(adapted, x), label=LABELS[config.method])
    for k in range(tasks):
        episode = jax.tree.map(lambda a, k=k: a[k], episodes)
        amplitude, phase = np.asarray(episode.classes)
        axes[0, k].plot(x[:, 0], amplitude * np.sin(np.asarray(x[:, 0]) - phase), "k--", label="true")
        axes[0, k].plot(*[np.asarray(a)[:, 0] for a in episode.support], "k^", label="support (K = 5)")
        axes[0, k].set_title(f"test task {k + 1}: 10 adaptation steps")
    axes[0, 0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def benchmark_predict(params, x):
    from learned_opt.fewshot.models import mlp_apply

    return np.asarray(mlp_apply(params, x))[:, 0]


def plot_glyph_curves(results: list[dict], path: Path) -> None:
    """Test accuracy against adaptation steps, a panel per setting."""
    plt = pyplot()
    rows = [r for r in results if r["config"]["benchmark"] == "glyphs"]
    columns = list(dict.fromkeys(r["column"] for r in rows))
    if not columns:
        return
    figure, axes = plt.subplots(1, len(columns), figsize=(4.5 * len(columns), 3.5), squeeze=False)
    for panel, column in zip(axes[0], columns):
        for payload in (r for r in rows if r["column"] == column):
            curve, interval = np.asarray(payload["test"]["curve"]), np.asarray(payload["test"]["curve_interval"])
            steps = np.arange(len(curve))
            panel.plot(steps, curve, marker="o", ms=3, label=LABELS[payload["config"]["method"]])
            panel.fill_between(steps, curve - interval, curve + interval, alpha=0.2)
        panel.set_title(f"glyphs, {column} (test scripts)")
        panel.set_xlabel("adaptation steps")
        panel.set_ylabel("query accuracy")
    axes[0, 0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["sinusoid", "glyphs"], help="run one benchmark's part")
    parser.add_argument("--runs", default="runs/fewshot", help="directory of the runs")
    parser.add_argument("--sinusoid-shots", type=int, nargs="+", default=[5], help="the K of the sinusoid runs")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods to run")
    parser.add_argument(
        "--finished-only", action="store_true", help="write the tables from the finished runs only; run nothing"
    )
    args = parser.parse_args(argv)
    runs_dir = Path(args.runs)
    start = time.perf_counter()
    results = run_all(
        args.only, runs_dir, not args.no_progress, tuple(args.sinusoid_shots), args.finished_only, tuple(args.methods)
    )
    if args.only:
        print(f"{args.only}: {time.perf_counter() - start:.0f} s; run without --only to write the tables")
        return
    seconds = {
        benchmark: sum(r["meta_train_seconds"] for r in results if r["config"]["benchmark"] == benchmark)
        for benchmark in ("sinusoid", "glyphs")
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fewshot.json").write_text(json.dumps(results, indent=1) + "\n")
    report = [
        "# Few-shot learning",
        "",
        "Produced by `python experiments/fewshot.py`; settings in `learned_opt/fewshot/configs.py`. "
        "Mean over 600 test tasks ± the 95% interval, (in brackets) after that many adaptation steps.",
        "",
        "## Sinusoid regression (Finn et al. 2017, Sec. 5.1): query MSE after 10 steps",
        "",
        table(results, "sinusoid"),
        "",
        f"Meta-training time, all sinusoid runs: {seconds['sinusoid'] / 60:.0f} min on 2 CPU cores.",
        "",
        "## Glyphs (test scripts): query accuracy, steps chosen on validation scripts",
        "",
        table(results, "glyphs"),
        "",
        f"Meta-training time, all glyph runs: {seconds['glyphs'] / 60:.0f} min on 2 CPU cores. "
        "The 20-way column tests the 5-way 1-shot learners on 20-way episodes.",
        "",
    ]
    (RESULTS / "fewshot.md").write_text("\n".join(report))
    plot_sinusoids(results, runs_dir, RESULTS / "fewshot_sinusoid.png")
    plot_glyph_curves(results, RESULTS / "fewshot_glyphs.png")
    print(f"wrote experiments/results/fewshot.{{json,md}} and PNGs ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
