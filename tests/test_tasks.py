"""Task families: losses and shapes, random scaling, mixtures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learned_opt.tasks import ConvFamily, MixtureFamily, MLPFamily, QuadraticFamily, RandomScaling, Task

KEY = jax.random.PRNGKey(0)


def test_quadratic_is_the_papers_problem():
    family = QuadraticFamily()
    task = family.sample(KEY)
    assert isinstance(task, Task)
    theta = task.init(jax.random.PRNGKey(1))["theta"]
    W, y = np.asarray(task.data["W"]), np.asarray(task.data["y"])
    assert W.shape == (10, 10) and y.shape == (10,) and theta.shape == (10,)
    np.testing.assert_allclose(task.loss({"theta": theta}), np.sum((W @ np.asarray(theta) - y) ** 2), rtol=1e-5)
    solution = np.linalg.solve(W, y)
    assert float(task.loss({"theta": jnp.asarray(solution)})) < 1e-6


def test_mlp_shapes_loss_and_accuracy():
    family = MLPFamily(hidden_sizes=(20, 7), activation="relu", batch_size=32)
    params = family.init_params({}, KEY)
    shapes = jax.tree.map(jnp.shape, params)
    assert shapes == {
        "dense_0": {"kernel": (64, 20), "bias": (20,)},
        "dense_1": {"kernel": (20, 7), "bias": (7,)},
        "dense_2": {"kernel": (7, 10), "bias": (10,)},
    }
    inputs, labels = family.sample_batch({}, KEY)
    assert inputs.shape == (32, 64) and labels.shape == (32,)
    loss = float(family.loss({}, params, (inputs, labels)))
    assert 1.0 < loss < 5.0  # near log(10) = 2.3 at initialisation
    assert 0.0 <= float(family.test_accuracy(params)) <= 0.4  # untrained: near chance
    with pytest.raises(ValueError, match="activation"):
        MLPFamily(activation="swishy")


def test_conv_net_on_digits_trains():
    family = ConvFamily(channels=(8, 8), dense_size=16, batch_size=64)
    params = family.init_params({}, KEY)
    images, labels = family.sample_batch({}, KEY)
    assert images.shape == (64, 8, 8, 1)
    assert family.logits(params, images).shape == (64, 10)
    loss, grads = jax.value_and_grad(family.loss, argnums=1)({}, params, (images, labels))
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    stepped = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    for _ in range(20):
        stepped = jax.tree.map(
            lambda p, g: p - 0.1 * g, stepped, jax.grad(family.loss, argnums=1)({}, stepped, (images, labels))
        )
    assert float(family.loss({}, stepped, (images, labels))) < 0.8 * float(loss)


def test_random_scaling_reparametrises_without_moving_the_minimum():
    base = QuadraticFamily()
    family = RandomScaling(base, log_scale_range=3.0)
    data = family.sample_data(KEY)
    scales = np.asarray(data["scales"]["theta"])
    assert np.all((scales >= np.exp(-3.0)) & (scales <= np.exp(3.0))) and np.std(np.log(scales)) > 0.5
    # Same starting point in the base problem's coordinates.
    theta0 = base.init_params(data["base"], jax.random.PRNGKey(1))["theta"]
    scaled0 = family.init_params(data, jax.random.PRNGKey(1))["theta"]
    np.testing.assert_allclose(scaled0 * scales, theta0, rtol=1e-6)
    # g(theta / c) = f(theta) everywhere, so the minimum value is the same ...
    theta = jax.random.normal(jax.random.PRNGKey(2), (10,))
    np.testing.assert_allclose(
        family.loss(data, {"theta": theta / scales}, None), base.loss(data["base"], {"theta": theta}, None), rtol=1e-5
    )
    W, y = np.asarray(data["base"]["W"], np.float64), np.asarray(data["base"]["y"], np.float64)
    base_min = np.sum((W @ np.linalg.lstsq(W, y, rcond=None)[0] - y) ** 2)
    scaled_solution = np.linalg.lstsq(W * scales, y, rcond=None)[0]
    scaled_min = float(family.loss(data, {"theta": jnp.asarray(scaled_solution, jnp.float32)}, None))
    assert abs(scaled_min - base_min) < 1e-3
    # ... but the conditioning changes: the gradient is rescaled per coordinate.
    grad_base = jax.grad(lambda t: base.loss(data["base"], {"theta": t}, None))(theta)
    grad_scaled = jax.grad(lambda t: family.loss(data, {"theta": t}, None))(theta / scales)
    np.testing.assert_allclose(grad_scaled, grad_base * scales, rtol=1e-4, atol=1e-4)


def test_mixture_draws_members_by_weight_and_uses_their_losses():
    quadratic = QuadraticFamily()
    family = MixtureFamily((quadratic, RandomScaling(quadratic)), weights=(0.25, 0.75))
    keys = jax.random.split(KEY, 400)
    data = jax.vmap(family.sample_data)(keys)
    assert 0.65 < float(jnp.mean(data["member"])) < 0.85
    one = jax.tree.map(lambda x: x[0], data)
    params = family.init_params(one, KEY)
    member = int(one["member"])
    expected = family.members[member].loss(one["data"][member], params, None)
    np.testing.assert_allclose(family.loss(one, params, family.sample_batch(one, KEY)), expected, rtol=1e-6)


def test_mixture_rejects_members_of_different_structure():
    with pytest.raises(ValueError, match="structure"):
        MixtureFamily((QuadraticFamily(dim=3), QuadraticFamily(dim=4)))
