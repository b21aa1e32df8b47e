"""The outer loop: meta-gradients over truncated inner training, applied with Adam.

Andrychowicz et al. 2016, Sec. 2 and 3: the meta-loss of one truncation is
L(phi) = E_f [ sum_{t=1..T} w_t f(theta_t) ] with w_t = 1, averaged over a batch of tasks;
the optimizee parameters and the optimizer's recurrent states carry over from one
truncation to the next until a task reaches its horizon, when it is redrawn.

The whole meta-training state (meta-parameters, outer optimizer state, in-flight tasks,
estimator state, random key, step, best-so-far) is one pytree, saved atomically at every
validation when a run directory is given, so that a run killed at any moment and resumed
ends with exactly the meta-parameters of an uninterrupted run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

try:  # progress bars are the `progress` extra: meta-training runs without them
    from tqdm import tqdm
except ImportError:
    tqdm = None

from learned_opt.checkpoint import CheckpointError, atomic_write, fits_architecture, save
from learned_opt.meta import sharding
from learned_opt.meta.config import MetaTrainConfig, describe
from learned_opt.meta.unroll import InnerState, init_inner_state, loss_curves, unroll
from learned_opt.optimizers import UpdateRule, learned_optimizer, rule_config
from learned_opt.optimizers.base import tree_all_finite
from learned_opt.tasks.base import TaskFamily, sample_problems, sample_task_data, split_key

PyTree = Any
TRAIN_STATE_FILENAME = "train_state.msgpack"
METRICS_FILENAME = "metrics.jsonl"
OPTIMIZER_FILENAME = "optimizer.msgpack"
TRAIN_STATE_FORMAT = "learned_opt.train_state"
TRAIN_STATE_VERSION = 1


class MetaTrainState(NamedTuple):
    meta_params: PyTree
    outer_state: PyTree
    tasks: InnerState  # batched over tasks
    estimator_state: PyTree
    key: jax.Array
    step: jax.Array
    best_meta_params: PyTree
    best_validation_loss: jax.Array
    best_step: jax.Array


class MetaTrainResult(NamedTuple):
    best_meta_params: PyTree
    best_validation_loss: float
    best_step: int
    final_meta_params: PyTree
    history: list[dict]


def fresh_tasks(rule: UpdateRule, family: TaskFamily, key, num_tasks: int, antithetic: bool = False) -> InnerState:
    """Newly drawn tasks at step 0 with fresh optimizer states. Antithetic batches hold
    each problem twice: tasks [0, P) and [P, 2P) are the same P problems."""
    num_problems = num_tasks // 2 if antithetic else num_tasks
    data_key, run_key = jax.random.split(key)
    data = sample_task_data(family, data_key, num_problems)
    tx = learned_optimizer(rule, None)  # init_state does not read meta-parameters
    tasks = jax.vmap(lambda d, k: init_inner_state(family, tx, d, k))(data, jax.random.split(run_key, num_problems))
    if antithetic:
        tasks = jax.tree.map(lambda x: jnp.concatenate([x, x]), tasks)
    return tasks


def _select_tasks(replace: jax.Array, new: InnerState, old: InnerState) -> InnerState:
    def select(n, o):
        return jnp.where(replace.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)

    return jax.tree.map(select, new, old)


def per_task_truncation_loss(
    rule: UpdateRule,
    family: TaskFamily,
    config: MetaTrainConfig,
    meta_params,
    tasks: InnerState,
    batched: bool,
):
    """sum_{t=1..T} f(theta_t) (or its `objective`) over one truncation, for every task, and the advanced tasks.
    With `batched`, meta_params has a leading task axis (one perturbed copy per task)."""

    def one_task(params, task):
        tx = learned_optimizer(rule, params)
        task, losses = unroll(
            family,
            tx,
            task,
            config.truncation_length,
            config.estimator.second_order,
            remat=config.estimator.remat,
        )
        return jnp.sum(config.objective.per_step(losses[1:])), task

    return jax.vmap(one_task, in_axes=(0 if batched else None, 0))(meta_params, tasks)


def make_meta_step(
    rule: UpdateRule, families: tuple[TaskFamily, ...], config: MetaTrainConfig, mesh=None, index: int = 0
):
    """The jitted meta-step on family `families[index]`: one truncation on every task of
    that family's batch (``state.tasks[index]``), one outer update.

    A step whose meta-loss or meta-gradient is not finite leaves the meta-parameters and
    the outer state unchanged and reports ``skipped = 1``. Tasks that reached the horizon,
    or whose truncation loss is not finite (``tasks_reset`` counts these), are redrawn.
    """
    if getattr(rule, "lstm_state_dtype", "float32") != "float32" and not config.estimator.antithetic:
        raise ValueError(
            f"the {type(config.estimator).__name__} estimator backpropagates through the update, and no derivative "
            f"flows through an LSTM state stored in {rule.lstm_state_dtype}: meta-train with "
            "lstm_state_dtype='float32' (it has no meta-parameters) or with the ES or PES estimator"
        )
    family = families[index]
    outer = config.outer_optimizer
    mesh = mesh if mesh is not None else sharding.task_mesh()
    antithetic = config.estimator.antithetic

    def meta_step(state: MetaTrainState):
        # Four ways, as when a fourth key drew truncation lengths: the recorded runs, the
        # shipped files among them, repeat bit for bit.
        key, estimate_key, reset_key, _ = jax.random.split(state.key, 4)
        per_task_loss = functools.partial(per_task_truncation_loss, rule, family, config)
        meta_loss, losses, grads, tasks, estimator_state = config.estimator.estimate(
            per_task_loss, state.meta_params, state.tasks[index], state.estimator_state[index], estimate_key
        )
        finite = jnp.isfinite(meta_loss) & tree_all_finite(grads)
        grads = jax.tree.map(lambda g: jnp.where(finite, g, 0.0), grads)
        updates, outer_state = outer.update(grads, state.outer_state, state.meta_params)
        meta_params = optax.apply_updates(state.meta_params, updates)

        def keep(new, old):
            return jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)

        diverged = ~jnp.isfinite(losses)
        redraw = diverged | (tasks.step >= config.horizon)
        if antithetic:
            pair_redraw = jnp.split(redraw, 2)
            pair_redraw = pair_redraw[0] | pair_redraw[1]
            redraw = jnp.concatenate([pair_redraw, pair_redraw])
            estimator_state = config.estimator.reset_state(estimator_state, pair_redraw)
        # Tasks reach the horizon only once every few truncations: draw replacements only then.
        tasks = jax.lax.cond(
            jnp.any(redraw),
            lambda t: _select_tasks(redraw, fresh_tasks(rule, family, reset_key, config.num_tasks, antithetic), t),
            lambda t: t,
            tasks,
        )
        tasks = jax.lax.with_sharding_constraint(tasks, sharding.sharded(mesh))
        new_state = state._replace(
            meta_params=keep(meta_params, state.meta_params),
            outer_state=keep(outer_state, state.outer_state),
            tasks=state.tasks[:index] + (tasks,) + state.tasks[index + 1 :],
            estimator_state=state.estimator_state[:index] + (estimator_state,) + state.estimator_state[index + 1 :],
            key=key,
            step=state.step + 1,
        )
        metrics = {
            "meta_loss": meta_loss,
            "grad_norm": optax.tree.norm(grads),
            "skipped": (~finite).astype(jnp.int32),
            "tasks_reset": jnp.sum(diverged).astype(jnp.int32),
        }
        return new_state, metrics

    return jax.jit(meta_step)


def make_validation_loss(rule: UpdateRule, families: tuple[TaskFamily, ...], config: MetaTrainConfig):
    """Jitted validation loss on fixed validation problems: for every family the mean loss
    over its problems at step `horizon` (or, with ``Validation(whole_curve=True)``, at each
    step 1..horizon), as the meta-objective scores it, averaged over the steps and the
    families."""
    problems = [sample_problems(f, config.seed, "validation", config.validation.num_problems) for f in families]
    scored_steps = slice(1, None) if config.validation.whole_curve else slice(-1, None)

    @jax.jit
    def validation_loss(meta_params):
        tx = learned_optimizer(rule, meta_params)
        means = jnp.stack(
            [
                jnp.mean(loss_curves(f, tx, data, keys, config.horizon)[:, scored_steps], axis=0)
                for f, (data, keys) in zip(families, problems)
            ]
        )
        return jnp.mean(config.objective.score(means))

    return validation_loss


def initial_state(
    rule: UpdateRule,
    families: tuple[TaskFamily, ...],
    config: MetaTrainConfig,
    initial_meta_params: PyTree | None = None,
) -> MetaTrainState:
    """The meta-training state at step 0, on the host: one task batch per family. The
    meta-parameters are `rule.init`'s unless `initial_meta_params` are given (a warm start)."""
    init_key, task_key, run_key = jax.random.split(split_key(config.seed, "train"), 3)
    meta_params = rule.init(init_key)
    if initial_meta_params is not None:
        meta_params = checked_initial_meta_params(rule, meta_params, initial_meta_params)
    antithetic = config.estimator.antithetic
    # A single family keeps the undivided key, so single-family runs draw the same tasks as
    # the recorded results in the README were produced with.
    task_keys = [task_key] if len(families) == 1 else list(jax.random.split(task_key, len(families)))
    state = MetaTrainState(
        meta_params=meta_params,
        outer_state=config.outer_optimizer.init(meta_params),
        tasks=tuple(fresh_tasks(rule, f, k, config.num_tasks, antithetic) for f, k in zip(families, task_keys)),
        estimator_state=tuple(config.estimator.init_state(meta_params, config.num_tasks) for _ in families),
        key=run_key,
        step=jnp.zeros((), jnp.int32),
        best_meta_params=meta_params,
        best_validation_loss=jnp.asarray(jnp.inf, jnp.float32),
        best_step=jnp.zeros((), jnp.int32),
    )
    return jax.device_get(state)


