"""The gated rule: close to gradient descent when untrained, gates shaped like the params."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import learned_opt as lo
from learned_opt.evaluation import record_gates
from learned_opt.meta.unroll import init_inner_state, unroll
from learned_opt.optimizers import find_gated_state, gate_statistics
from learned_opt.tasks import MLPFamily, QuadraticFamily, sample_problems

RULE = lo.GatedLSTM()


def trained_params(family, tx, num_steps, num_problems=16):
    data, keys = sample_problems(family, 0, "test", num_problems)

    def one(problem, key):
        state = init_inner_state(family, tx, problem, key)
        return unroll(family, tx, state, num_steps)[0].params

    return jax.jit(jax.vmap(one))(data, keys)


@pytest.mark.parametrize("seed", [0, 1])
def test_untrained_rule_is_gradient_descent_with_its_initial_gates(seed):
    """20 steps on quadratics: theta_t = f0 theta_{t-1} - i0 grad_t with f0 = sigmoid(b_f),
    i0 = sigmoid(b_i) holds to 1% (relative, max norm); plain gradient descent with step i0
    to 10% (the gap is the forget gate's weight retention, 1 - f0 = 0.25% a step)."""
    family = QuadraticFamily()
    tx = lo.learned_optimizer(RULE, RULE.init(jax.random.PRNGKey(seed)))
    i0 = RULE.initial_learning_rate
    f0 = 1.0 / (1.0 + math.exp(-RULE.forget_bias_init))
    assert i0 == pytest.approx(1.0 / (1.0 + math.exp(4.0)))
    learned = trained_params(family, tx, 20)["theta"]
    retention = optax.chain(optax.add_decayed_weights((1.0 - f0) / i0), optax.sgd(i0))
    with_retention = trained_params(family, retention, 20)["theta"]
    plain = trained_params(family, optax.sgd(i0), 20)["theta"]
    scale = np.max(np.abs(plain))
    assert np.max(np.abs(learned - with_retention)) / scale < 1e-2
    assert np.max(np.abs(learned - plain)) / scale < 1e-1
    # And it is not trivially equal to the start: the parameters did move.
    start = trained_params(family, tx, 0)["theta"]
    assert np.max(np.abs(learned - start)) / scale > 0.05


def test_gates_have_parameter_structure_and_lie_in_unit_interval():
    family = MLPFamily()
    tx = lo.learned_optimizer(RULE, RULE.init(jax.random.PRNGKey(0)))
    params = trained_params(family, tx, 5, num_problems=2)
    params = jax.tree.map(lambda x: x[0], params)
    state = tx.init(params)
    grads = jax.grad(family.loss, argnums=1)({}, params, family.sample_batch({}, jax.random.PRNGKey(3)))
    for _ in range(3):
        _, state = tx.update(grads, state, params, value=jnp.float32(2.3))
    for gates in (state.forget, state.input):
        assert jax.tree.structure(gates) == jax.tree.structure(params)
        for gate, param in zip(jax.tree.leaves(gates), jax.tree.leaves(params)):
            assert gate.shape == param.shape
            assert np.all((np.asarray(gate) > 0) & (np.asarray(gate) < 1))
    # Gates vary across coordinates once the LSTM has seen different gradients.
    assert np.std(np.asarray(state.input["dense_0"]["kernel"])) > 0


def test_update_is_finite_for_extreme_gradients_and_losses():
    params = {"w": jnp.linspace(-2.0, 2.0, 6).reshape(2, 3), "b": jnp.zeros(())}
    direction = {"w": jnp.array([[1.0, -1.0, 0.5], [-0.5, 2.0, -2.0]]), "b": jnp.asarray(-1.0)}
    tx = lo.learned_optimizer(RULE, RULE.init(jax.random.PRNGKey(0)))

    @jax.jit
    def three_steps(grad_scale, loss):
        grads = jax.tree.map(lambda d: grad_scale * d, direction)
        state, theta, all_updates = tx.init(params), params, []
        for _ in range(3):
            updates, state = tx.update(grads, state, theta, value=loss)
            theta = optax.apply_updates(theta, updates)
            all_updates.append(updates)
        return all_updates, theta, state.skipped

    for grad_scale in [0.0, 1e-30, 1e-10, 1.0, 1e10, 1e30]:
        for loss in [0.0, 1e-30, 1.0, 1e30]:
            updates, theta, skipped = three_steps(jnp.float32(grad_scale), jnp.float32(loss))
            assert all(np.all(np.isfinite(u)) for u in jax.tree.leaves(updates)), (grad_scale, loss)
            assert all(np.all(np.isfinite(p)) for p in jax.tree.leaves(theta)), (grad_scale, loss)
            assert int(skipped) == 0


def test_gate_statistics_and_recording():
    family = MLPFamily(hidden_sizes=(8,))
    tx = optax.chain(optax.clip_by_global_norm(10.0), lo.learned_optimizer(RULE, RULE.init(jax.random.PRNGKey(0))))
    record = record_gates(
        family, tx, family.sample_data(jax.random.PRNGKey(0)), jax.random.PRNGKey(1), 7, quantiles=(0.5,), full_size=10
    )
    assert record["loss"].shape == (7,)
    assert set(record["gates"]) == {
        "['dense_0']['bias']",
        "['dense_0']['kernel']",
        "['dense_1']['bias']",
        "['dense_1']['kernel']",
    }
    bias = record["gates"]["['dense_1']['bias']"]
    assert bias["forget"].shape == (7, 10) and bias["input_quantiles"].shape == (7, 1)
    np.testing.assert_allclose(bias["input_mean"], bias["input"].mean(axis=1), rtol=1e-5)
    assert "input" not in record["gates"]["['dense_0']['kernel']"]  # 64 * 8 coordinates > full_size
    # The statistics match the state found inside the chain.
    state = tx.init(family.init_params({}, jax.random.PRNGKey(0)))
    stats = gate_statistics(state, quantiles=(0.5,))
    np.testing.assert_allclose(
        stats["['dense_0']['kernel']"]["forget_mean"], find_gated_state(state).forget["dense_0"]["kernel"].mean()
    )


def test_max_learning_rate_scales_the_input_gate():
    """With max_learning_rate = s the untrained step is s * sigmoid(b_i), the gate in the
    state is that effective rate, and the update is exactly (f - 1) theta - i grad."""
    scaled = lo.GatedLSTM(max_learning_rate=10.0)
    assert scaled.initial_learning_rate == pytest.approx(10.0 * RULE.initial_learning_rate)
    params = {"w": jnp.array([0.5, -1.0, 2.0])}
    grads = {"w": jnp.array([0.1, 0.2, -0.3])}
    meta_params = scaled.init(jax.random.PRNGKey(0))
    tx = lo.learned_optimizer(scaled, meta_params)
    updates, state = tx.update(grads, tx.init(params), params, value=jnp.float32(1.0))
    unscaled_tx = lo.learned_optimizer(RULE, meta_params)
    _, unscaled_state = unscaled_tx.update(grads, unscaled_tx.init(params), params, value=jnp.float32(1.0))
    np.testing.assert_allclose(state.input["w"], 10.0 * unscaled_state.input["w"], rtol=1e-6)
    expected = (state.forget["w"] - 1.0) * params["w"] - state.input["w"] * grads["w"]
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-6)
    assert lo.GatedLSTM(max_learning_rate=10.0, input_bias_init=2.0).initial_learning_rate > 1.0  # past the paper's cap
    with pytest.raises(ValueError):
        lo.GatedLSTM(max_learning_rate=0.0)


