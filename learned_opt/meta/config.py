"""Settings of one meta-training run, as small objects: the meta-objective, the validation,
the outer optimizer (an optax transformation) and the estimator
(`learned_opt.meta.estimators`), gathered in `MetaTrainConfig`.

Each object holds only the settings it reads. `describe` turns a configuration into the JSON
record that checkpoints' metadata and resumed runs' identity checks keep.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from learned_opt.meta.estimators import ES, PES, TBPTT


@dataclasses.dataclass(frozen=True)
class SumOfLosses:
    """The meta-loss of a truncation, sum_t f(theta_t) (Andrychowicz et al. 2016, Eq. 3 with
    w_t = 1); validation scores the mean loss."""

    def per_step(self, losses: jax.Array) -> jax.Array:
        return losses

    def score(self, mean_loss: jax.Array) -> jax.Array:
        return mean_loss


@dataclasses.dataclass(frozen=True)
class SumOfLogLosses:
    """sum_t log f(theta_t): weighs a halving of the loss the same late in training as early
    and across tasks whose losses differ in scale (Metz et al. 2020 meta-train on a log loss
    for the same reason); validation scores the log of the mean loss. A loss of exactly 0
    counts 0 rather than minus infinity."""

    def per_step(self, losses: jax.Array) -> jax.Array:
        ran = losses > 0
        return jnp.where(ran, jnp.log(jnp.where(ran, losses, 1.0)), 0.0)

    def score(self, mean_loss: jax.Array) -> jax.Array:
        return jnp.log(mean_loss)


@dataclasses.dataclass(frozen=True)
class Validation:
    """Every `every` meta-steps the rule trains `num_problems` fixed validation problems of
    each family to the horizon; the best-scoring meta-parameters are kept. The score is the
    objective's score of the mean loss at the horizon, or with `whole_curve` its mean over
    steps 1..horizon, which like the meta-objective rewards a fast start as much as a low
    final loss; averaged over the families."""

    every: int = 50
    num_problems: int = 100
    whole_curve: bool = False

    def __post_init__(self):
        if self.every < 1 or self.num_problems < 1:
            raise ValueError(f"validation every and num_problems must be at least 1, got {self}")


@dataclasses.dataclass(frozen=True)
class ClippedAdam:
    """The optax transformation
    ``optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate))``
    (Adam is the outer optimizer of Andrychowicz et al. 2016), with settings that checkpoints
    can record. Any other optax transformation may be the outer optimizer too, for instance
    ``optax.chain(optax.normalize_by_update_norm(), optax.adam(lr))``, which gives every
    meta-step the same length whatever the size of its meta-gradient: with meta-steps on one
    family after another, Adam's second moment is otherwise set by the families whose
    meta-loss reacts most (an MLP on digits gave meta-gradients 100 times larger than one on
    min-max scaled mnist1d), and the others barely move the meta-parameters."""

    learning_rate: float = 3e-3
    max_grad_norm: float = 10.0

    def __post_init__(self):
        if self.learning_rate <= 0 or self.max_grad_norm <= 0:
            raise ValueError(f"learning_rate and max_grad_norm must be positive, got {self}")

    def _transform(self) -> optax.GradientTransformation:
        return optax.chain(optax.clip_by_global_norm(self.max_grad_norm), optax.adam(self.learning_rate))

    def init(self, params):
        return self._transform().init(params)

    def update(self, updates, state, params=None):
        return self._transform().update(updates, state, params)


@dataclasses.dataclass(frozen=True)
class MetaTrainConfig:
    """Settings of one meta-training run.

    `num_meta_steps` counts outer updates, one per truncation of `truncation_length` inner
    steps on each of `num_tasks` tasks, which are redrawn when they reach step `horizon` (a
    multiple of `truncation_length`). The `estimator` gives each truncation's meta-gradient
    of the `objective`, and the `outer_optimizer` (`ClippedAdam` or any other optax
    transformation) applies it. `validation` scores and keeps the best meta-parameters;
    `seed` fixes every draw. The truncation is a length alone: a schedule of random lengths
    was used by no recipe and left.
    """

    num_meta_steps: int = 1000
    num_tasks: int = 64
    horizon: int = 100
    truncation_length: int = 20
    estimator: TBPTT | ES | PES = TBPTT()
    objective: SumOfLosses | SumOfLogLosses = SumOfLosses()
    outer_optimizer: optax.GradientTransformation = ClippedAdam()
    validation: Validation = Validation()
    seed: int = 0

    def __post_init__(self):
        for name in ("num_meta_steps", "num_tasks", "horizon", "truncation_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        expected = {
            "estimator": (TBPTT, ES),
            "objective": (SumOfLosses, SumOfLogLosses),
            "validation": (Validation,),
        }
        for name, types in expected.items():
            if not isinstance(getattr(self, name), types):
                names = ", ".join(t.__name__ for t in types)
                raise TypeError(f"{name} must be one of {names}, got {getattr(self, name)!r}")
        if not (hasattr(self.outer_optimizer, "init") and hasattr(self.outer_optimizer, "update")):
            raise TypeError(f"outer_optimizer must be an optax transformation, got {self.outer_optimizer!r}")
        if self.horizon % self.truncation_length:
            raise ValueError(
                f"horizon ({self.horizon}) must be a multiple of truncation_length ({self.truncation_length})"
            )
        if self.estimator.antithetic and self.num_tasks % 2:
            raise ValueError(
                f"the {type(self.estimator).__name__} estimator needs an even num_tasks (antithetic pairs)"
            )


def describe(value: Any) -> Any:
    """A JSON record of a configuration: dataclasses as their type's name and fields, an
    optax transformation other than `ClippedAdam` as "custom optax transformation" (two
    such runs cannot be told apart when resuming)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **fields} if not isinstance(value, MetaTrainConfig) else fields
    if isinstance(value, optax.GradientTransformation):
        return "custom optax transformation"
    if isinstance(value, (tuple, list)):
        return [describe(v) for v in value]
    return value
