"""Running optimizers over held-out problems: loss curves and comparison tables."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import jax
import numpy as np

from learned_opt.meta.unroll import init_inner_state, loss_curves, unroll
from learned_opt.optimizers import gate_statistics
from learned_opt.tasks.base import TaskFamily, sample_problems


def problem_curves(family: TaskFamily, tx, seed: int, split: str, num_problems: int, num_steps: int) -> np.ndarray:
    """Jitted `loss_curves` on `num_problems` problems of a split, as a numpy array."""
    data, keys = sample_problems(family, seed, split, num_problems)
    run = jax.jit(lambda d, k: loss_curves(family, tx, d, k, num_steps))
    return np.asarray(run(data, keys))


class ResultRow(NamedTuple):
    """One optimizer's final losses summarised over problems."""

    optimizer: str
    learning_rate: float | None
    final_loss_mean: float
    final_loss_ci95: float
    log10_final_loss_mean: float
    num_problems: int

    def as_dict(self) -> dict:
        return self._asdict()


def summarize(name: str, learning_rate: float | None, final_losses: np.ndarray) -> ResultRow:
    """Mean final loss with the half-width of a normal-approximation 95% confidence
    interval, 1.96 * std / sqrt(n)."""
    final_losses = np.asarray(final_losses, np.float64)
    n = final_losses.size
    mean = float(np.mean(final_losses))
    ci95 = float(1.96 * np.std(final_losses, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    log10_mean = math.log10(mean) if mean > 0 and math.isfinite(mean) else float("nan")
    return ResultRow(name, learning_rate, mean, ci95, log10_mean, n)


def compare(
    family: TaskFamily,
    learned: dict,
    baselines: Iterable[str] = ("adam", "rmsprop", "sgd", "nesterov"),
    *,
    seed: int = 0,
    num_problems: int = 100,
    tuning_problems: int = 100,
    num_steps: int = 100,
    grid=None,
) -> tuple[list[ResultRow], dict[str, np.ndarray]]:
    """Runs learned optimizers (name -> optax transform) and learning-rate-tuned baselines on
    the same `num_problems` test problems for `num_steps` steps. Baselines are tuned on
    `tuning_problems` problems of the separate tuning split. Returns the summary rows and
    every optimizer's loss curves, shape (num_problems, num_steps + 1)."""
    from learned_opt.baselines import BASELINES, DEFAULT_LEARNING_RATES, tune_learning_rate

    rows, curves = [], {}
    candidates = [(name, tx, None) for name, tx in learned.items()]
    for name in baselines:
        if name not in BASELINES:
            raise ValueError(f"Unknown baseline {name!r}; baselines are {sorted(BASELINES)}")
        tuned = tune_learning_rate(
            name,
            family,
            seed=seed,
            num_problems=tuning_problems,
            num_steps=num_steps,
            grid=grid if grid is not None else DEFAULT_LEARNING_RATES,
        )
        candidates.append((name, tuned.transform(), tuned.learning_rate))
    for name, tx, learning_rate in candidates:
        curves[name] = problem_curves(family, tx, seed, "test", num_problems, num_steps)
        rows.append(summarize(name, learning_rate, curves[name][:, -1]))
    return rows, curves


def format_table(rows: Iterable[ResultRow], num_steps: int) -> str:
    """A Markdown table of result rows."""
    lines = [
        f"| optimizer | learning rate | mean loss at step {num_steps} (95% CI) | log10 mean final loss |",
        "|---|---|---|---|",
    ]
    for row in rows:
        rate = "learned" if row.learning_rate is None else f"{row.learning_rate:.3g}"
        lines.append(
            f"| {row.optimizer} | {rate} | {row.final_loss_mean:.4g} ± {row.final_loss_ci95:.2g} "
            f"| {row.log10_final_loss_mean:.3f} |"
        )
    return "\n".join(lines)


def gate_recording(family: TaskFamily, tx, num_steps: int, quantiles=(0.1, 0.5, 0.9), full_size: int = 64):
    """The pure function (data, key) -> (final inner state, (losses, gates)) that trains one
    problem for `num_steps` steps with a transform that contains the gated rule, recording
    after every step the loss before it and `gate_statistics` of the gates; to jit, or to
    vmap over problems and jit once."""

    def body(state, _):
        state, losses = unroll(family, tx, state, 1)
        return state, (losses[0], gate_statistics(state.opt_state, quantiles, full_size))

    def run(data, key):
        return jax.lax.scan(body, init_inner_state(family, tx, data, key), length=num_steps)

    return run


def record_gates(
    family: TaskFamily, tx, data, key, num_steps: int, quantiles=(0.1, 0.5, 0.9), full_size: int = 64
) -> dict:
    """Trains one problem with a transform that contains the gated rule and records, after
    every step, `gate_statistics` of its gates and the loss before the step (`gate_recording`).

    Returns numpy arrays with a leading step axis, ``"loss"`` (T,) and ``"gates"`` ({leaf
    path: {statistic: (T, ...)}}), and the end of the run: ``"params"`` (theta_T) and
    ``"opt_state"`` (whose gated state holds the last step's full gates).
    """
    run = jax.jit(gate_recording(family, tx, num_steps, quantiles, full_size))
    final, (losses, gates) = jax.device_get(run(data, key))
    return {"loss": np.asarray(losses), "gates": gates, "params": final.params, "opt_state": final.opt_state}
