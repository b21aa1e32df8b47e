"""Shipped optimizers: every one loads offline and trains a small model; the demo runs."""

import importlib.util
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import learned_opt as lo
from learned_opt.checkpoint import PRETRAINED, load_pretrained
from learned_opt.cli import main
from learned_opt.meta import MetaTrainConfig, SumOfLogLosses
from learned_opt.meta.config import describe
from learned_opt.meta.recipe import load_recipe
from learned_opt.meta.unroll import init_inner_state, unroll
from learned_opt.recipes._families import MLP_CLASSIFIERS
from learned_opt.tasks import MLPFamily

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def test_list_pretrained_names_the_shipped_files():
    names = lo.list_pretrained()
    assert {"l2l", "gated"} <= set(names)
    assert all(isinstance(text, str) and len(text) > 20 for text in names.values())
    assert set(names) == set(PRETRAINED)


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_each_pretrained_optimizer_lowers_the_loss(name):
    loaded = load_pretrained(name)
    assert loaded.rule.name in ("direct", "gated")
    tx = optax.chain(optax.clip_by_global_norm(100.0), lo.pretrained(name))  # composes like optax
    # The paper's base MLP (other seeds than in meta-training): every shipped optimizer has seen
    # this architecture; held-out architectures are measured by experiments/evaluate_pretrained.py.
    family = MLPFamily(hidden_sizes=(20,), activation="sigmoid", batch_size=64)
    data = family.sample_data(jax.random.PRNGKey(0))
    state = init_inner_state(family, tx, data, jax.random.PRNGKey(1))
    state, losses = jax.jit(lambda s: unroll(family, tx, s, 60))(state)
    losses = np.asarray(losses)
    assert np.all(np.isfinite(losses))
    assert losses[-5:].mean() < 0.6 * losses[:5].mean(), (name, losses[:5], losses[-5:])


def flat_record(config: MetaTrainConfig) -> dict:
    """`config` as the files written before the settings were objects record it (one flat
    record, string switches): what the shipped files built then hold."""
    estimator, outer, validation = config.estimator, config.outer_optimizer, config.validation
    return {
        "num_meta_steps": config.num_meta_steps,
        "num_tasks": config.num_tasks,
        "horizon": config.horizon,
        "truncation_length": config.truncation_length,
        "truncation_schedule": "fixed",
        "min_truncation_length": 1,
        "estimator": type(estimator).__name__.lower(),
        "es_std": getattr(estimator, "std", 0.01),
        "meta_learning_rate": outer.learning_rate,
        "max_grad_norm": outer.max_grad_norm,
        "normalize_meta_gradient": False,
        "second_order": estimator.second_order,
        "remat": estimator.remat,
        "validate_every": validation.every,
        "num_validation_problems": validation.num_problems,
        "seed": config.seed,
        "meta_objective": "log_loss" if isinstance(config.objective, SumOfLogLosses) else "loss",
        "validate_on": "curve" if validation.whole_curve else "final",
    }


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_each_shipped_file_is_what_its_recipe_wrote(name):
    """A shipped file comes from the recipe of its name in this tree: same rule, same
    stages, written by a finished run of committed code."""
    metadata = load_pretrained(name).metadata
    recipe, _ = load_recipe(name)
    assert metadata["recipe"] == recipe.name == name and metadata["finished"]
    assert load_pretrained(name).rule == recipe.rule
    for recorded, stage in zip(metadata["stages"], recipe.stages, strict=True):
        settings = recorded["meta_train_config"]
        assert settings == (describe(stage.config) if "objective" in settings else flat_record(stage.config))
    assert metadata["families"] == [repr(f) for f in recipe.families]
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", metadata["code_commit"]) and metadata["seconds"] > 0
    if "command" in metadata:  # files built since runs record it: the recipe's own command, no other options
        assert re.fullmatch(rf"learned-opt meta-train --config {name} --out \S+", metadata["command"])
        assert metadata["recipe_file"] == f"learned_opt/recipes/{name}.py"


@pytest.mark.parametrize("name", list(PRETRAINED))
@pytest.mark.parametrize("gradient", [0.0, 1e-30])
def test_shipped_optimizers_keep_a_coordinate_without_gradient_still(name, gradient):
    """1000 steps of zero (or 1e-30) gradients, as an unused embedding row or a dead unit
    sees them: no coordinate moves away from zero, grows or changes sign (a forget gate
    below 1 may shrink it, a learned weight decay)."""
    tx = lo.pretrained(name)
    start = {"w": jnp.linspace(-1.0, 1.0, 11), "b": jnp.zeros((3,))}

    def step(carry, _):
        params, state = carry
        grads = jax.tree.map(lambda p: jnp.full_like(p, gradient), params)
        updates, state = tx.update(grads, state, params, value=jnp.float32(0.5))
        return (optax.apply_updates(params, updates), state), None

    (end, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, None, length=1000))((start, tx.init(start)))
    for before, after in zip(jax.tree.leaves(start), jax.tree.leaves(end)):
        before, after = np.asarray(before), np.asarray(after)
        assert np.all(np.abs(after) <= np.abs(before) + 1e-6), (name, after - before)
        assert np.all(np.sign(after[np.abs(before) > 1e-6]) == np.sign(before[np.abs(before) > 1e-6]))


def test_default_is_l2l_and_unknown_names_are_listed():
    assert lo.pretrained() is not None and load_pretrained(None).rule.name == "direct"
    with pytest.raises(ValueError, match="l2l, gated"):
        lo.pretrained("adamw")


def test_demo_prints_and_plots(tmp_path, capsys):
    plot = tmp_path / "demo.png"
    assert (
        main(
            [
                "demo",
                "--steps",
                "30",
                "--tuning-problems",
                "2",
                "--plot",
                str(plot),
                "--json",
                str(tmp_path / "demo.json"),
            ]
        )
        == 0
    )
    rows = json.loads((tmp_path / "demo.json").read_text())
    assert [row["optimizer"] for row in rows] == ["learned (l2l)", "adam"]
    for row in rows:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and np.isfinite(row["final_train_loss"]) and row["seconds"] > 0
        assert row["seeds"] == 5
    assert plot.stat().st_size > 1000
    out = capsys.readouterr().out
    assert "test accuracy" in out and "| adam |" in out and "Medians over 5 seeds" in out


def test_held_out_architectures_are_not_meta_training_families():
    """experiments/evaluate_pretrained.py's held-out architectures are not among those the
    shipped general-purpose optimizers are meta-trained on, except the paper's base task, the
    digits 20 sigmoid network (on unseen seeds)."""
    spec = importlib.util.spec_from_file_location("evaluate_pretrained", EXPERIMENTS / "evaluate_pretrained.py")
    evaluate_pretrained = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate_pretrained)
    trained = {family[:3] for family in MLP_CLASSIFIERS}
    assert trained & set(evaluate_pretrained.HELD_OUT) == {("digits", (20,), "sigmoid")}
