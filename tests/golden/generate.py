"""Writes tests/golden/NAME.npz: each shipped optimizer's updates on fixed inputs, which
tests/test_golden.py compares against. Run after `learned-opt export` replaces a file:

    python tests/golden/generate.py
"""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from learned_opt.checkpoint import PRETRAINED, load_pretrained
from learned_opt.optimizers import learned_optimizer

GOLDEN_DIR = Path(__file__).resolve().parent
NUM_STEPS = 8
SHAPES = {"scalar": (), "vector": (7,), "matrix": (5, 3), "kernel": (2, 3, 2, 2)}


def fixed_params() -> dict:
    keys = jax.random.split(jax.random.PRNGKey(0), len(SHAPES))
    return {name: jax.random.normal(key, shape) for key, (name, shape) in zip(keys, SHAPES.items())}


def fixed_gradient(params: dict, step: int) -> dict:
    """Gradients over five decades of scale, one of them exactly zero at every other step.
    They are functions of the initial parameters, not of the updated ones: fed back, the
    float32 rounding of one CPU against another grew through `gated_mlp_digits`'s large
    steps (input gate bounded at 10) from 1e-6 to 2% within 8 steps."""
    grads = jax.tree.map(lambda p: jnp.sin(3.0 * p + step) * 10.0 ** (step % 5 - 3), params)
    return {**grads, "vector": grads["vector"] * (step % 2)}


def file_sha256(name: str) -> str:
    resource = importlib.resources.files("learned_opt") / "pretrained" / PRETRAINED[name][0]
    return hashlib.sha256(resource.read_bytes()).hexdigest()


def updates_on_fixed_inputs(name: str) -> dict[str, np.ndarray]:
    """The updates of NUM_STEPS steps of the shipped optimizer `name`, leaf by leaf, stacked."""
    loaded = load_pretrained(name)
    tx = learned_optimizer(loaded.rule, loaded.meta_params)
    initial = params = fixed_params()
    state = tx.init(params)
    step = jax.jit(tx.update)
    stacked = {leaf: [] for leaf in SHAPES}
    for t in range(NUM_STEPS):
        updates, state = step(fixed_gradient(initial, t), state, params, value=jnp.float32(2.0 / (t + 1)))
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        for leaf in SHAPES:
            stacked[leaf].append(np.asarray(updates[leaf]))
    return {leaf: np.stack(values) for leaf, values in stacked.items()}


def main() -> None:
    for name in PRETRAINED:
        path = GOLDEN_DIR / f"{name}.npz"
        np.savez(path, sha256=np.array(file_sha256(name)), **updates_on_fixed_inputs(name))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
