"""Input features: log_and_sign (Andrychowicz et al. 2016, Appendix A) and the RMS-normalised moments."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learned_opt.features import (
    accumulate_log_loss,
    accumulate_moments,
    log_and_sign,
    loss_change_features,
    normalized_moment_features,
    step_features,
)

P = 10.0
F32_MAX = float(np.finfo(np.float32).max)


def expected(x: float, p: float = P) -> tuple[float, float]:
    """The paper's formula, evaluated in float64."""
    if abs(x) >= math.exp(-p):
        return math.log(abs(x)) / p, float(np.sign(x))
    return -1.0, math.exp(p) * x


@pytest.mark.parametrize(
    "x",
    [1e30, -1e30, 1e10, 123.0, 1.0, -1.0, 0.5, 1e-3, -1e-4, 1e-5, -1e-10, 1e-30, -1e-30, 0.0, F32_MAX, -F32_MAX],
)
def test_values_match_formula(x):
    out = np.asarray(log_and_sign(jnp.float32(x)))
    assert out.shape == (2,)
    first, second = expected(float(np.float32(x)))
    np.testing.assert_allclose(out, [first, second], rtol=1e-5, atol=1e-30)


def test_known_values():
    out = np.asarray(log_and_sign(jnp.array([1.0, -1.0, 0.0, math.e, 1e-5])))
    np.testing.assert_allclose(
        out, [[0.0, 1.0], [0.0, -1.0], [-1.0, 0.0], [0.1, 1.0], [-1.0, math.exp(10) * 1e-5]], rtol=1e-6
    )


def test_small_branch_is_linear_and_keeps_sign():
    x = jnp.array([1e-30, -1e-30, 1e-12, -1e-12])
    out = np.asarray(log_and_sign(x))
    np.testing.assert_array_equal(out[:, 0], -1.0)
    np.testing.assert_allclose(out[:, 1], math.exp(P) * np.asarray(x), rtol=1e-6)
    assert np.all(np.sign(out[:, 1]) == np.sign(np.asarray(x)))


def test_continuous_at_threshold():
    threshold = math.exp(-P)
    below = np.asarray(log_and_sign(jnp.float32(threshold * (1 - 1e-4))))
    above = np.asarray(log_and_sign(jnp.float32(threshold * (1 + 1e-4))))
    np.testing.assert_allclose(below, [-1.0, 1.0], atol=1e-3)
    np.testing.assert_allclose(above, [-1.0, 1.0], atol=1e-3)


def test_other_p():
    out = np.asarray(log_and_sign(jnp.array([100.0, 1e-3]), p=2.0))
    np.testing.assert_allclose(out, [[math.log(100.0) / 2, 1.0], [-1.0, math.exp(2.0) * 1e-3]], rtol=1e-6)


@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 4), (3, 3, 2, 4)])
def test_shape_and_dtype(shape):
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    out = log_and_sign(x)
    assert out.shape == shape + (2,)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out[..., 1]), np.sign(np.asarray(x)))


def test_bfloat16_input():
    x = jnp.array([1e30, -1e-30, 0.0, 3.0, 1e-5], jnp.bfloat16)
    out = log_and_sign(x)
    assert out.shape == (5, 2)
    assert out.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(out)))
    # Same as the float32 features of the same (rounded) values.
    np.testing.assert_array_equal(np.asarray(out), np.asarray(log_and_sign(x.astype(jnp.float32))))
    np.testing.assert_allclose(np.asarray(out[0]), [math.log(1e30) / P, 1.0], rtol=1e-3)


def test_finite_for_extreme_inputs():
    x = jnp.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, 1e-30, 1e30, -1e30, F32_MAX, -F32_MAX, jnp.inf, -jnp.inf])
    out = np.asarray(log_and_sign(x))
    assert np.all(np.isfinite(out))
    # Infinities are clipped to float32's range: the features of +-max.
    np.testing.assert_array_equal(out[-2], out[-4])
    np.testing.assert_array_equal(out[-1], out[-3])
    # Features stay in a modest range, which is the point of the preprocessing.
    assert np.all(np.abs(out) <= math.log(F32_MAX) / P + 1e-6)


@pytest.mark.parametrize("x", [0.0, 1e-30, -1e-30, 1e-10, -1e-6, 1.0, 1e30, -1e30])
def test_gradient_finite(x):
    jac = np.asarray(jax.jacfwd(log_and_sign)(jnp.float32(x)))
    jac_rev = np.asarray(jax.jacrev(log_and_sign)(jnp.float32(x)))
    assert np.all(np.isfinite(jac)) and np.all(np.isfinite(jac_rev))
    np.testing.assert_allclose(jac, jac_rev, rtol=1e-6)
    if abs(x) < math.exp(-P):
        # Small branch: d/dx (-1, e^p x) = (0, e^p).
        np.testing.assert_allclose(jac, [0.0, math.exp(P)], rtol=1e-6)
    else:
        # Large branch: d/dx (log|x| / p, sign x) = (1 / (p x), 0).
        np.testing.assert_allclose(jac, [1.0 / (P * x), 0.0], rtol=1e-5)


def test_gradient_of_sum_at_zero_vector():
    grad = jax.grad(lambda x: jnp.sum(log_and_sign(x) ** 2))(jnp.zeros((4,)))
    assert np.all(np.isfinite(np.asarray(grad)))


# ------------------------------------------------------------------ normalised moments

DECAYS = (0.9, 0.5, 0.99)