def checked_initial_meta_params(rule: UpdateRule, template: PyTree, initial_meta_params: PyTree) -> PyTree:
    """`initial_meta_params` as float32 arrays in the containers of `template` (the rule's
    own meta-parameters), after checking that they fit the rule's architecture."""
    if not fits_architecture(rule, initial_meta_params):
        raise ValueError(
            "initial_meta_params do not match the rule's meta-parameters in structure or shapes; "
            "warm-start from a checkpoint of the same architecture"
        )
    leaves = [np.asarray(leaf, np.float32) for leaf in jax.tree.leaves(initial_meta_params)]
    return jax.tree.structure(template).unflatten(leaves)


def meta_params_fingerprint(meta_params: PyTree) -> str:
    """A SHA-256 of the meta-parameters' bytes: tells one warm start from another."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(meta_params):
        digest.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
    return digest.hexdigest()


def state_shardings(state: MetaTrainState, mesh) -> MetaTrainState:
    """Tasks split over the mesh, everything else replicated."""
    everything_replicated = jax.tree.map(lambda _: sharding.replicated(mesh), state)
    return everything_replicated._replace(tasks=jax.tree.map(lambda _: sharding.sharded(mesh), state.tasks))


def _run_identity(
    rule: UpdateRule,
    families: tuple[TaskFamily, ...],
    config: MetaTrainConfig,
    initial_meta_params: PyTree | None = None,
) -> str:
    """What a resumed run must share with the run that wrote the state (all settings but
    the number of meta-steps, which may be extended, and the warm start if any)."""
    settings = describe(config)
    del settings["num_meta_steps"]
    identity = {
        "rule": rule.name,
        "rule_config": rule_config(rule),
        "families": [repr(f) for f in families],
        "config": settings,
    }
    if initial_meta_params is not None:
        identity["initial_meta_params"] = meta_params_fingerprint(initial_meta_params)
    return json.dumps(identity, sort_keys=True)


def save_train_state(path: Path, state: MetaTrainState, identity: str) -> None:
    """Atomically writes the full meta-training state (process 0 only)."""
    leaves = sharding.to_host(jax.tree.leaves(state))
    if jax.process_index() != 0:
        return
    payload = {
        "format": TRAIN_STATE_FORMAT,
        "format_version": TRAIN_STATE_VERSION,
        "identity": identity,
        "step": int(sharding.to_host(state.step)),
        "leaves": {str(i): np.asarray(leaf) for i, leaf in enumerate(leaves)},
    }
    atomic_write(path, serialization.msgpack_serialize(payload))


def load_train_state(path: Path, template: MetaTrainState, identity: str) -> MetaTrainState:
    """Reads a state written by `save_train_state` into the structure of `template`."""
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
        leaves = [payload["leaves"][str(i)] for i in range(len(payload["leaves"]))]
    except Exception as error:  # msgpack raises several unrelated types on bad bytes
        raise CheckpointError(f"{path} is damaged: it cannot be decoded as a training state ({error})") from None
    if payload.get("format") != TRAIN_STATE_FORMAT or payload.get("format_version") != TRAIN_STATE_VERSION:
        raise CheckpointError(f"{path} is not a learned_opt training state of version {TRAIN_STATE_VERSION}")
    if payload.get("identity") != identity:
        raise CheckpointError(f"{path} was written by a run with other settings; resume with the same settings")
    template_leaves, treedef = jax.tree.flatten(template)
    if len(leaves) != len(template_leaves) or any(
        np.shape(a) != np.shape(b) or np.asarray(a).dtype != np.asarray(b).dtype
        for a, b in zip(leaves, template_leaves)
    ):
        raise CheckpointError(f"{path} is damaged: its arrays do not match this run's state")
    return treedef.unflatten(leaves)


def metrics_up_to(path: Path, step: int | None) -> list[str]:
    """Lines of a metrics log (one JSON record per line) up to a resumed `step`: the records
    after it will be written again by the resumed run. None (no resume): no lines."""
    if step is None or not path.is_file():
        return []
    return [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]


def train_state_step(run_dir) -> int | None:
    """The meta-step of the training state saved in a run directory, or None if none is."""
    path = Path(run_dir) / TRAIN_STATE_FILENAME
    if not path.is_file():
        return None
    return int(serialization.msgpack_restore(path.read_bytes())["step"])


def machine_description() -> str:
    """The processor model (from /proc/cpuinfo where there is one), its cores and the jax
    version: XLA may round differently on another processor, so a run repeats bit for bit
    only on the same kind of machine."""
    model = platform.processor() or platform.machine()
    try:
        models = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        model = models[0].split(":", 1)[1].strip() if models else model
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, jax {jax.__version__}"


def meta_train(
    rule: UpdateRule,
    family: TaskFamily | tuple[TaskFamily, ...],
    config: MetaTrainConfig = MetaTrainConfig(),
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    mesh=None,
    on_record: Callable[[dict], None] | None = None,
    on_best: Callable[[int, PyTree], None] | None = None,
    progress: bool = True,
    initial_meta_params: PyTree | None = None,
    metadata: dict | None = None,
) -> MetaTrainResult:
    """Meta-trains `rule` on `family` and returns the meta-parameters with the lowest
    validation loss (mean loss on held-out validation problems at step `horizon`, or over
    the whole loss curve with ``Validation(whole_curve=True)``).

    `family` may be a tuple of families whose parameters differ in structure (MLPs of
    several widths and depths, say): each keeps its own batch of tasks, meta-step k trains
    on family k mod len(family), and the validation loss averages over the families.

    With `run_dir`, the run writes there what `learned-opt meta-train` writes: the full
    training state (`train_state.msgpack`) at every validation, the metrics log
    (`metrics.jsonl`, one JSON record per line) as it goes, and `optimizer.msgpack`, the best
    meta-parameters so far (``"finished": false`` in its metadata until the run ends), with
    `metadata` and the run's settings in its metadata; with `resume=True` a saved state is
    picked up and the run continues from it. The task batch
    is sharded over `mesh` (default: all devices of all processes). `on_record` receives
    every metrics record (dicts with a "kind" of "train" or "validation") once it is on the
    host; `on_best(step, meta_params)` is called at each new best validation loss.

    `initial_meta_params` (for instance `learned_opt.load(path).meta_params` of a checkpoint)
    start the run from trained meta-parameters instead of `rule.init`: a fine-tune on other
    tasks or a longer horizon. A resumed run must be given the same ones.
    """
    families = tuple(family) if isinstance(family, (tuple, list)) else (family,)
    mesh = mesh if mesh is not None else sharding.task_mesh()
    if config.num_tasks % mesh.size:
        raise ValueError(f"num_tasks ({config.num_tasks}) must be a multiple of the {mesh.size} devices")
    host_state = initial_state(rule, families, config, initial_meta_params)
    identity = _run_identity(rule, families, config, None if initial_meta_params is None else host_state.meta_params)
    state_path = Path(run_dir) / TRAIN_STATE_FILENAME if run_dir is not None else None
    resumed = resume and state_path is not None and state_path.is_file()
    if resumed:
        host_state = load_train_state(state_path, host_state, identity)
    shardings = state_shardings(host_state, mesh)
    state = sharding.place(host_state, shardings)
    meta_steps = [make_meta_step(rule, families, config, mesh, index) for index in range(len(families))]
    validation_loss = make_validation_loss(rule, families, config)

    history: list[dict] = []
    writer = run_dir is not None and jax.process_index() == 0
    settings = {
        **(metadata or {}),
        "rule": rule.name,
        "rule_config": rule_config(rule),
        "families": [repr(f) for f in families],
        "meta_train_config": describe(config),
        "device": jax.devices()[0].device_kind,
        "machine": machine_description(),
    }
    start_time = time.perf_counter()
    previous_seconds = 0.0
    if writer:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        metrics_path = Path(run_dir) / METRICS_FILENAME
        kept = metrics_up_to(metrics_path, int(host_state.step) if resumed else None)
        metrics_path.write_text("".join(line + "\n" for line in kept))
        previous_seconds = max([json.loads(line).get("seconds", 0.0) for line in kept] or [0.0])
        metrics_file = open(metrics_path, "a", buffering=1)  # line-buffered: a killed run loses no record

    def record(entry: dict):
        history.append(entry)
        if writer:
            metrics_file.write(json.dumps(entry) + "\n")
        if on_record is not None:
            on_record(entry)

    def save_best(step: int, meta_params, finished: bool = False, **extra) -> None:
        if writer:
            save(
                Path(run_dir) / OPTIMIZER_FILENAME,
                rule,
                meta_params,
                {**settings, "best_step": step, "finished": finished, **extra},
            )

    def validate_and_save(state: MetaTrainState) -> MetaTrainState:
        step = int(sharding.to_host(state.step))
        loss = float(sharding.to_host(validation_loss(state.meta_params)))
        loss = loss if np.isfinite(loss) else float("inf")
        best = float(sharding.to_host(state.best_validation_loss))
        if loss < best or step == 0:
            best = loss
            state = state._replace(
                best_meta_params=state.meta_params,
                best_validation_loss=sharding.place(np.float32(loss), shardings.best_validation_loss),
                best_step=sharding.place(np.int32(step), shardings.best_step),
            )
            if on_best is not None or writer:
                best_params = sharding.to_host(state.meta_params)
                save_best(step, best_params, best_validation_loss=loss)
                if on_best is not None:
                    on_best(step, best_params)
        record(
            {
                "kind": "validation",
                "step": step,
                "validation_loss": loss,
                "best_validation_loss": best,
                "seconds": previous_seconds + time.perf_counter() - start_time,
            }
        )
        if state_path is not None:
            save_train_state(state_path, state, identity)
        return state

    first_step = int(host_state.step)
    if not resumed:
        state = validate_and_save(state)
    pending: list[dict] = []
    steps = range(first_step, config.num_meta_steps)
    bar = None
    if tqdm is not None and progress and jax.process_index() == 0:
        bar = tqdm(steps, initial=first_step, total=config.num_meta_steps, desc=f"meta-train {rule.name}")
    for step in bar if bar is not None else steps:
        state, metrics = meta_steps[step % len(families)](state)
        pending.append(metrics)
        if (step + 1) % config.validation.every == 0 or step + 1 == config.num_meta_steps:
            for done_step, done_metrics in zip(range(step + 2 - len(pending), step + 2), sharding.to_host(pending)):
                record({"kind": "train", "step": done_step, **{k: float(v) for k, v in done_metrics.items()}})
            pending = []
            state = validate_and_save(state)
            if bar is not None:
                bar.set_postfix(
                    meta_loss=f"{history[-2]['meta_loss']:.4g}",
                    valid=f"{history[-1]['validation_loss']:.4g}",
                    best=f"{history[-1]['best_validation_loss']:.4g}",
                )
    final = sharding.to_host(state)
    result = MetaTrainResult(
        final.best_meta_params, float(final.best_validation_loss), int(final.best_step), final.meta_params, history
    )
    if writer:
        metrics_file.close()
        validations = [json.loads(line) for line in (Path(run_dir) / METRICS_FILENAME).read_text().splitlines()]
        validations = [r for r in validations if r["kind"] == "validation"]
        save_best(
            result.best_step,
            result.best_meta_params,
            finished=True,
            best_validation_loss=result.best_validation_loss,
            initial_validation_loss=validations[0]["validation_loss"],
            skipped_meta_steps=int(sum(r.get("skipped", 0) for r in history)),
            seconds=previous_seconds + time.perf_counter() - start_time,
        )
    return result
