"""The meta-training engine: kill-and-resume equality, non-finite safety, sharding, multi-process."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

import learned_opt as lo
from learned_opt.meta import MetaTrainConfig, Validation, meta_train, train_state_step
from learned_opt.tasks import QuadraticFamily

TINY_RECIPE = textwrap.dedent("""
    from learned_opt.meta import MetaTrainConfig, Validation
    from learned_opt.meta.recipe import Recipe, Stage
    from learned_opt.optimizers import DirectLSTM
    from learned_opt.tasks import QuadraticFamily

    def get_config():
        config = MetaTrainConfig(num_meta_steps={meta_steps}, num_tasks=8, horizon=20, truncation_length=5,
                                 validation=Validation(every={validate_every}, num_problems=8))
        return Recipe("tiny", DirectLSTM(), (QuadraticFamily(),), (Stage(config),))
""")


def tiny_recipe(directory, meta_steps, validate_every):
    path = directory / "tiny_recipe.py"
    path.write_text(TINY_RECIPE.format(meta_steps=meta_steps, validate_every=validate_every))
    return path


def cli(recipe, out, *args):
    return [
        sys.executable,
        "-m",
        "learned_opt.cli",
        "meta-train",
        "--config",
        str(recipe),
        "--out",
        str(out),
        "--no-progress",
        *args,
    ]


def saved_leaves(run_dir):
    payload = serialization.msgpack_restore((run_dir / "stage_0" / "train_state.msgpack").read_bytes())
    return payload["step"], [payload["leaves"][str(i)] for i in range(len(payload["leaves"]))]


# Runs the CLI and SIGKILLs it from inside on the n-th validation: after that validation's train
# metrics are logged but before its training state is saved, so the kill is deterministic and
# leaves a metrics log that runs ahead of the saved state.
KILLED_ON_VALIDATION = textwrap.dedent("""
    import os, signal, sys
    import learned_opt.meta.train as train
    from learned_opt import cli

    kill_on_call = int(sys.argv[1])
    make_validation_loss = train.make_validation_loss

    def make_killing_validation_loss(*args, **kwargs):
        validation_loss = make_validation_loss(*args, **kwargs)
        calls = []

        def killing_validation_loss(meta_params):
            calls.append(None)
            if len(calls) == kill_on_call:
                os.kill(os.getpid(), signal.SIGKILL)
            return validation_loss(meta_params)

        return killing_validation_loss

    train.make_validation_loss = make_killing_validation_loss
    sys.exit(cli.main(sys.argv[2:]))
