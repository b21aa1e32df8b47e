"""The settings of each few-shot experiment, and one function that runs one: meta-train a
method on a benchmark, choose its adaptation on validation tasks, and score it on test tasks.

`learned-opt fewshot` and `experiments/fewshot.py` both run `run_fewshot` on a
`FewShotConfig` from `default_config`, so the command line and the published table share
every setting.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from learned_opt.fewshot.benchmarks import Sinusoid, glyph_classification
from learned_opt.fewshot.methods import METHODS
from learned_opt.fewshot.train import (
    as_jnp,
    default_outer_optimizer,
    evaluate,
    evaluator,
    meta_train,
    tune_on_validation,
)

BENCHMARKS = ("sinusoid", "glyphs")

# Per benchmark: meta-training and evaluation sizes, and each method's inner loop (a
# method's entry overrides the benchmark's sizes). Sinusoid: Finn et al. 2017 (Sec. 5.1): one
# SGD step of 0.01 in meta-training, meta-batch 25, Adam 1e-3 outside, with 40,000 iterations
# instead of 70,000 (MAML validated best at 36,000 of 70,000; it diverged after 64,000).
# Glyphs: Finn et al.'s Omniglot inner step (one step of 0.4), with a meta-batch of 8
# instead of 32 and 4,000 iterations instead of 60,000, which 2 CPU cores allow. Reptile
# takes several steps, as Nichol et al. 2018 do; the gated meta-learner several, as Ravi &
# Larochelle 2017 do, and, at about 100 times MAML's cost per iteration here, far fewer
# iterations. Pretraining's fine-tuning step is chosen among `finetune_lrs`.
DEFAULTS: dict[str, dict[str, Any]] = {
    "sinusoid": {
        "iterations": 40000,
        "meta_batch": 25,
        "eval_steps": 10,
        "validations": 20,
        "finetune_lrs": (0.001, 0.003, 0.01, 0.03, 0.1),
        "methods": {
            "maml": {"inner_lr": 0.01, "inner_steps": 1},
            "fomaml": {"inner_lr": 0.01, "inner_steps": 1},
            "reptile": {"inner_lr": 0.01, "inner_steps": 5},
            "pretrain": {"inner_lr": 0.01, "inner_steps": 10},
            "gated": {"inner_lr": 0.01, "inner_steps": 5, "iterations": 500, "validations": 5},
        },
    },
    "glyphs": {
        "iterations": 4000,
        "meta_batch": 8,
        "eval_steps": 5,
        "validation_tasks": 100,
        "finetune_lrs": (0.01, 0.03, 0.1, 0.3, 1.0),
        "methods": {
            "maml": {"inner_lr": 0.4, "inner_steps": 1},
            "fomaml": {"inner_lr": 0.4, "inner_steps": 1},
            "reptile": {"inner_lr": 0.4, "inner_steps": 5},
            "pretrain": {"inner_lr": 0.1, "inner_steps": 10},
            "gated": {"inner_lr": 0.4, "inner_steps": 3, "iterations": 150},
        },
    },
}


@dataclasses.dataclass(frozen=True)
class FewShotConfig:
    """One few-shot experiment.

    Attributes:
      benchmark: "sinusoid" or "glyphs".
      method: "maml", "fomaml", "reptile", "pretrain" or "gated".
      shots: K, support examples per class (per task for sinusoid).
      ways: N for glyphs (the learner is meta-trained at this N).
      test_ways, test_shots: N and K of the validation and test episodes (glyphs); None: `ways`
        and `shots`. A learner meta-trained at one N and K runs at any other (its read-out is
        one row tiled to the N ways).
      iterations: outer steps.
      meta_batch: tasks per outer step.
      outer_lr: Adam's step outside.
      inner_lr, inner_steps: the method's inner loop in meta-training (gated: the input
        gate's starting step).
      eval_steps: adaptation steps recorded at test time (0..eval_steps).
      choose_steps: the reported number of steps is chosen on validation tasks (else
        `eval_steps`).
      finetune_lrs: candidate fine-tuning steps of pretraining, chosen on validation tasks.
      validations: how often, evenly over meta-training, the meta-parameters are scored on
        `validation_tasks` validation tasks after `eval_steps` steps; the best scored are
        kept (`train.meta_train`). 0: the last are kept.
      validation_tasks, test_tasks: episodes for those choices and for the reported score.
      filters: conv filters per block (glyphs).
      seed: meta-training, validation and test keys.
    """

    benchmark: str
    method: str
    shots: int = 5
    ways: int = 5
    test_ways: int | None = None
    test_shots: int | None = None
    iterations: int = 1000
    meta_batch: int = 8
    outer_lr: float = 1e-3
    inner_lr: float = 0.01
    inner_steps: int = 1
    eval_steps: int = 10
    choose_steps: bool = True
    validations: int = 0
    finetune_lrs: tuple[float, ...] = ()
    validation_tasks: int = 200
    test_tasks: int = 600
    filters: int = 32
    seed: int = 0

    def __post_init__(self):
        if self.benchmark not in BENCHMARKS:
            raise ValueError(f"benchmark must be one of {BENCHMARKS}, got {self.benchmark!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {tuple(METHODS)}, got {self.method!r}")
        for field in ("shots", "ways", "iterations", "meta_batch", "inner_steps", "eval_steps", "filters"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be positive, got {getattr(self, field)}")
        if self.validation_tasks < 2 or self.test_tasks < 2:
            raise ValueError("validation_tasks and test_tasks need at least 2 tasks for an interval")

    @property
    def name(self) -> str:
        """A label such as 'glyphs-5way-1shot-maml', with '-test-20way-1shot' when tested
        on other episodes than it was meta-trained on."""
        if self.benchmark == "sinusoid":
            return f"sinusoid-{self.shots}shot-{self.method}"
        name = f"glyphs-{self.ways}way-{self.shots}shot-{self.method}"
        test = (self.test_ways or self.ways, self.test_shots or self.shots)
        return name if test == (self.ways, self.shots) else f"{name}-test-{test[0]}way-{test[1]}shot"

    def build_method(self):
        return METHODS[self.method](inner_lr=self.inner_lr, inner_steps=self.inner_steps)

    def build_benchmark(self, test: bool = False):
        """The meta-training benchmark, or with `test` the validation and test one."""
        if self.benchmark == "sinusoid":
            return Sinusoid(shots=self.shots)
        ways, shots = (self.test_ways or self.ways, self.test_shots or self.shots) if test else (self.ways, self.shots)
        return glyph_classification(ways=ways, shots=shots, filters=self.filters)


def default_config(benchmark: str, method: str, shots: int = 5, ways: int = 5, **overrides) -> FewShotConfig:
    """The published settings of `method` on `benchmark` (`DEFAULTS`), with `overrides`."""
    if benchmark not in DEFAULTS:
        raise ValueError(f"benchmark must be one of {BENCHMARKS}, got {benchmark!r}")
    defaults = DEFAULTS[benchmark]
    if method not in defaults["methods"]:
        raise ValueError(f"method must be one of {tuple(defaults['methods'])}, got {method!r}")
    sizes = {k: v for k, v in defaults.items() if k not in ("methods", "finetune_lrs")}
    settings = {
        **sizes,
        "choose_steps": benchmark != "sinusoid",
        "finetune_lrs": defaults["finetune_lrs"] if method == "pretrain" else (),
        **defaults["methods"][method],
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return FewShotConfig(benchmark=benchmark, method=method, shots=shots, ways=ways, **settings)


def _summary(evaluation, step: int) -> dict:
    return {
        "steps": step,
        "mean": float(evaluation.mean[step]),
        "interval": float(evaluation.interval[step]),
    }


def run_fewshot(config: FewShotConfig, out: str | Path | None = None, progress: bool = True) -> dict:
    """Meta-train `config.method` on `config.benchmark`, choose its adaptation on validation
    tasks (`choose_steps`; pretraining's fine-tuning step among `finetune_lrs`), and score it
    on `test_tasks` test episodes.

    With `out`, the meta-training state is checkpointed to OUT/meta_train.msgpack (a rerun
    resumes it), and OUT/meta_params.msgpack and OUT/result.json are written at the end; a
    finished run of the same config is read back instead of run again.

    Returns:
      {"config", "meta_train_seconds", "losses" (the meta-loss every 1% of iterations),
      "chosen" {"inner_lr", "steps"}, "test" {"steps", "mean", "interval", "curve",
      "curve_interval"}, "validation" {inner_lr: curve}, "metric"}.
    """
    out = Path(out) if out is not None else None
    if out is not None:
        if (out / "result.json").exists():
            finished = json.loads((out / "result.json").read_text())
            if finished["config"] == json.loads(json.dumps(dataclasses.asdict(config))):
                return finished
        out.mkdir(parents=True, exist_ok=True)
    method, benchmark = config.build_method(), config.build_benchmark()
    train_key, validation_key, test_key = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    validate = None
    if config.validations:
        score_on_validation = evaluator(method, benchmark, config.eval_steps, "validation")

        def validate(meta_params):
            evaluation = score_on_validation(meta_params, validation_key, config.validation_tasks)
            sign = -1.0 if benchmark.higher_is_better else 1.0
            return sign * evaluation.mean[-1]

    start = time.perf_counter()
    result = meta_train(
        method,
        benchmark,
        train_key,
        config.iterations,
        config.meta_batch,
        default_outer_optimizer(config.outer_lr),
        checkpoint_path=out / "meta_train.msgpack" if out is not None else None,
        progress=progress,
        validate=validate,
        validate_every=config.iterations // config.validations if config.validations else 0,
    )
    seconds = time.perf_counter() - start
    meta_params = as_jnp(result.meta_params)
    test_benchmark = config.build_benchmark(test=True)
    steps = config.eval_steps
    validation = {}
    if config.choose_steps or config.finetune_lrs:
        method, steps, validation = tune_on_validation(
            method,
            meta_params,
            test_benchmark,
            validation_key,
            config.eval_steps,
            config.finetune_lrs,
            config.validation_tasks,
            config.choose_steps,
        )
    test = evaluate(method, meta_params, test_benchmark, test_key, config.test_tasks, config.eval_steps)
    payload = {
        "config": dataclasses.asdict(config),
        "name": config.name,
        "metric": test_benchmark.metric_name,
        "meta_train_seconds": seconds,
        "losses": [float(chunk.mean()) for chunk in np.array_split(result.losses, min(100, config.iterations))],
        "validations": result.validations,
        "chosen": {"inner_lr": getattr(method, "inner_lr", None), "steps": steps},
        "validation": {str(lr): [float(x) for x in curve] for lr, curve in validation.items()},
        "test": {
            **_summary(test, steps),
            "curve": [float(x) for x in test.mean],
            "curve_interval": [float(x) for x in test.interval],
        },
    }
    if out is not None:
        (out / "meta_params.msgpack").write_bytes(serialization.msgpack_serialize(jax.device_get(result.meta_params)))
        (out / "result.json").write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def format_result(payload: dict) -> str:
    """One line: the test metric at the chosen steps, with its 95% interval."""
    test, chosen = payload["test"], payload["chosen"]
    lr = f", fine-tuning step {chosen['inner_lr']:g}" if payload["config"]["method"] == "pretrain" else ""
    return (
        f"{payload['name']}: test {payload['metric']} {test['mean']:.4g} ± {test['interval']:.2g} after "
        f"{test['steps']} steps{lr} ({payload['config']['test_tasks']} tasks; meta-trained in "
        f"{payload['meta_train_seconds']:.0f} s)"
    )
