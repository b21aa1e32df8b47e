"""Meta-training lowers held-out loss; it is deterministic; its options change what they should."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import learned_opt as lo
from learned_opt.evaluation import problem_curves
from learned_opt.meta import (
    PES,
    TBPTT,
    ClippedAdam,
    MetaTrainConfig,
    SumOfLogLosses,
    SumOfLosses,
    Validation,
    meta_train,
)
from learned_opt.meta.config import describe
from learned_opt.meta.train import initial_state, make_validation_loss
from learned_opt.tasks import MLPFamily, QuadraticFamily

SMALL = MetaTrainConfig(num_meta_steps=120, num_tasks=32, validation=Validation(every=40, num_problems=32))


def held_out_final_loss(rule, meta_params, num_problems=64) -> float:
    tx = lo.learned_optimizer(rule, meta_params)
    return float(np.mean(problem_curves(QuadraticFamily(), tx, 0, "test", num_problems, 100)[:, -1]))


@pytest.fixture(scope="module")
def trained_direct():
    return meta_train(lo.DirectLSTM(), QuadraticFamily(), SMALL, progress=False)


@pytest.mark.parametrize("rule", [lo.DirectLSTM(), lo.GatedLSTM()], ids=["direct", "gated"])
def test_meta_training_lowers_held_out_loss(rule, trained_direct):
    result = trained_direct if rule.name == "direct" else meta_train(rule, QuadraticFamily(), SMALL, progress=False)
    untrained = held_out_final_loss(rule, rule.init(jax.random.split(jax.random.PRNGKey(0))[0]))
    trained = held_out_final_loss(rule, result.best_meta_params)
    assert np.isfinite(trained)
    assert trained < 0.7 * untrained, (trained, untrained)


def test_best_meta_params_are_the_best_validated(trained_direct):
    validations = [r for r in trained_direct.history if r["kind"] == "validation"]
    assert [r["step"] for r in validations] == [0, 40, 80, 120]
    assert trained_direct.best_validation_loss == min(r["validation_loss"] for r in validations)
    best = next(r for r in validations if r["validation_loss"] == trained_direct.best_validation_loss)
    assert trained_direct.best_step == best["step"]
    train_records = [r for r in trained_direct.history if r["kind"] == "train"]
    assert len(train_records) == SMALL.num_meta_steps
    assert all(np.isfinite(r["meta_loss"]) and r["skipped"] == 0 for r in train_records)


@pytest.mark.slow
def test_same_seed_same_meta_params():
    config = MetaTrainConfig(num_meta_steps=10, num_tasks=8, validation=Validation(every=5, num_problems=8))
    first = meta_train(lo.DirectLSTM(), QuadraticFamily(), config, progress=False)
    second = meta_train(lo.DirectLSTM(), QuadraticFamily(), config, progress=False)
    other_seed = meta_train(lo.DirectLSTM(), QuadraticFamily(), dataclasses.replace(config, seed=1), progress=False)
    jax.tree.map(np.testing.assert_array_equal, first.final_meta_params, second.final_meta_params)
    differences = jax.tree.map(
        lambda a, b: float(np.max(np.abs(a - b))), first.final_meta_params, other_seed.final_meta_params
    )
    assert max(jax.tree.leaves(differences)) > 0


def test_second_order_changes_the_meta_gradient():
    config = MetaTrainConfig(num_meta_steps=3, num_tasks=8, validation=Validation(every=3, num_problems=8))
    first = meta_train(lo.DirectLSTM(), QuadraticFamily(), config, progress=False)
    second = meta_train(
        lo.DirectLSTM(),
        QuadraticFamily(),
        dataclasses.replace(config, estimator=TBPTT(second_order=True)),
        progress=False,
    )
    first_losses = [r["meta_loss"] for r in first.history if r["kind"] == "train"]
    second_losses = [r["meta_loss"] for r in second.history if r["kind"] == "train"]
    # Same first forward pass; different gradients afterwards.
    assert first_losses[0] == pytest.approx(second_losses[0], rel=1e-6)
    first_norms = [r["grad_norm"] for r in first.history if r["kind"] == "train"]
    second_norms = [r["grad_norm"] for r in second.history if r["kind"] == "train"]
    assert first_norms[0] != pytest.approx(second_norms[0], rel=1e-4)


@pytest.mark.slow
def test_second_order_meta_gradient_of_the_gated_rule_is_finite_on_digits():
    """Digits' corner pixels are always 0, so their first-layer weights get exactly zero
    gradients and a zero RMS in the gated rule's normalised-moment features; the
    second-order meta-gradient must still be finite there rather than a skipped NaN step."""
    rule = lo.GatedLSTM(momentum_decays=(0.9,), descent_direction="normalized_momentum")
    config = MetaTrainConfig(
        num_meta_steps=2,
        num_tasks=2,
        horizon=2,
        truncation_length=2,
        estimator=TBPTT(second_order=True),
        validation=Validation(every=2, num_problems=2),
    )
    result = meta_train(rule, MLPFamily(hidden_sizes=(8,), batch_size=16), config, progress=False)
    train_records = [r for r in result.history if r["kind"] == "train"]
    assert [r["skipped"] for r in train_records] == [0, 0]
    assert all(np.isfinite(r["grad_norm"]) and r["grad_norm"] > 0 for r in train_records)


def test_clipped_adam_clips_each_meta_gradient_before_adam():
    """A meta-gradient above the clipping norm is cut to it before Adam, one below is not."""
    gradients = [{"w": jnp.array([300.0, -400.0])}, {"w": jnp.array([0.03, 0.04])}]

    def scale(g):
        return g * jnp.minimum(1.0, 10.0 / jnp.linalg.norm(g))

    outer, adam = ClippedAdam(learning_rate=0.1, max_grad_norm=10.0), optax.adam(0.1)
    params = {"w": jnp.zeros(2)}
    outer_state, adam_state = outer.init(params), adam.init(params)
    for gradient in gradients:
        update, outer_state = outer.update(gradient, outer_state, params)
        expected, adam_state = adam.update(jax.tree.map(scale, gradient), adam_state, params)
        np.testing.assert_allclose(update["w"], expected["w"], rtol=1e-6)


def test_any_optax_transformation_is_the_outer_optimizer():
    """Meta-training with a plain optax transformation as the outer optimizer: one SGD
    meta-step moves the meta-parameters by exactly -lr times the first meta-gradient, whose
    norm the metrics record; such a transformation is recorded as custom."""
    config = MetaTrainConfig(
        num_meta_steps=1,
        num_tasks=4,
        horizon=4,
        truncation_length=2,
        outer_optimizer=optax.sgd(1e-3),
        validation=Validation(every=1, num_problems=2),
    )
    rule = lo.DirectLSTM()
    result = meta_train(rule, QuadraticFamily(), config, progress=False)
    start = initial_state(rule, (QuadraticFamily(),), config).meta_params
    moved = float(optax.tree.norm(jax.tree.map(jnp.subtract, result.final_meta_params, start)))
    grad_norm = next(r["grad_norm"] for r in result.history if r["kind"] == "train")
    assert moved == pytest.approx(1e-3 * grad_norm, rel=1e-3)
    assert describe(config)["outer_optimizer"] == "custom optax transformation"
    assert describe(SMALL)["outer_optimizer"] == {"type": "ClippedAdam", "learning_rate": 3e-3, "max_grad_norm": 10.0}


@pytest.mark.parametrize(
    "bad",
    [
        lambda: MetaTrainConfig(horizon=100, truncation_length=30),
        lambda: MetaTrainConfig(truncation_length=0),
        lambda: MetaTrainConfig(num_tasks=0),
        lambda: MetaTrainConfig(num_tasks=7, estimator=PES()),
        lambda: ClippedAdam(learning_rate=0.0),
        lambda: PES(std=0.0),
        lambda: Validation(every=0),
    ],
)
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError):
        bad()


@pytest.mark.parametrize(
    "bad", [dict(estimator="pes"), dict(objective="log_loss"), dict(validation=50), dict(outer_optimizer=1e-3)]
)
def test_a_string_or_number_in_place_of_a_setting_object_is_rejected(bad):
    with pytest.raises(TypeError, match="must be"):
        MetaTrainConfig(**bad)


def test_families_of_different_structure_are_trained_in_turn():
    """Meta-steps alternate between families whose parameters differ in shape; the
    validation loss averages over both and goes down."""
    families = (QuadraticFamily(dim=3), QuadraticFamily(dim=6))
    config = MetaTrainConfig(num_meta_steps=60, num_tasks=16, validation=Validation(every=30, num_problems=16))
    result = meta_train(lo.DirectLSTM(), families, config, progress=False)
    validations = [r["validation_loss"] for r in result.history if r["kind"] == "validation"]
    assert result.best_validation_loss < 0.8 * validations[0]
    losses = np.array([r["meta_loss"] for r in result.history if r["kind"] == "train"])
    # A 6-dimensional quadratic has about twice the loss of a 3-dimensional one: the meta-loss
    # of odd steps (dim 6) is larger than that of the even steps next to them.
    assert np.mean(losses[1::2] > losses[0::2]) > 0.8


def test_log_loss_objective_counts_a_zero_loss_as_zero():
    """log f for positive losses, 0 (not minus infinity) for a loss of exactly 0."""
    losses = jax.numpy.array([2.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(
        np.asarray(SumOfLogLosses().per_step(losses)), [np.log(2.0), np.log(0.5), 0.0, 0.0], rtol=1e-6
    )
    np.testing.assert_array_equal(np.asarray(SumOfLosses().per_step(losses)), np.asarray(losses))
    gradient = jax.grad(lambda x: SumOfLogLosses().per_step(x).sum())(losses)
    np.testing.assert_allclose(np.asarray(gradient), [0.5, 2.0, 0.0, 0.0], rtol=1e-6)


@pytest.mark.parametrize("objective", [SumOfLosses(), SumOfLogLosses()], ids=["loss", "log_loss"])
def test_validation_scores_the_final_loss_or_the_whole_curve(trained_direct, objective):
    """Validation on the curve is the mean over steps 1..horizon of the per-step score that
    "final" takes at the horizon alone (the mean loss over problems, or its log)."""
    rule, families = lo.DirectLSTM(), (QuadraticFamily(dim=3), QuadraticFamily(dim=6))
    config = MetaTrainConfig(
        horizon=30, truncation_length=10, validation=Validation(num_problems=8), objective=objective
    )
    curves = [
        problem_curves(
            f, lo.learned_optimizer(rule, trained_direct.best_meta_params), config.seed, "validation", 8, 30
        ).mean(axis=0)
        for f in families
    ]
    score = np.log if isinstance(objective, SumOfLogLosses) else (lambda x: x)
    expected_final = np.mean([score(c[-1]) for c in curves])
    expected_curve = np.mean([score(c[1:]) for c in curves])
    final = make_validation_loss(rule, families, config)(trained_direct.best_meta_params)
    whole_curve = dataclasses.replace(config, validation=Validation(num_problems=8, whole_curve=True))
    curve = make_validation_loss(rule, families, whole_curve)(trained_direct.best_meta_params)
    assert float(final) == pytest.approx(expected_final, rel=1e-4)
    assert float(curve) == pytest.approx(expected_curve, rel=1e-4)
    assert abs(float(curve) - float(final)) > 1e-3 * abs(float(final))


def test_meta_training_on_the_log_loss_lowers_held_out_loss():
    config = MetaTrainConfig(
        num_meta_steps=60, num_tasks=16, validation=Validation(every=30, num_problems=16), objective=SumOfLogLosses()
    )
    rule = lo.DirectLSTM(momentum_decays=(0.5, 0.9))
    result = meta_train(rule, QuadraticFamily(), config, progress=False)
    validations = [r for r in result.history if r["kind"] == "validation"]
    assert result.best_validation_loss < validations[0]["validation_loss"]
    untrained = initial_state(rule, (QuadraticFamily(),), config).meta_params
    assert held_out_final_loss(rule, result.best_meta_params) < 0.5 * held_out_final_loss(rule, untrained)


def test_warm_start_begins_from_the_given_meta_params(trained_direct, tmp_path):
    config = dataclasses.replace(SMALL, num_meta_steps=2, validation=Validation(every=2, num_problems=32))
    result = meta_train(
        lo.DirectLSTM(),
        QuadraticFamily(),
        config,
        run_dir=tmp_path,
        progress=False,
        initial_meta_params=trained_direct.best_meta_params,
    )
    first_validation = next(r for r in result.history if r["kind"] == "validation")
    assert first_validation["step"] == 0
    # the same validation problems as the run that trained them: the same score at step 0
    assert first_validation["validation_loss"] == pytest.approx(trained_direct.best_validation_loss, rel=1e-5)
    untrained = meta_train(lo.DirectLSTM(), QuadraticFamily(), config, progress=False)
    assert (
        next(r for r in untrained.history if r["kind"] == "validation")["validation_loss"]
        > 1.2 * first_validation["validation_loss"]
    )
    longer = dataclasses.replace(config, num_meta_steps=4)
    with pytest.raises(lo.CheckpointError, match="other settings"):
        meta_train(lo.DirectLSTM(), QuadraticFamily(), longer, run_dir=tmp_path, resume=True, progress=False)


def test_warm_start_of_another_architecture_is_rejected():
    gated_params = lo.GatedLSTM().init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="structure or shapes"):
        meta_train(
            lo.DirectLSTM(),
            QuadraticFamily(),
            MetaTrainConfig(num_meta_steps=1, num_tasks=8),
            initial_meta_params=gated_params,
            progress=False,
        )