""")


@pytest.mark.slow
def test_sigkill_and_resume_equals_uninterrupted_run(tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    recipe = tiny_recipe(tmp_path, meta_steps=40, validate_every=4)
    subprocess.run(cli(recipe, reference), check=True, capture_output=True)

    # Validations run at steps 0, 4, 8, ...: the first run dies validating step 12 (state saved
    # at 8), the resumed one validating step 28 (its calls are at 12, 16, 20, 24, 28).
    for kill_on_call, saved_step in ((4, 8), (5, 24)):
        killed = subprocess.run(
            [sys.executable, "-c", KILLED_ON_VALIDATION, str(kill_on_call), *cli(recipe, interrupted, "--resume")[3:]],
            capture_output=True,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
        assert train_state_step(interrupted / "stage_0") == saved_step
        logged = [
            json.loads(line)["step"] for line in (interrupted / "stage_0" / "metrics.jsonl").read_text().splitlines()
        ]
        assert max(logged) == saved_step + 4  # the log runs ahead of the saved state
    subprocess.run(cli(recipe, interrupted, "--resume"), check=True, capture_output=True)

    reference_step, reference_leaves = saved_leaves(reference)
    resumed_step, resumed_leaves = saved_leaves(interrupted)
    assert reference_step == resumed_step == 40
    assert len(reference_leaves) == len(resumed_leaves)
    for a, b in zip(reference_leaves, resumed_leaves):
        np.testing.assert_array_equal(a, b)  # bitwise on CPU
    best_reference = lo.load(reference).meta_params
    best_resumed = lo.load(interrupted).meta_params
    jax.tree.map(np.testing.assert_array_equal, best_reference, best_resumed)
    # The metrics log holds each meta-step exactly once.
    records = [line for line in (interrupted / "metrics.jsonl").read_text().splitlines()]
    train_steps = [json.loads(r)["step"] for r in records if json.loads(r)["kind"] == "train"]
    assert train_steps == list(range(1, 41))


@dataclasses.dataclass(frozen=True)
class PoisonedQuadratic(QuadraticFamily):
    """A quadratic whose loss (and so gradient) is NaN from step 10 on, for one problem in four."""

    name: str = "poisoned_quadratic"

    def sample_data(self, key):
        data = super().sample_data(key)
        return {**data, "poisoned": jax.random.bernoulli(jax.random.fold_in(key, 7), 0.25)}

    def init_params(self, data, key):
        return {**super().init_params(data, key), "clock": jnp.zeros(())}

    def loss(self, data, params, batch=None):
        # `clock` moves with every update the optimizer makes, so the poison arrives mid-run.
        poison = data["poisoned"] & (jnp.abs(params["clock"]) > 1e-3)
        return super().loss(data, params, batch) + jnp.where(poison, jnp.nan, 0.0) + params["clock"] ** 2


def test_nan_gradients_never_reach_meta_parameters():
    config = MetaTrainConfig(
        num_meta_steps=24,
        num_tasks=8,
        horizon=20,
        truncation_length=5,
        validation=Validation(every=8, num_problems=8),
    )
    result = meta_train(lo.DirectLSTM(), PoisonedQuadratic(), config, progress=False)
    train = [r for r in result.history if r["kind"] == "train"]
    assert sum(r["skipped"] for r in train) > 0
    assert sum(r["tasks_reset"] for r in train) > 0
    assert sum(1 - r["skipped"] for r in train) > 0  # steps without poisoned tasks still train
    for params in (result.final_meta_params, result.best_meta_params):
        assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))
    initial = lo.DirectLSTM().init(jax.random.PRNGKey(0))
    moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), result.final_meta_params, initial)
    assert max(jax.tree.leaves(moved)) > 0


SHARDED_SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    import learned_opt as lo
    from learned_opt.meta import PES, TBPTT, MetaTrainConfig, Validation, meta_train
    from learned_opt.meta.sharding import task_mesh
    from learned_opt.tasks import QuadraticFamily
    assert len(jax.devices()) == 4, jax.devices()
    config = MetaTrainConfig(num_meta_steps=6, num_tasks=8, horizon=20, truncation_length=5,
                             validation=Validation(every=3, num_problems=8),
                             estimator={"tbptt": TBPTT(), "pes": PES()}[sys.argv[1]])
    one = meta_train(lo.DirectLSTM(), QuadraticFamily(), config, mesh=task_mesh(jax.devices()[:1]), progress=False)
    four = meta_train(lo.DirectLSTM(), QuadraticFamily(), config, mesh=task_mesh(), progress=False)
    for a, b in zip(jax.tree.leaves(one.final_meta_params), jax.tree.leaves(four.final_meta_params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    losses = lambda r: [x["meta_loss"] for x in r.history if x["kind"] == "train"]
    np.testing.assert_allclose(losses(one), losses(four), rtol=1e-5)
    print("EQUAL")
""")


@pytest.mark.parametrize("estimator", ["tbptt", pytest.param("pes", marks=pytest.mark.slow)])
def test_four_devices_equal_one_device(estimator):
    xla_flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"
    env = {**os.environ, "XLA_FLAGS": xla_flags, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", SHARDED_SCRIPT, estimator], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EQUAL" in result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path):
    recipe = tiny_recipe(tmp_path, meta_steps=6, validate_every=3)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    subprocess.run(cli(recipe, tmp_path / "single"), check=True, capture_output=True, env=env)
    address = f"127.0.0.1:{free_port()}"
    workers = [
        subprocess.Popen(
            cli(
                recipe,
                tmp_path / "multi",
                "--num-processes",
                "2",
                "--process-id",
                str(rank),
                "--coordinator-address",
                address,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for rank in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    single_step, single = saved_leaves(tmp_path / "single")
    multi_step, multi = saved_leaves(tmp_path / "multi")
    assert single_step == multi_step == 6
    for a, b in zip(single, multi):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
        lo.load(tmp_path / "single").meta_params,
        lo.load(tmp_path / "multi").meta_params,
    )
