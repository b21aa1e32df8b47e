"""Random scaling of a task's parameters (Lv et al. 2017, "Learning gradient descent:
better generalization and longer horizons", Sec. 3.2)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from learned_opt.tasks.base import TaskFamily


@dataclasses.dataclass(frozen=True)
class RandomScaling(TaskFamily):
    """Wraps a family so that each problem is trained as g(theta') = f(c * theta'), with one
    fixed scale c = exp(u), u ~ U(-log_scale_range, log_scale_range), per coordinate.

    theta'_0 = theta_0 / c starts at the base problem's starting point, and
    min g = min f: the problems are as hard to solve but differently conditioned, which
    stops a learned optimizer from memorising one gradient scale.
    """

    base: TaskFamily
    log_scale_range: float = 3.0
    name: str = "scaled"

    def sample_data(self, key):
        base_key, scale_key = jax.random.split(key)
        base_data = self.base.sample_data(base_key)
        shapes = jax.eval_shape(self.base.init_params, base_data, scale_key)
        leaves, treedef = jax.tree.flatten(shapes)
        keys = jax.random.split(scale_key, max(len(leaves), 1))
        scales = [
            jnp.exp(jax.random.uniform(k, leaf.shape, minval=-self.log_scale_range, maxval=self.log_scale_range))
            for k, leaf in zip(keys, leaves)
        ]
        return {"base": base_data, "scales": treedef.unflatten(scales)}

    def init_params(self, data, key):
        params = self.base.init_params(data["base"], key)
        return jax.tree.map(lambda p, c: p / c, params, data["scales"])

    def sample_batch(self, data, key):
        return self.base.sample_batch(data["base"], key)

    def loss(self, data, params, batch):
        return self.base.loss(data["base"], jax.tree.map(jnp.multiply, params, data["scales"]), batch)
