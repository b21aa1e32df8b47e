"""The outer loop: truncated backpropagation through unrolled inner training, with Adam.

Andrychowicz et al. 2016, Sec. 2 and 3: the meta-loss of one truncation is
L(phi) = E_f [ sum_{t=1..T} w_t f(theta_t) ] with w_t = 1, averaged over a batch of tasks;
the optimizee parameters and the optimizer's recurrent states carry over from one
truncation to the next until the task's horizon is reached, when the tasks are redrawn.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from learned_opt.meta.unroll import InnerState, init_inner_state, loss_curves, unroll
from learned_opt.optimizers import UpdateRule, learned_optimizer
from learned_opt.tasks.base import TaskFamily, sample_problems, sample_task_data, split_key

PyTree = Any


@dataclasses.dataclass(frozen=True)
class MetaTrainConfig:
    """Settings of one meta-training run. `num_meta_steps` counts outer updates, one per
    truncation of `truncation_length` inner steps on `num_tasks` tasks."""

    num_meta_steps: int = 1000
    num_tasks: int = 64
    horizon: int = 100
    truncation_length: int = 20
    meta_learning_rate: float = 3e-3
    max_grad_norm: float = 10.0
    second_order: bool = False
    validate_every: int = 50
    num_validation_problems: int = 100
    seed: int = 0

    def __post_init__(self):
        for name in ("num_meta_steps", "num_tasks", "horizon", "truncation_length", "validate_every",
                     "num_validation_problems"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.horizon % self.truncation_length:
            raise ValueError(
                f"horizon ({self.horizon}) must be a multiple of truncation_length ({self.truncation_length})"
            )
        if self.meta_learning_rate <= 0 or self.max_grad_norm <= 0:
            raise ValueError("meta_learning_rate and max_grad_norm must be positive")

    @property
    def truncations_per_task(self) -> int:
        return self.horizon // self.truncation_length


class MetaTrainState(NamedTuple):
    meta_params: PyTree
    outer_state: PyTree
    tasks: InnerState  # batched over tasks
    key: jax.Array
    step: jax.Array


class MetaTrainResult(NamedTuple):
    best_meta_params: PyTree
    best_validation_loss: float
    best_step: int
    final_meta_params: PyTree
    history: list[dict]


def outer_optimizer(config: MetaTrainConfig) -> optax.GradientTransformation:
    """Adam on the meta-parameters, after clipping the meta-gradient's global norm."""
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.meta_learning_rate))


def truncation_meta_loss(meta_params, rule: UpdateRule, family: TaskFamily, tasks: InnerState,
                         truncation_length: int, second_order: bool):
    """Mean over tasks of sum_{t=1..T} f(theta_t) for one truncation; also the new tasks."""
    tx = learned_optimizer(rule, meta_params)
    tasks, losses = jax.vmap(lambda task: unroll(family, tx, task, truncation_length, second_order))(tasks)
    return jnp.mean(jnp.sum(losses[:, 1:], axis=1)), tasks


def fresh_tasks(rule: UpdateRule, family: TaskFamily, key, num_tasks: int) -> InnerState:
    """A batch of newly drawn tasks at step 0 with fresh optimizer states."""
    data_key, run_key = jax.random.split(key)
    data = sample_task_data(family, data_key, num_tasks)
    tx = learned_optimizer(rule, None)  # init_state does not read meta-parameters
    return jax.vmap(lambda d, k: init_inner_state(family, tx, d, k))(data, jax.random.split(run_key, num_tasks))


