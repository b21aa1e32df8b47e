"""The learned optimizers as optax transforms: numerics, shapes and dtypes, composition with
optax, skipping of non-finite steps, and determinism. Both update rules, jit and no-jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import LEAF_SHAPES, RULE_VARIANTS, cached_jit, make_params, optimizer, tree_allclose, tree_equal

import learned_opt as lo

MAGNITUDES = (1e-30, 1e-10, 1.0, 1e10, 1e30)
LOSSES = (0.0, 1e-30, 1e-10, 1.0, 1e10, 1e30)


def all_finite(tree) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(x, np.float32)))) for x in jax.tree.leaves(tree))


def assert_all_zero(tree) -> None:
    for x in jax.tree.leaves(tree):
        np.testing.assert_array_equal(np.asarray(x, np.float32), 0.0)


def grads_like(params, seed: int = 1, scale: float = 1.0):
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return treedef.unflatten(
        [(scale * jax.random.normal(k, p.shape, jnp.float32)).astype(p.dtype) for k, p in zip(keys, leaves)]
    )


def small_params():
    """Two leaves: for tests about composition, where each extra leaf only adds compile time."""
    return {"matrix": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "vector": jnp.array([0.5, -2.0, 1.0])}


def transform(rule_meta):
    """The (cached) transform of `learned_optimizer(rule, rule.init(PRNGKey(0)))`."""
    rule, _ = rule_meta
    return optimizer(next(name for name, variant in RULE_VARIANTS.items() if variant == rule))[2]


# --------------------------------------------------------------------------- numerics


def extreme_grads(params):
    """Every leaf cycles through +-1e-30 .. +-1e30 and 0 (coordinates are independent)."""
    magnitudes = np.array(MAGNITUDES, np.float32)
    values = np.concatenate([magnitudes, -magnitudes, [0.0]])
    return jax.tree.map(lambda p: jnp.asarray(np.resize(values, p.shape), p.dtype), params)


def test_extreme_grads_cover_every_magnitude():
    conv = np.asarray(extreme_grads(make_params())["conv"]).ravel()
    assert np.unique(conv).size == 2 * len(MAGNITUDES) + 1
    assert conv.max() == np.float32(1e30) and conv.min() == np.float32(-1e30)
    assert np.min(np.abs(conv[conv != 0])) == np.float32(1e-30)


def test_updates_finite_for_extreme_gradients(rule_meta, variant, dtype):
    """Every magnitude 1e-30..1e30, both signs, and zero, over several steps (the
    recurrent state sees the extreme inputs too), for float32 and bfloat16."""
    tx = transform(rule_meta)
    params = make_params(dtype)
    grads = extreme_grads(params)
    update = variant(tx.update)
    state = tx.init(params)
    for _ in range(3):
        updates, state = update(grads, state, params, value=1.0)
        assert all_finite(updates)
        assert all_finite(state)
        params = optax.apply_updates(params, updates)
        assert all_finite(params)
    assert int(state.skipped) == 0


@pytest.mark.parametrize("magnitude", [0.0, *MAGNITUDES, *(-m for m in MAGNITUDES)])
def test_updates_finite_for_uniform_gradient(rule_meta, magnitude):
    """Every coordinate of every leaf carries the same extreme gradient."""
    tx = transform(rule_meta)
    params = make_params()
    grads = jax.tree.map(lambda p: jnp.full(p.shape, magnitude, p.dtype), params)
    updates, state = cached_jit(tx.update)(grads, tx.init(params), params, value=1.0)
    assert all_finite(updates)
    assert all_finite(state)
    assert int(state.skipped) == 0


@pytest.mark.parametrize("value", LOSSES)
def test_gated_finite_for_extreme_losses(variant, value):
    _, _, tx = optimizer("gated")
    params = make_params()
    grads = extreme_grads(params)
    update = variant(tx.update)
    state = tx.init(params)
    for _ in range(2):
        updates, state = update(grads, state, params, value=value)
        assert all_finite(updates)
        assert all_finite(state)
        params = optax.apply_updates(params, updates)
    assert int(state.skipped) == 0


def test_gated_loss_changes_update():
    """The loss is an input of the gated rule, not ignored."""
    rule = lo.GatedLSTM(gate_kernel_scale=1.0)
    tx = lo.learned_optimizer(rule, rule.init(jax.random.PRNGKey(0)))
    params = {"matrix": jnp.ones((3, 4))}
    grads = grads_like(params)
    state = tx.init(params)
    low, _ = tx.update(grads, state, params, value=1e-3)
    high, _ = tx.update(grads, state, params, value=1e3)
    assert not np.allclose(np.asarray(low["matrix"]), np.asarray(high["matrix"]))


# --------------------------------------------------------------------- shapes and dtypes


def test_structure_shapes_dtypes(rule_meta, variant, dtype):
    tx = transform(rule_meta)
    params = make_params(dtype)
    grads = grads_like(params)
    state = tx.init(params)
    update = variant(tx.update)
    for _ in range(2):
        updates, state = update(grads, state, params, value=2.0)
        assert jax.tree.structure(updates) == jax.tree.structure(params)
        for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
            assert u.shape == p.shape
            assert u.dtype == p.dtype
        assert all_finite(updates)
        # A real step: nothing but the empty leaf is left all zero.
        for name in ("scalar", "vector", "matrix", "conv"):
            assert np.any(np.asarray(updates[name], np.float32) != 0.0)
        new_params = optax.apply_updates(params, updates)
        for n, p in zip(jax.tree.leaves(new_params), jax.tree.leaves(params)):
            assert n.dtype == p.dtype and n.shape == p.shape
        params = new_params


def test_gated_state_gates_shaped_like_params(dtype):
    rule, _, tx = optimizer("gated")
    params = make_params(dtype)
    updates, state = tx.update(grads_like(params), tx.init(params), params, value=1.0)
    for gates in (state.forget, state.input):
        assert jax.tree.structure(gates) == jax.tree.structure(params)
        for g, p in zip(jax.tree.leaves(gates), jax.tree.leaves(params)):
            assert g.shape == p.shape and g.dtype == jnp.float32
            assert np.all((np.asarray(g) > 0.0) & (np.asarray(g) < 1.0))


def test_gated_update_follows_gate_equation():
    """update = (f_t - 1) * theta_{t-1} - i_t * grad_t with the gates kept in the state."""
    rule, _, tx = optimizer("gated")
    params = make_params()
    grads = grads_like(params)
    updates, state = tx.update(grads, tx.init(params), params, value=1.0)
    expected = jax.tree.map(lambda f, i, p, g: (f - 1.0) * p - i * g, state.forget, state.input, params, grads)
    tree_allclose(updates, expected, rtol=1e-5, atol=1e-7)
    # Untrained: close to gradient descent with step sigmoid(input_bias_init).
    np.testing.assert_allclose(np.asarray(state.input["matrix"]), rule.initial_learning_rate, rtol=0.05)


def test_direct_ignores_params_and_value():
    rule, _, tx = optimizer("direct")
    params = make_params()
    grads = grads_like(params)
    state = tx.init(params)
    bare, _ = tx.update(grads, state)
    full, _ = tx.update(grads, state, params, value=3.0)
    tree_equal(bare, full)


# --------------------------------------------------------------------------- composition


def test_unknown_keyword_is_ignored(rule_meta, variant):
    tx = transform(rule_meta)
    params = small_params()
    grads = grads_like(params)
    state = tx.init(params)
    plain, _ = variant(tx.update)(grads, state, params, value=1.0)
    extra, _ = variant(tx.update)(grads, state, params, value=1.0, some_unknown_keyword=jnp.ones(3))
    tree_equal(plain, extra)


def test_chain_with_clip_decay_and_schedule(rule_meta):
    """chain(clip, weight decay, tx, schedule) under jit equals applying those steps by hand."""
    tx = transform(rule_meta)
    decay = 1e-4
    schedule = optax.linear_schedule(1.0, 0.1, 10)
    chained = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.add_decayed_weights(decay),
        tx,
        optax.scale_by_schedule(schedule),
    )
    params = small_params()
    chained_update = jax.jit(chained.update)
    tx_update = cached_jit(tx.update)
    chained_state = chained.init(params)
    tx_state = tx.init(params)
    for step in range(3):
        grads = grads_like(params, seed=step, scale=10.0)  # global norm well above 1
        value = 5.0 - step
        updates, chained_state = chained_update(grads, chained_state, params, value=value, unknown_kw=7)
        assert all_finite(updates)

        norm = optax.tree.norm(grads)
        assert norm > 1.0
        clipped = jax.tree.map(lambda g: g / norm, grads)
        decayed = jax.tree.map(lambda g, p: g + decay * p, clipped, params)
        expected, tx_state = tx_update(decayed, tx_state, params, value=value)
        expected = jax.tree.map(lambda u: schedule(step) * u, expected)
        tree_allclose(updates, expected, rtol=2e-4, atol=1e-7)

        # ... and differs from the unchained update of the raw gradient (from step 1 on: a
        # rule that reads only RMS-normalised moments ignores the clipping's global scale).
        raw, _ = tx_update(grads, tx.init(params), params, value=value)
        if step > 0:
            assert not np.allclose(np.asarray(raw["matrix"]), np.asarray(updates["matrix"]), rtol=1e-3, atol=0)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(float(schedule(2)), 0.82, rtol=1e-6)  # the last step was scaled


def test_multisteps_accumulates(rule_meta):
    # MultiSteps switches with lax.cond, which compiles both branches even outside jit, so
    # only the jitted variant is run.
    tx = transform(rule_meta)
    multi = optax.MultiSteps(tx, 2)
    params = small_params()
    g1, g2 = grads_like(params, seed=1), grads_like(params, seed=2)
    update = jax.jit(multi.update)
    state = multi.init(params)

    first, state = update(g1, state, params, value=2.0)
    assert_all_zero(first)
    second, state = update(g2, state, params, value=1.5)

    mean = jax.tree.map(lambda a, b: (a + b) / 2, g1, g2)
    expected, expected_state = tx.update(mean, tx.init(params), params, value=1.5)
    tree_allclose(second, expected, rtol=1e-4, atol=1e-7)
    assert np.any(np.asarray(second["matrix"]) != 0.0)
    tree_allclose(state.inner_opt_state, expected_state, rtol=1e-4, atol=1e-7)


# -------------------------------------------------------------------------------- errors


def test_gated_without_value_raises(variant):
    rule, _, tx = optimizer("gated")
    params = make_params()
    with pytest.raises(ValueError, match="value"):
        variant(tx.update)(grads_like(params), tx.init(params), params)


def test_gated_without_params_raises(variant):
    rule, _, tx = optimizer("gated")
    params = make_params()
    with pytest.raises(ValueError, match="parameters"):
        variant(tx.update)(grads_like(params), tx.init(params), None, value=1.0)


def test_gated_in_chain_without_value_raises():
    _, _, tx = optimizer("gated")
    chained = optax.chain(optax.clip_by_global_norm(1.0), tx)
    params = make_params()
    with pytest.raises(ValueError, match="value"):
        jax.jit(chained.update)(grads_like(params), chained.init(params), params)


# --------------------------------------------------------------------- non-finite steps


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf, -jnp.inf])
def test_non_finite_gradient_skips_step(rule_meta, variant, bad):
    tx = transform(rule_meta)
    params = make_params()
    update = variant(tx.update)
    # Move the state away from its initial value first, so "unchanged" means something.
    state0 = tx.init(params)
    _, state = update(grads_like(params, seed=3), state0, params, value=1.0)
    assert int(state.skipped) == 0

    grads = grads_like(params)
    grads["conv"] = grads["conv"].at[1, 2, 0, 3].set(bad)  # one bad coordinate in one leaf
    updates, new_state = update(grads, state, params, value=1.0)
    assert jax.tree.structure(updates) == jax.tree.structure(params)
    assert_all_zero(updates)
    assert int(new_state.skipped) == 1
    tree_equal(new_state._replace(skipped=0), state._replace(skipped=0))

    updates, newer_state = update(grads, new_state, params, value=1.0)
    assert_all_zero(updates)
    assert int(newer_state.skipped) == 2

    # A finite step afterwards is the step the optimizer would have taken without the bad ones.
    good = grads_like(params, seed=4)
    after_skips, after_state = update(good, newer_state, params, value=1.0)
    reference, reference_state = update(good, state, params, value=1.0)
    tree_equal(after_skips, reference)
    assert int(after_state.skipped) == 2
    tree_equal(after_state._replace(skipped=0), reference_state._replace(skipped=0))


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf])
def test_gated_non_finite_loss_skips_step(variant, bad):
    rule, _, tx = optimizer("gated")
    params = make_params()
    state = tx.init(params)
    updates, new_state = variant(tx.update)(grads_like(params), state, params, value=float(bad))
    assert_all_zero(updates)
    assert int(new_state.skipped) == 1
    tree_equal(new_state._replace(skipped=0), state._replace(skipped=0))


def test_non_finite_gradient_bfloat16(rule_meta):
    tx = transform(rule_meta)
    params = make_params(jnp.bfloat16)
    grads = grads_like(params)
    grads["vector"] = grads["vector"].at[0].set(jnp.nan)
    updates, state = cached_jit(tx.update)(grads, tx.init(params), params, value=1.0)
    assert_all_zero(updates)
    assert int(state.skipped) == 1
    new_params = optax.apply_updates(params, updates)
    assert all_finite(new_params)


# --------------------------------------------------------------------------- determinism


def test_deterministic(rule_meta, variant):
    rule, meta_params = rule_meta
    tree_equal(rule.init(jax.random.PRNGKey(0)), meta_params)
    tx = transform(rule_meta)
    params = make_params()
    grads = grads_like(params)
    update = variant(tx.update)

    def run():
        state = tx.init(params)
        outputs = []
        for _ in range(2):
            updates, state = update(grads, state, params, value=1.0)
            outputs.append(updates)
        return outputs, state

    first, first_state = run()
    second, second_state = run()
    tree_equal(first, second)
    tree_equal(first_state, second_state)
    # ... while other meta-parameters give another optimizer.
    other = lo.learned_optimizer(rule, rule.init(jax.random.PRNGKey(1)))
    other_updates, _ = other.update(grads, other.init(params), params, value=1.0)
    assert not np.array_equal(np.asarray(other_updates["matrix"]), np.asarray(first[0]["matrix"]))


@pytest.mark.parametrize("name", ["direct-moments-steps", "gated-adam-direction-steps-loss"])
def test_step_features_make_the_update_depend_on_the_step_count(name):
    _, _, tx = optimizer(name)
    params = small_params()
    grads = grads_like(params)
    update = cached_jit(tx.update)
    state = tx.init(params)
    _, after_one = update(grads, state, params, value=1.0)
    assert int(after_one.step) == 1
    early, _ = update(grads, state, params, value=1.0)
    late, late_state = update(grads, state._replace(step=jnp.int32(300)), params, value=1.0)
    assert int(late_state.step) == 301
    assert not np.allclose(np.asarray(early["matrix"]), np.asarray(late["matrix"]))


def test_loss_change_features_make_the_gated_update_depend_on_the_loss_history():
    _, _, tx = optimizer("gated-adam-direction-steps-loss")
    params = small_params()
    grads = grads_like(params)
    update = cached_jit(tx.update)
    state = tx.init(params)
    _, after_one = update(grads, state, params, value=2.0)
    # the first step's loss enters the averages of log f: with decays 0 and 0.9 both are log 2 once bias-corrected
    np.testing.assert_allclose(np.asarray(after_one.loss_averages), [np.log(2.0), 0.1 * np.log(2.0)], rtol=1e-6)
    # Same state, gradients and loss; only the history of the loss differs.
    steady, _ = update(grads, after_one, params, value=2.0)
    risen, _ = update(grads, after_one._replace(loss_averages=after_one.loss_averages - 1.0), params, value=2.0)
    assert not np.allclose(np.asarray(steady["matrix"]), np.asarray(risen["matrix"]))


@pytest.mark.parametrize("decays", [(1.0,), (0.5, -0.1)])
def test_loss_change_decays_must_be_in_the_unit_interval(decays):
    with pytest.raises(ValueError, match=r"loss change decays must lie in \[0, 1\)"):
        lo.GatedLSTM(loss_change_decays=decays)


@pytest.mark.parametrize("rule_type", [lo.DirectLSTM, lo.GatedLSTM])
@pytest.mark.parametrize("timescales", [(0.0,), (10.0, -1.0)])
def test_step_timescales_must_be_positive(rule_type, timescales):
    with pytest.raises(ValueError, match="step timescales must be positive"):
        rule_type(step_timescales=timescales)


def test_leaf_shapes_fixture_is_covered():
    """Guards the shape coverage the tests above rely on."""
    shapes = {p.shape for p in jax.tree.leaves(make_params())}
    assert {(), (0,), (3, 3, 2, 4)} <= shapes and len(shapes) == len(
        jax.tree.leaves(LEAF_SHAPES, is_leaf=lambda x: isinstance(x, tuple))
    )
