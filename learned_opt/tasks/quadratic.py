"""The quadratic family of Andrychowicz et al. 2016, Sec. 3.1."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from learned_opt.tasks.base import TaskFamily


@dataclasses.dataclass(frozen=True)
class QuadraticFamily(TaskFamily):
    """f(theta) = ||W theta - y||_2^2 with W (dim x dim), y (dim) and theta_0 (dim) all
    standard normal. Full-batch: the loss is deterministic."""

    dim: int = 10
    name: str = "quadratic"

    def sample_data(self, key):
        key_w, key_y = jax.random.split(key)
        return {
            "W": jax.random.normal(key_w, (self.dim, self.dim)),
            "y": jax.random.normal(key_y, (self.dim,)),
        }

    def init_params(self, data, key):
        del data
        return {"theta": jax.random.normal(key, (self.dim,))}

    def loss(self, data, params, batch=None):
        del batch
        residual = data["W"] @ params["theta"] - data["y"]
        return jnp.sum(residual**2)
