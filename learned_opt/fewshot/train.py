"""Meta-training and evaluating few-shot methods: the outer loop, test-task statistics, and
the choices made on validation tasks."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from learned_opt.checkpoint import atomic_write
from learned_opt.fewshot.adaptation import adapt
from learned_opt.fewshot.benchmarks import map_tasks

try:  # progress bars are the `progress` extra
    from tqdm import tqdm
except ImportError:  # pragma: no cover - depends on the environment
    tqdm = None


class MetaTrainResult(NamedTuple):
    """The meta-parameters (the best validated ones, with validation), the meta-loss of
    every iteration, and the validation scores as (iteration, score) pairs."""

    meta_params: Any
    losses: np.ndarray
    validations: list[tuple[int, float]]


def default_outer_optimizer(learning_rate: float = 1e-3) -> optax.GradientTransformation:
    """Adam (the papers' outer optimizer); a step whose direction is not finite is skipped."""
    return optax.apply_if_finite(optax.adam(learning_rate), max_consecutive_errors=100)


def meta_train(
    method,
    benchmark,
    key,
    iterations: int,
    meta_batch: int,
    outer_optimizer: optax.GradientTransformation | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    save_every: int = 200,
    progress: bool = True,
    validate: Callable[[Any], float] | None = None,
    validate_every: int = 0,
) -> MetaTrainResult:
    """Meta-train `method` on `benchmark`'s training tasks: at iteration n, ``(loss, d) =
    method.meta_gradient(meta_params, fold_in(key, n), benchmark, meta_batch)`` and the outer
    optimizer steps along d, all in one jitted step with the tasks batched as ``benchmark.task_batching`` says.

    With `validate` (meta-parameters -> a score, lower is better) and `validate_every`, the
    meta-parameters are scored at every multiple of `validate_every` iterations and the best
    scored ones are returned: a learned initialisation can go on lowering the meta-loss at
    the trained number of inner steps while growing a curvature that more steps at test
    time overshoot (MAML on sinusoids trained with one step of 0.01 diverged after three
    test steps at 70,000 iterations; validated at 10 steps, it stays stable).

    With `checkpoint_path`, the state (meta-parameters, outer state, losses, best validated
    meta-parameters) is written there every `save_every` iterations and at the end, and a
    run finding the file resumes from it; the keys depend only on the iteration, so a
    resumed run equals an uninterrupted one.
    """
    outer = outer_optimizer or default_outer_optimizer()
    init_key, train_key = jax.random.split(key)
    meta_params = method.init(init_key, benchmark)
    outer_state = outer.init(meta_params)
    losses = np.zeros((iterations,), np.float32)
    validations: list[tuple[int, float]] = []
    best = meta_params
    start = 0
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if path is not None and path.exists():
        saved = serialization.msgpack_restore(path.read_bytes())
        template = {"meta_params": meta_params, "outer_state": outer_state, "best": meta_params}
        restored = serialization.from_state_dict(template, saved["state"])
        meta_params, outer_state, best = restored["meta_params"], restored["outer_state"], restored["best"]
        start = min(int(saved["iteration"]), iterations)
        losses[:start] = np.asarray(saved["losses"])[:start]
        validations = [(int(i), float(v)) for i, v in np.asarray(saved["validations"]).reshape(-1, 2)]

    @jax.jit
    def train_step(meta_params, outer_state, step_key):
        loss, direction = method.meta_gradient(meta_params, step_key, benchmark, meta_batch)
        updates, outer_state = outer.update(direction, outer_state, meta_params)
        return optax.apply_updates(meta_params, updates), outer_state, loss

    def save(iteration):
        state = serialization.to_state_dict({"meta_params": meta_params, "outer_state": outer_state, "best": best})
        payload = {
            "iteration": iteration,
            "losses": losses[:iteration],
            "validations": np.asarray(validations, np.float64).reshape(-1, 2),
            "state": jax.device_get(state),
        }
        atomic_write(path, serialization.msgpack_serialize(payload))

    steps = range(start, iterations)
    bar = None
    if progress and tqdm is not None:
        bar = tqdm(steps, initial=start, total=iterations, desc=f"{method.label} on {benchmark.name}")
        steps = bar
    for iteration in steps:
        meta_params, outer_state, loss = train_step(meta_params, outer_state, jax.random.fold_in(train_key, iteration))
        losses[iteration] = float(loss)
        if bar is not None and iteration % 20 == 0:
            bar.set_postfix(loss=f"{losses[max(0, iteration - 19) : iteration + 1].mean():.4f}")
        if validate is not None and validate_every and (iteration + 1) % validate_every == 0:
            score = float(validate(meta_params))
            if np.isfinite(score) and all(score < v for _, v in validations if np.isfinite(v)):
                best = meta_params
            validations.append((iteration + 1, score))
        if path is not None and (iteration + 1) % save_every == 0:
            save(iteration + 1)
    if path is not None:
        save(iterations)
    return MetaTrainResult(best if validations else meta_params, losses, validations)


class Evaluation(NamedTuple):
    """The query metric of every task after 0..steps adaptation steps, shape (tasks, steps+1)."""

    per_task: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """The mean over tasks after each number of steps."""
        return self.per_task.mean(axis=0)

    @property
    def interval(self) -> np.ndarray:
        """Half-width of the 95% confidence interval of `mean`, 1.96 std / sqrt(tasks)."""
        return 1.96 * self.per_task.std(axis=0, ddof=1) / math.sqrt(len(self.per_task))


def evaluator(method, benchmark, steps: int = 10, split: str = "test", chunk: int = 50):
    """A function ``(meta_params, key, tasks=600) -> Evaluation`` that adapts ``method``'s
    initialisation with its inner optimizer on the support sets of `tasks` episodes of
    `split` and records ``benchmark.metric`` on their query sets after each step, `chunk`
    tasks at a time. It compiles once, so scoring many meta-parameters (validation during
    meta-training) costs no recompilation."""

    @jax.jit
    def curves(meta_params, chunk_key):
        initial = benchmark.expand(method.initial_params(meta_params, benchmark))
        optimizer = method.inner_optimizer(meta_params)
        episodes = benchmark.episodes(chunk_key, chunk, split)

        def curve(episode):
            _, traced = adapt(
                benchmark.loss,
                initial,
                episode.support,
                optimizer,
                steps,
                trace=lambda params: benchmark.metric(params, episode.query),
            )
            return traced

        return map_tasks(curve, episodes, benchmark.evaluation_batching)

    def evaluate_meta_params(meta_params, key, tasks: int = 600) -> Evaluation:
        if tasks < 2:
            raise ValueError(f"evaluation needs at least 2 tasks for an interval, got {tasks}")
        chunks = [np.asarray(curves(meta_params, k)) for k in jax.random.split(key, -(-tasks // chunk))]
        return Evaluation(np.concatenate(chunks)[:tasks])

    return evaluate_meta_params


def evaluate(
    method, meta_params, benchmark, key, tasks: int = 600, steps: int = 10, split: str = "test", chunk: int = 50
) -> Evaluation:
    """``evaluator(method, benchmark, steps, split, chunk)(meta_params, key, tasks)``: the
    query metric of `tasks` episodes of `split` after 0..steps adaptation steps."""
    return evaluator(method, benchmark, steps, split, chunk)(meta_params, key, tasks)


def best_step(evaluation: Evaluation, higher_is_better: bool) -> int:
    """The number of adaptation steps with the best mean metric."""
    mean = evaluation.mean
    return int(np.argmax(mean) if higher_is_better else np.argmin(mean))


def tune_on_validation(
    method, meta_params, benchmark, key, steps: int, inner_lrs=(), tasks: int = 200, choose_steps: bool = True
) -> tuple[Any, int, dict]:
    """Choose, on validation tasks, the fine-tuning step size among `inner_lrs` (for a
    method with an ``inner_lr``; none keeps the method's own) and, with `choose_steps`, the
    number of adaptation steps (0..steps) that give the best validation metric (else `steps`).

    Returns:
      The method with the chosen ``inner_lr``, the chosen number of steps, and the
      validation mean metric of each step size, {inner_lr: (steps + 1,) means}.
    """
    candidates = [dataclasses.replace(method, inner_lr=lr) for lr in inner_lrs] or [method]
    sign = 1.0 if benchmark.higher_is_better else -1.0
    best, table = None, {}
    for candidate in candidates:
        evaluation = evaluate(candidate, meta_params, benchmark, key, tasks, steps, split="validation")
        step = best_step(evaluation, benchmark.higher_is_better) if choose_steps else steps
        table[getattr(candidate, "inner_lr", None)] = evaluation.mean
        score = sign * evaluation.mean[step]
        if best is None or score > best[0]:
            best = (score, candidate, step)
    return best[1], best[2], table


def as_jnp(tree):
    """A pytree of numpy arrays (as restored from a file) as JAX arrays."""
    return jax.tree.map(jnp.asarray, tree)