def run_moments(grads, decays=DECAYS, second_decay=0.999):
    """Features after each gradient of the sequence `grads` (each an array of one shape)."""
    first = jnp.zeros(grads[0].shape + (len(decays),))
    second = jnp.zeros(grads[0].shape)
    features = []
    for t, grad in enumerate(grads, start=1):
        first, second = accumulate_moments(first, second, grad, decays, second_decay)
        features.append(normalized_moment_features(first, second, jnp.int32(t), grad, decays, second_decay))
    return features


def test_first_moment_feature_is_adams_direction():
    """Feature 0 at decay beta_1 = 0.9 equals optax's scale_by_adam output at every step."""
    grads = [jax.random.normal(jax.random.PRNGKey(t), (7,)) * 10.0 ** (t % 3) for t in range(6)]
    adam = optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)
    state = adam.init(grads[0])
    for grad, features in zip(grads, run_moments(grads)):
        direction, state = adam.update(grad, state)
        np.testing.assert_allclose(np.asarray(features[..., 0]), np.asarray(direction), rtol=1e-5, atol=1e-7)


def test_moment_features_shape_values_and_scale_invariance():
    grads = [jnp.array([1.0, -2.0]), jnp.array([3.0, 0.0])]
    features = run_moments(grads)
    assert features[-1].shape == (2, len(DECAYS) + 1) and features[-1].dtype == jnp.float32
    # After one step every bias-corrected momentum is g, and the RMS is |g|.
    np.testing.assert_allclose(np.asarray(features[0]), np.sign(np.array([1.0, -2.0]))[:, None] * np.ones(4), rtol=1e-4)
    # Last entry: g / rms; for the second coordinate g = 0 after g = -2.
    assert float(features[1][1, -1]) == 0.0
    for scale in (1e-3, 1e4):  # far above epsilon = 1e-8, the features ignore the scale
        scaled = run_moments([scale * g for g in grads])
        np.testing.assert_allclose(np.asarray(scaled[-1]), np.asarray(features[-1]), rtol=1e-4)


@pytest.mark.parametrize("magnitude", [0.0, 1e-30, 1e30, F32_MAX])
def test_moment_features_finite_for_extreme_gradients(magnitude):
    grads = [jnp.full((3,), magnitude, jnp.float32), jnp.full((3,), -magnitude, jnp.float32).astype(jnp.bfloat16)]
    for features in run_moments(grads):
        assert np.all(np.isfinite(np.asarray(features)))
        assert np.all(np.abs(np.asarray(features)) <= 1.0 / math.sqrt(1.0 - 0.999) + 1e-3)


def test_moment_features_differentiable_where_the_gradient_was_always_zero():
    """Second-order meta-gradients differentiate the features with respect to the gradient;
    at a coordinate whose gradient has been exactly 0 (a dead ReLU unit) the RMS is 0, where
    sqrt has an infinite derivative. The derivative must stay finite there and be the
    finite-difference one elsewhere."""

    def features_sum(grads):
        return sum(jnp.sum(f) for f in run_moments(list(grads)))

    grads = jnp.array([[0.0, 1.0], [0.0, -2.0], [0.0, 0.5]])
    derivative = np.asarray(jax.grad(features_sum)(grads))
    assert np.all(np.isfinite(derivative))
    step = 1e-3
    above, below = (float(features_sum(grads.at[2, 1].add(sign * step))) for sign in (1, -1))
    numeric = (above - below) / (2 * step)
    np.testing.assert_allclose(derivative[2, 1], numeric, rtol=1e-2)


def test_step_features_rise_from_zero_to_one_around_each_timescale():
    timescales = (10.0, 100.0)
    features = np.stack([np.asarray(step_features(t, timescales)) for t in (1, 10, 100, 1000)])
    np.testing.assert_allclose(
        features, np.tanh(np.array([[1, 1], [10, 10], [100, 100], [1000, 1000]]) / np.array(timescales)), rtol=1e-6
    )
    assert features.dtype == np.float32
    assert features[0, 0] < 0.1 and features[-1, 1] > 0.99
    assert np.all(np.diff(features, axis=0) >= 0)


def test_loss_change_features_compare_the_loss_with_its_bias_corrected_average():
    decays = (0.0, 0.9)
    averages = jnp.zeros((2,), jnp.float32)
    np.testing.assert_array_equal(np.asarray(loss_change_features(averages, 0, 2.0, decays)), [0.0, 0.0])
    losses = [2.0, 3.0, 1.5]
    for loss in losses:
        averages = accumulate_log_loss(averages, loss, decays)
    features = np.asarray(loss_change_features(averages, len(losses), 1.2, decays))
    assert features.dtype == np.float32
    weights = 0.9 ** np.arange(len(losses))[::-1]  # the bias-corrected average weighs step k by 0.9^(3-1-k)
    expected_average = np.sum(weights * np.log(losses)) / np.sum(weights)
    np.testing.assert_allclose(features, np.tanh([np.log(1.2 / 1.5), np.log(1.2) - expected_average]), rtol=1e-5)


@pytest.mark.parametrize("loss", [0.0, 1e-45, 1e30, -3.0, float(np.finfo(np.float32).max)])
def test_loss_change_features_finite_for_extreme_losses(loss):
    averages = accumulate_log_loss(jnp.zeros((2,), jnp.float32), 1.0, (0.0, 0.9))
    features = np.asarray(loss_change_features(averages, 1, loss, (0.0, 0.9)))
    assert np.all(np.isfinite(features)) and np.all(np.abs(features) <= 1.0)
    assert np.all(np.isfinite(np.asarray(accumulate_log_loss(averages, loss, (0.0, 0.9)))))