def test_normalized_momentum_direction_with_open_gates_is_adam():
    """With f_t = 1 and a constant i_t, theta_t = theta_{t-1} - i_t m_t / (sqrt(v_t) + eps)
    is Adam with learning rate i_t: 30 steps on quadratics match optax.adam to 1e-4."""
    rule = lo.GatedLSTM(
        momentum_decays=(0.9, 0.5),
        descent_direction="normalized_momentum",
        forget_bias_init=40.0,
        input_bias_init=-3.0,
        gate_kernel_scale=0.0,
    )
    family = QuadraticFamily()
    learned = trained_params(family, lo.learned_optimizer(rule, rule.init(jax.random.PRNGKey(0))), 30)["theta"]
    adam = trained_params(family, optax.adam(rule.initial_learning_rate, b1=0.9, b2=0.999, eps=1e-8), 30)["theta"]
    start = trained_params(family, optax.adam(0.0), 0)["theta"]
    scale = np.max(np.abs(adam - start))
    assert scale > 0.1
    assert np.max(np.abs(learned - adam)) / scale < 1e-4


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(descent_direction="normalized_momentum"), "direction_decay"),
        (dict(descent_direction="sideways", momentum_decays=(0.9,)), "descent_direction"),
        (dict(momentum_decays=(1.0,)), r"\[0, 1\)"),
        (dict(second_moment_decay=-0.1), r"\[0, 1\)"),
    ],
)
def test_bad_moment_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        lo.GatedLSTM(**options)


def test_direct_rule_rejects_bad_momentum_decay():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        lo.DirectLSTM(momentum_decays=(0.5, 1.5))
