"""The generalisation suite of Andrychowicz et al. 2016, Sec. 3.2 (Figures 4 and 5).

Each update rule is meta-trained on the base task, an MLP with one hidden layer of 20
sigmoid units, batch 128, 100 steps. It is then run, next to Adam, RMSprop, SGD and
Nesterov momentum with learning rates tuned per variant, on held-out problems of the base
task and of variants it never saw: 200 steps, 40 hidden units, two hidden layers, ReLU.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from learned_opt import checkpoint
from learned_opt.evaluation import ResultRow, compare, format_table
from learned_opt.meta import ClippedAdam, MetaTrainConfig, Validation, meta_train
from learned_opt.meta.config import describe
from learned_opt.optimizers import DirectLSTM, GatedLSTM, UpdateRule, learned_optimizer
from learned_opt.tasks import MLPFamily

# (name, family settings changed from the base task, inner steps)
VARIANTS: tuple[tuple[str, dict, int], ...] = (
    ("base", {}, 100),
    ("200 steps", {}, 200),
    ("40 hidden units", {"hidden_sizes": (40,)}, 100),
    ("two hidden layers", {"hidden_sizes": (20, 20)}, 100),
    ("ReLU", {"activation": "relu"}, 100),
)


def default_datasets() -> tuple[str, ...]:
    """digits and mnist1d, and MNIST too when its files are present."""
    from learned_opt.data import availability

    return ("digits", "mnist1d") + (("mnist",) if availability("mnist")[0] else ())


@dataclasses.dataclass(frozen=True)
class SuiteConfig:
    """Sizes of one suite run. The defaults are the full suite; `quick()` a smoke-sized one."""

    datasets: tuple[str, ...] = dataclasses.field(default_factory=default_datasets)
    variants: tuple[str, ...] = tuple(name for name, _, _ in VARIANTS)
    num_seeds: int = 20
    tuning_problems: int = 20
    learning_rates: tuple[float, ...] = tuple(float(10.0**e) for e in np.arange(-4.0, 1.0 + 1e-9, 0.5))
    meta_steps: int = 300
    num_tasks: int = 16
    validation_problems: int = 32
    seed: int = 0

    @classmethod
    def quick(cls) -> SuiteConfig:
        return cls(
            datasets=("digits",),
            variants=("base",),
            num_seeds=4,
            tuning_problems=4,
            learning_rates=(1e-3, 1e-2, 1e-1, 1.0),
            meta_steps=6,
            num_tasks=4,
            validation_problems=4,
        )


def suite_rules() -> dict[str, tuple[UpdateRule, float]]:
    """Rules of the suite and their outer learning rates. The gated rule's input gate is
    bounded at 10 (`max_learning_rate`): with the paper's bound of 1 it settles at SGD with
    step 1, below what these MLPs need (notebooks/gates.ipynb)."""
    return {"direct": (DirectLSTM(), 3e-3), "gated": (GatedLSTM(max_learning_rate=10.0), 1e-2)}


def meta_train_base(rule: UpdateRule, meta_lr: float, dataset: str, config: SuiteConfig, run_dir: Path):
    """Meta-parameters of `rule` trained on the base task (reused from `run_dir` if present)."""
    path = run_dir / "optimizer.msgpack"
    if (run_dir / "done").is_file():
        return checkpoint.load(path, rule).meta_params
    meta_config = MetaTrainConfig(
        num_meta_steps=config.meta_steps,
        num_tasks=config.num_tasks,
        validation=Validation(every=max(config.meta_steps // 6, 1), num_problems=config.validation_problems),
        outer_optimizer=ClippedAdam(learning_rate=meta_lr),
        seed=config.seed,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.jsonl", "a") as metrics:
        result = meta_train(
            rule,
            MLPFamily(dataset=dataset),
            meta_config,
            run_dir=run_dir,
            resume=True,
            on_record=lambda r: metrics.write(json.dumps(r) + "\n"),
            progress=False,
        )
    checkpoint.save(
        path,
        rule,
        result.best_meta_params,
        metadata={"dataset": dataset, "meta_train_config": describe(meta_config)},
    )
    (run_dir / "done").write_text("")
    return result.best_meta_params


def run_suite(config: SuiteConfig, out_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Runs the suite and writes suite.json, suite.md and one PNG of loss curves per dataset."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"config": dataclasses.asdict(config), "datasets": {}}
    for dataset in config.datasets:
        learned = {}
        for name, (rule, meta_lr) in suite_rules().items():
            start = time.perf_counter()
            meta_params = meta_train_base(rule, meta_lr, dataset, config, out_dir / "runs" / f"{dataset}_{name}")
            learned[f"learned ({name})"] = learned_optimizer(rule, meta_params)
            log(f"{dataset}: meta-trained {name} ({time.perf_counter() - start:.0f}s)")
        per_variant = {}
        for variant, changes, steps in VARIANTS:
            if variant not in config.variants:
                continue
            family = dataclasses.replace(MLPFamily(dataset=dataset), **changes)
            rows, curves = compare(
                family,
                learned,
                seed=config.seed,
                num_problems=config.num_seeds,
                tuning_problems=config.tuning_problems,
                num_steps=steps,
                grid=config.learning_rates,
            )
            per_variant[variant] = {
                "steps": steps,
                "rows": [row.as_dict() for row in rows],
                "median": {name: np.median(c, axis=0).tolist() for name, c in curves.items()},
                "quartiles": {name: np.percentile(c, [25, 75], axis=0).tolist() for name, c in curves.items()},
            }
            log(f"{dataset} / {variant}:\n{format_table(rows, steps)}")
        results["datasets"][dataset] = per_variant
    (out_dir / "suite.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "suite.md").write_text(markdown_report(results))
    for dataset, per_variant in results["datasets"].items():
        plot_curves(dataset, per_variant, out_dir / f"suite_{dataset}.png")
    return results


def markdown_report(results: dict) -> str:
    config = results["config"]
    lines = [
        "# Generalisation suite (Andrychowicz et al. 2016, Figures 4-5)",
        "",
        f"Mean final training loss over {config['num_seeds']} held-out seeds (95% CI); baselines' "
        f"learning rates tuned per variant on {config['tuning_problems']} separate problems; each rule "
        f"meta-trained for {config['meta_steps']} meta-steps on the base task only. Produced by "
        "`learned-opt benchmark` (see suite.json for the settings).",
    ]
    for dataset, per_variant in results["datasets"].items():
        for variant, entry in per_variant.items():
            rows = [ResultRow(**row) for row in entry["rows"]]
            best = min(rows, key=lambda r: r.final_loss_mean)
            lines += [
                "",
                f"## {dataset}: {variant} ({entry['steps']} steps) — lowest: {best.optimizer}",
                "",
                format_table(rows, entry["steps"]),
            ]
    return "\n".join(lines) + "\n"


def plot_curves(dataset: str, per_variant: dict, path: Path) -> None:
    """Median loss and inter-quartile band over seeds, one panel per variant."""
    from learned_opt.plotting import pyplot

    plt = pyplot()

    figure, axes = plt.subplots(1, len(per_variant), figsize=(4 * len(per_variant), 3.2), squeeze=False)
    for axis, (variant, entry) in zip(axes[0], per_variant.items()):
        for name, median in entry["median"].items():
            low, high = entry["quartiles"][name]
            steps = np.arange(len(median))
            (line,) = axis.plot(steps, median, label=name, lw=1.2)
            axis.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
        axis.set(title=f"{dataset}: {variant}", xlabel="step", yscale="log")
    axes[0][0].set_ylabel("training loss")
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
