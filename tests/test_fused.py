"""The fused update (`UpdateRule.step`) against the per-leaf flax reference
(`UpdateRule.reference_step`), its bfloat16 LSTM state, and its memory on a large model."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learned_opt.checkpoint import load_pretrained
from learned_opt.networks import COORDINATE_CHUNK, map_coordinate_chunks

# scalar, vector, matrix and 4-d leaves, and one of more coordinates than a chunk holds, by a
# number that is not a multiple of it, so that the last chunk overlaps the one before
SHAPES = {
    "scalar": (),
    "vector": (7,),
    "matrix": (5, 3),
    "conv": (3, 3, 2, 4),
    "empty": (0,),
    "large": (2 * COORDINATE_CHUNK + 123,),
}


def _params(seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), len(SHAPES))
    return {name: jax.random.normal(key, shape) for key, (name, shape) in zip(keys, SHAPES.items())}


@pytest.mark.parametrize("name", ["l2l", "gated", "gated_mlp_digits"])
def test_fused_step_equals_the_per_leaf_reference(name):
    """Along the reference's trajectory, each fused step from the reference's state gives
    the reference's updates and next state, to float32 rounding."""
    loaded = load_pretrained(name)
    rule, meta_params = loaded.rule, loaded.meta_params
    fused = jax.jit(lambda s, g, p, v: rule.step(meta_params, s, g, p, v))
    reference = jax.jit(lambda s, g, p, v: rule.reference_step(meta_params, s, g, p, v))
    params = _params()
    state = rule.init_state(params)
    for t in range(6):
        grads = jax.tree.map(lambda p, t=t: jnp.sin(3.0 * p + t) * 10.0 ** (t % 5 - 4), params)
        value = jnp.float32(2.0 / (t + 1))
        fused_updates, fused_state = fused(state, grads, params, value)
        updates, state = reference(state, grads, params, value)
        for a, b, p in zip(jax.tree.leaves(fused_updates), jax.tree.leaves(updates), jax.tree.leaves(params)):
            scale = float(jnp.max(jnp.abs(b), initial=0.0))
            # The gated rule's update is c_t - c_{t-1}, the difference of two cell states of
            # the parameters' size: its float32 rounding is that of the parameters.
            rounding = 8 * np.finfo(np.float32).eps * float(jnp.max(jnp.abs(p), initial=0.0))
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5 * scale + rounding)
        assert jax.tree.structure(fused_state) == jax.tree.structure(state)
        for a, b in zip(jax.tree.leaves(fused_state), jax.tree.leaves(state)):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-4, atol=1e-5)
        params = jax.tree.map(lambda p, u: p + u, params, updates)


def test_chunks_cover_every_coordinate_once_in_value():
    n = 3 * 1000 + 17
    x = jnp.arange(n, dtype=jnp.float32)
    rows = jnp.stack([x, -x])
    (doubled, negated) = map_coordinate_chunks(lambda a, b: (2.0 * a, -b), (x, rows), (0, 1), (0, 1), chunk_size=1000)
    np.testing.assert_array_equal(np.asarray(doubled), 2.0 * np.arange(n))
    np.testing.assert_array_equal(np.asarray(negated), np.stack([-np.arange(n), np.arange(n)]))


@pytest.mark.parametrize("name", ["l2l", "gated"])
def test_bfloat16_lstm_state_stays_finite_and_close_to_float32(name):
    loaded = load_pretrained(name)
    rule16 = dataclasses.replace(loaded.rule, lstm_state_dtype="bfloat16")
    target = jax.random.normal(jax.random.PRNGKey(1), (64,))
    scales = jnp.logspace(-2, 1, 64)

    def train(rule):
        def loss(p):
            return 0.5 * jnp.sum(scales * (p["w"] - target) ** 2) + 0.1

        def step(carry, _):
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params)
            updates, state = rule.step(loaded.meta_params, state, grads, params, value)
            return (jax.tree.map(jnp.add, params, updates), state), value

        params = {"w": jnp.zeros(64)}
        (params, state), losses = jax.jit(lambda c: jax.lax.scan(step, c, None, length=200))(
            (params, rule.init_state(params))
        )
        return params, state, losses

    params32, _, losses32 = train(loaded.rule)
    params16, state16, losses16 = train(rule16)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(state16.lstm))
    assert all(bool(jnp.all(jnp.isfinite(leaf.astype(jnp.float32)))) for leaf in jax.tree.leaves(state16))
    assert float(losses16[-1]) < 0.5 * float(losses16[0])  # it still optimises
    # the trajectories stay together: final parameters within 5% of the distance travelled
    travelled = float(jnp.linalg.norm(params32["w"]))
    assert float(jnp.linalg.norm(params16["w"] - params32["w"])) < 0.05 * travelled
    np.testing.assert_allclose(np.log(np.asarray(losses16[-1])), np.log(np.asarray(losses32[-1])), atol=0.1)


# the update of a 10M-parameter leaf needs buffers for its chunks only, beyond its state and
# outputs: this bound is about 1% of the unchunked computation's
TEN_MILLION_TEMP_BYTES = 256 * 2**20


@pytest.mark.parametrize("name", ["l2l", "gated"])
def test_ten_million_parameter_update_stays_within_its_memory_bound(name):
    loaded = load_pretrained(name)
    params = {"w": jax.ShapeDtypeStruct((10_000_000,), jnp.float32)}
    state = jax.eval_shape(loaded.rule.init_state, params)
    compiled = (
        jax.jit(lambda s, g, p: loaded.rule.step(loaded.meta_params, s, g, p, jnp.float32(1.0)))
        .lower(state, params, params)
        .compile()
    )
    assert compiled.memory_analysis().temp_size_in_bytes < TEN_MILLION_TEMP_BYTES


def test_truncated_backpropagation_refuses_a_bfloat16_state():
    """No derivative flows through a state kept as bfloat16 bits: an estimator that needs one
    says so instead of meta-training on zero gradients."""
    from learned_opt import DirectLSTM
    from learned_opt.meta import PES, TBPTT, MetaTrainConfig
    from learned_opt.meta.train import make_meta_step
    from learned_opt.tasks import QuadraticFamily

    rule = DirectLSTM(lstm_state_dtype="bfloat16")
    config = MetaTrainConfig(num_tasks=2, horizon=4, truncation_length=2, estimator=TBPTT())
    with pytest.raises(ValueError, match="bfloat16"):
        make_meta_step(rule, (QuadraticFamily(),), config)
    make_meta_step(rule, (QuadraticFamily(),), dataclasses.replace(config, estimator=PES()))
