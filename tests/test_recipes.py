"""Recipes: every recipe in the tree runs at smoke sizes; a run is deterministic; a stopped
run resumes to the meta-parameters of an uninterrupted one."""

import dataclasses

import jax
import numpy as np
import pytest

from learned_opt.checkpoint import CheckpointError, load
from learned_opt.meta import ES, ClippedAdam, MetaTrainConfig, Validation
from learned_opt.meta.recipe import Recipe, Stage, load_recipe, recipe_names, run_recipe
from learned_opt.optimizers import DirectLSTM
from learned_opt.tasks import QuadraticFamily


def leaves(path):
    return [np.asarray(x) for x in jax.tree.leaves(load(path).meta_params)]


# The shipped l2l and gated recipes compile the largest meta-steps: run with -m slow.
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in ("l2l", "gated") else n for n in recipe_names()]
)
def test_every_recipe_runs_at_smoke_sizes(name, tmp_path):
    recipe, path = load_recipe(name)
    assert recipe.name == name and path.name == f"{name}.py"
    written = run_recipe(recipe.smoke(), tmp_path / "run", progress=False)
    loaded = load(written)
    assert loaded.rule == recipe.rule
    assert len(loaded.metadata["stages"]) == len(recipe.stages)
    assert all(np.isfinite(stage["best_validation_loss"]) for stage in loaded.metadata["stages"])
    assert all(np.all(np.isfinite(x)) for x in leaves(written))
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count('"kind": "validation"') == 3 * len(recipe.stages)


def two_stage_recipe(meta_steps=(4, 3)) -> Recipe:
    config = MetaTrainConfig(
        num_meta_steps=meta_steps[0],
        num_tasks=4,
        horizon=8,
        truncation_length=4,
        validation=Validation(every=2, num_problems=4),
    )
    second = dataclasses.replace(
        config, num_meta_steps=meta_steps[1], outer_optimizer=ClippedAdam(learning_rate=1e-3), estimator=ES()
    )
    return Recipe(
        "two_stages", DirectLSTM(hidden_sizes=(4,)), (QuadraticFamily(dim=3),), (Stage(config), Stage(second))
    )


def test_a_recipe_run_is_deterministic_and_each_stage_starts_from_the_last_best(tmp_path):
    """Bitwise on one machine. Not across processors: XLA may vectorise and round float32
    sums differently on another CPU (the `gated` recipe, rebuilt on an AMD EPYC to the
    meta-step its shipped file was selected at, ends 0.7% above that file's validation loss,
    built on another processor), so checkpoints record `machine`."""
    first = run_recipe(two_stage_recipe(), tmp_path / "a", progress=False)
    second = run_recipe(two_stage_recipe(), tmp_path / "b", progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(leaves(first), leaves(second)))
    stage_0 = load(tmp_path / "a" / "stage_0")
    assert not all(np.array_equal(x, y) for x, y in zip(leaves(first), leaves(tmp_path / "a" / "stage_0")))
    assert load(first).metadata["stages"][0]["best_step"] == stage_0.metadata["best_step"]


def test_a_stopped_recipe_run_resumes_to_the_uninterrupted_result(tmp_path):
    uninterrupted = run_recipe(two_stage_recipe(), tmp_path / "whole", progress=False)
    # stopped after the first stage and half of the second: that run's state is on disk
    stopped = two_stage_recipe()
    stopped = dataclasses.replace(
        stopped, stages=(stopped.stages[0], Stage(dataclasses.replace(stopped.stages[1].config, num_meta_steps=2)))
    )
    run_recipe(stopped, tmp_path / "resumed", progress=False)
    (tmp_path / "resumed" / "stage_1" / "optimizer.msgpack").unlink()  # as if killed before the stage ended
    resumed = run_recipe(two_stage_recipe(), tmp_path / "resumed", resume=True, progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(leaves(uninterrupted), leaves(resumed)))


def test_resume_refuses_a_run_of_other_settings(tmp_path):
    run_recipe(two_stage_recipe(), tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match="other settings"):
        run_recipe(two_stage_recipe(meta_steps=(5, 3)), tmp_path / "run", resume=True, progress=False)
