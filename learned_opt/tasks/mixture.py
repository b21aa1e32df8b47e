"""A family that draws each problem from one of several member families."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from learned_opt.tasks.base import TaskFamily


@dataclasses.dataclass(frozen=True)
class MixtureFamily(TaskFamily):
    """Problem k comes from member m ~ Categorical(weights).

    Members must share one parameter structure (shapes and dtypes), so that a batch of
    problems is one vmapped array program: for instance a family and its randomly scaled
    version, or MLPs of one shape with different activations or datasets. Each problem
    carries every member's data and batches; `lax.switch` picks the member's loss.
    """

    members: tuple[TaskFamily, ...]
    weights: tuple[float, ...] | None = None
    name: str = "mixture"

    def __post_init__(self):
        object.__setattr__(self, "members", tuple(self.members))
        if len(self.members) < 1:
            raise ValueError("a mixture needs at least one member family")
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
            if len(self.weights) != len(self.members) or min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError("weights must be one non-negative number per member, not all zero")
        structures = {
            str(jax.eval_shape(lambda k, m=m: m.init_params(m.sample_data(k), k), jax.random.PRNGKey(0)))
            for m in self.members
        }
        if len(structures) != 1:
            raise ValueError(f"mixture members must share one parameter structure, found {sorted(structures)}")

    def sample_data(self, key):
        choice_key, *member_keys = jax.random.split(key, len(self.members) + 1)
        logits = jnp.log(jnp.asarray(self.weights if self.weights is not None else [1.0] * len(self.members)))
        return {
            "member": jax.random.categorical(choice_key, logits),
            "data": tuple(m.sample_data(k) for m, k in zip(self.members, member_keys)),
        }

    def init_params(self, data, key):
        branches = [lambda k, m=m, d=d: m.init_params(d, k) for m, d in zip(self.members, data["data"])]
        return jax.lax.switch(data["member"], branches, key)

    def sample_batch(self, data, key):
        keys = jax.random.split(key, len(self.members))
        return tuple(m.sample_batch(d, k) for m, d, k in zip(self.members, data["data"], keys))

    def loss(self, data, params, batch):
        branches = [lambda p, m=m, d=d, b=b: m.loss(d, p, b) for m, d, b in zip(self.members, data["data"], batch)]
        return jax.lax.switch(data["member"], branches, params)
