"""Shared fixtures: small parameter pytrees, the two update rules with fresh meta-parameters,
and the jit / no-jit variants that transforms are exercised under."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Compilation, not running, dominates this suite on CPU (a meta-step of the smallest recipe
# takes 10-40 s to compile and milliseconds to run). The tests check values, not speed, so
# XLA's backend optimisation is off (half the compile time), and compiled programs are
# cached on disk for the session, so that a program another test (or a subprocess) already
# compiled is read back. Both are set before JAX is imported, which reads them then.
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache_dir = tempfile.mkdtemp(prefix="learned-opt-tests-xla-cache-")
    atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)  # the session's own cache only
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache_dir
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import learned_opt as lo  # noqa: E402

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


# Compilation dominates the run time on CPU, so the transforms and their jitted update
# functions are built once per session and shared by the tests.
_OPTIMIZERS: dict = {}
_JITTED: dict = {}


# The paper's two rules, and each with the named options that add inputs (moments, steps, loss changes)
# or change the output (gradient_epsilon).
RULE_VARIANTS = {
    "direct": lo.DirectLSTM(),
    "gated": lo.GatedLSTM(),
    "direct-moments-steps": lo.DirectLSTM(
        momentum_decays=(0.5, 0.9, 0.99), step_timescales=(10.0, 100.0), gradient_epsilon=1e-8
    ),
    "gated-adam-direction-steps-loss": lo.GatedLSTM(
        momentum_decays=(0.9, 0.5),
        descent_direction="normalized_momentum",
        step_timescales=(10.0, 100.0),
        loss_change_decays=(0.0, 0.9),
    ),
}


def rule_and_meta(name: str):
    """(rule, meta_params from rule.init(PRNGKey(0))), cached per rule name."""
    return optimizer(name)[:2]


def optimizer(name: str):
    """(rule, meta_params, learned_optimizer(rule, meta_params)), cached per rule name."""
    if name not in _OPTIMIZERS:
        rule = RULE_VARIANTS[name]
        meta_params = rule.init(jax.random.PRNGKey(0))
        _OPTIMIZERS[name] = (rule, meta_params, lo.learned_optimizer(rule, meta_params))
    return _OPTIMIZERS[name]


def cached_jit(fn):
    """jax.jit(fn), one wrapper per function so that its compilations are reused."""
    if fn not in _JITTED:
        _JITTED[fn] = jax.jit(fn)
    return _JITTED[fn]


@pytest.fixture(params=list(RULE_VARIANTS))
def rule_meta(request):
    return rule_and_meta(request.param)


@pytest.fixture(params=[pytest.param(lambda f: f, id="nojit"), pytest.param(cached_jit, id="jit")])
def variant(request):
    return request.param