def _tree_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def make_meta_step(rule: UpdateRule, family: TaskFamily, config: MetaTrainConfig):
    """The jitted meta-step: one truncation on every task, one outer update.

    A step whose meta-loss or meta-gradient is not finite leaves the meta-parameters and
    the outer state unchanged and reports ``skipped = 1``.
    """
    outer = outer_optimizer(config)
    loss_and_grad = jax.value_and_grad(truncation_meta_loss, has_aux=True)

    @jax.jit
    def meta_step(state: MetaTrainState):
        (meta_loss, tasks), grads = loss_and_grad(
            state.meta_params, rule, family, state.tasks, config.truncation_length, config.second_order
        )
        finite = jnp.isfinite(meta_loss) & _tree_finite(grads)
        grads = jax.tree.map(lambda g: jnp.where(finite, g, 0.0), grads)
        updates, outer_state = outer.update(grads, state.outer_state, state.meta_params)
        meta_params = optax.apply_updates(state.meta_params, updates)
        keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
        new_state = MetaTrainState(
            keep(meta_params, state.meta_params), keep(outer_state, state.outer_state), tasks, state.key,
            state.step + 1,
        )
        metrics = {"meta_loss": meta_loss, "grad_norm": optax.tree.norm(grads), "skipped": (~finite).astype(jnp.int32)}
        return new_state, metrics

    return meta_step


def make_validation_loss(rule: UpdateRule, family: TaskFamily, config: MetaTrainConfig):
    """Jitted mean loss at step `horizon` on the fixed validation problems."""
    data, keys = sample_problems(family, config.seed, "validation", config.num_validation_problems)

    @jax.jit
    def validation_loss(meta_params):
        tx = learned_optimizer(rule, meta_params)
        return jnp.mean(loss_curves(family, tx, data, keys, config.horizon)[:, -1])

    return validation_loss


def meta_train(
    rule: UpdateRule,
    family: TaskFamily,
    config: MetaTrainConfig = MetaTrainConfig(),
    *,
    on_record: Callable[[dict], None] | None = None,
    on_best: Callable[[int, PyTree], None] | None = None,
    progress: bool = True,
) -> MetaTrainResult:
    """Meta-trains `rule` on `family` and returns the meta-parameters with the lowest
    validation loss (mean loss at step `horizon` on held-out validation problems).

    `on_record` receives every metrics record (dicts with a "kind" of "train" or
    "validation") as soon as it is on the host; `on_best(step, meta_params)` is called
    whenever the validation loss reaches a new best, so a caller can checkpoint it.
    """
    init_key, task_key = jax.random.split(split_key(config.seed, "train"))
    meta_params = rule.init(init_key)
    outer = outer_optimizer(config)
    state = MetaTrainState(meta_params, outer.init(meta_params), None, task_key, jnp.zeros((), jnp.int32))
    meta_step = make_meta_step(rule, family, config)
    validation_loss = make_validation_loss(rule, family, config)
    draw_tasks = jax.jit(lambda key: fresh_tasks(rule, family, key, config.num_tasks))

    history: list[dict] = []

    def record(entry: dict):
        history.append(entry)
        if on_record is not None:
            on_record(entry)

    def validate(meta_params) -> float:
        loss = float(validation_loss(meta_params))
        return loss if np.isfinite(loss) else float("inf")

    best_loss, best_step, best_params = validate(state.meta_params), 0, state.meta_params
    if on_best is not None:
        on_best(0, best_params)
    record({"kind": "validation", "step": 0, "validation_loss": best_loss, "best_validation_loss": best_loss})
    pending: list[tuple[int, dict]] = []
    bar = tqdm(range(config.num_meta_steps), desc=f"meta-train {rule.name}", disable=not progress)
    for step in bar:
        if step % config.truncations_per_task == 0:
            task_key, draw_key = jax.random.split(state.key)
            state = state._replace(tasks=draw_tasks(draw_key), key=task_key)
        state, metrics = meta_step(state)
        pending.append((step + 1, metrics))
        if (step + 1) % config.validate_every == 0 or step + 1 == config.num_meta_steps:
            for done_step, done_metrics in jax.device_get(pending):
                record({"kind": "train", "step": done_step, **{k: float(v) for k, v in done_metrics.items()}})
            pending = []
            loss = validate(state.meta_params)
            if loss < best_loss:
                best_loss, best_step, best_params = loss, step + 1, state.meta_params
                if on_best is not None:
                    on_best(best_step, best_params)
            record({"kind": "validation", "step": step + 1, "validation_loss": loss, "best_validation_loss": best_loss})
            bar.set_postfix(meta_loss=f"{history[-2]['meta_loss']:.4g}", valid=f"{loss:.4g}", best=f"{best_loss:.4g}")
    return MetaTrainResult(best_params, best_loss, best_step, state.meta_params, history)
