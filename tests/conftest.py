"""Shared fixtures: small parameter pytrees, the two update rules with fresh meta-parameters,
and the jit / no-jit variants that transforms are exercised under."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import learned_opt as lo

# Leaf shapes that cover every rank a user is likely to hand an optimizer, including an
# empty leaf (a bias of a zero-width layer) and a nested dict.
LEAF_SHAPES = {
    "scalar": (),
    "vector": (5,),
    "matrix": (3, 4),
    "conv": (3, 3, 2, 4),
    "empty": (0,),
    "nested": {"inner": {"bias": (2,)}},
}


def make_params(dtype=jnp.float32, seed: int = 0):
    """A nested dict of parameters with the shapes of `LEAF_SHAPES`, standard normal values."""
    shapes, treedef = jax.tree.flatten(LEAF_SHAPES, is_leaf=lambda x: isinstance(x, tuple))
    keys = jax.random.split(jax.random.PRNGKey(seed), len(shapes))
    leaves = [jax.random.normal(k, s, jnp.float32).astype(dtype) for k, s in zip(keys, shapes)]
    return treedef.unflatten(leaves)


def tree_allclose(a, b, **kwargs) -> None:
    """Asserts equal structure and allclose leaves (as float64)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), **kwargs)


def tree_equal(a, b) -> None:
    """Asserts equal structure, dtypes and bitwise-equal leaves."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert jnp.asarray(x).dtype == jnp.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(params=[jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
def dtype(request):
    return request.param


@pytest.fixture
def params():
    return make_params()


_META_PARAMS: dict = {}


def rule_and_meta(name: str):
    """(rule, meta_params from rule.init(PRNGKey(0))), cached per rule name."""
    if name not in _META_PARAMS:
        rule = {"direct": lo.DirectLSTM(), "gated": lo.GatedLSTM()}[name]
        _META_PARAMS[name] = (rule, rule.init(jax.random.PRNGKey(0)))
    return _META_PARAMS[name]


@pytest.fixture(params=["direct", "gated"])
def rule_meta(request):
    return rule_and_meta(request.param)


@pytest.fixture(params=[pytest.param(lambda f: f, id="nojit"), pytest.param(jax.jit, id="jit")])
def variant(request):
    return request.param
