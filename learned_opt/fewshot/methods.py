"""Few-shot meta-learning methods as small configuration objects.

MAML, Reptile and pretraining adapt with SGD of step ``inner_lr``, or with any optax
transform given as ``optimizer`` (``MAML(optimizer=lo.pretrained())`` learns an
initialisation for a learned optimizer). Each method has ``init(key, benchmark)`` ->
meta-parameters, ``initial_params(meta_params, benchmark)`` and
``inner_optimizer(meta_params)`` (what adaptation starts from, before ``benchmark.expand``,
and steps with), and ``meta_gradient(meta_params, key, benchmark, meta_batch)`` -> (loss, direction), the
direction an outer optax optimizer descends (`fewshot.train.meta_train`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import optax

from learned_opt.fewshot.adaptation import adapt
from learned_opt.fewshot.benchmarks import map_tasks
from learned_opt.optimizers import GatedLSTM, learned_optimizer


def _mean_query_loss(benchmark, params, optimizer, episodes, steps, first_order=False, checkpoint=False):
    """The query loss after adapting ``benchmark.expand(params)`` on each episode's support
    set, averaged over the episodes."""

    def query_loss(episode):
        adapted, _ = adapt(
            benchmark.loss,
            benchmark.expand(params),
            episode.support,
            optimizer,
            steps,
            first_order=first_order,
            checkpoint=checkpoint,
        )
        return benchmark.loss(adapted, episode.query)

    return map_tasks(query_loss, episodes, benchmark.task_batching).mean()


class _AdaptsFromMetaParams:
    """What MAML, Reptile and pretraining share: adaptation starts from the meta-parameters
    and steps with `optimizer` when given (any optax transform, learned or not), else with
    the papers' SGD of step `inner_lr`."""

    def init(self, key, benchmark):
        return benchmark.init(key)

    def initial_params(self, meta_params, benchmark):
        return meta_params

    def inner_optimizer(self, meta_params) -> optax.GradientTransformation:
        return self.optimizer if self.optimizer is not None else optax.sgd(self.inner_lr)


@dataclasses.dataclass(frozen=True)
class MAML(_AdaptsFromMetaParams):
    """Model-agnostic meta-learning (Finn et al. 2017): learn the initialisation theta so
    that `inner_steps` gradient steps of size `inner_lr` on a task's support set give a low
    query loss,

        min_theta  E_task L_query(phi_T(theta)),   phi_{t+1} = phi_t - alpha grad L_support(phi_t).

    The meta-gradient is exact (second order) unless `first_order`, which treats the inner
    gradients as constants so that d phi_T / d theta = I (first-order MAML, Finn et al.
    Sec. 5.2). `checkpoint` recomputes the inner steps in the backward pass
    (`adaptation.adapt`)."""

    inner_lr: float = 0.01
    inner_steps: int = 1
    first_order: bool = False
    checkpoint: bool = False
    optimizer: optax.GradientTransformation | None = None

    name: ClassVar[str] = "maml"

    @property
    def label(self) -> str:
        return "fomaml" if self.first_order else "maml"

    def meta_gradient(self, meta_params, key, benchmark, meta_batch: int):
        episodes = benchmark.episodes(key, meta_batch)
        optimizer = self.inner_optimizer(meta_params)

        def objective(theta):
            return _mean_query_loss(
                benchmark, theta, optimizer, episodes, self.inner_steps, self.first_order, self.checkpoint
            )

        return jax.value_and_grad(objective)(meta_params)


@dataclasses.dataclass(frozen=True)
class Reptile(_AdaptsFromMetaParams):
    """Reptile (Nichol et al. 2018): adapt with `inner_steps` SGD steps on a task's support
    set, as at test time, and move the initialisation towards the adapted parameters,

        theta <- theta + epsilon * mean_tasks (phi_T - theta),

    i.e. the outer optimizer descends the direction theta - phi_T, mapped back through
    ``benchmark.expand`` (for a tied read-out, the sum over its copies). No derivative
    is taken through the inner loop. The reported loss is the query loss after adaptation."""

    inner_lr: float = 0.01
    inner_steps: int = 5
    optimizer: optax.GradientTransformation | None = None

    name: ClassVar[str] = "reptile"
    label: ClassVar[str] = "reptile"

    def meta_gradient(self, meta_params, key, benchmark, meta_batch: int):
        episodes = benchmark.episodes(key, meta_batch)
        optimizer = self.inner_optimizer(meta_params)

        def direction(episode):
            expanded, pull_back = jax.vjp(benchmark.expand, meta_params)
            adapted, _ = adapt(benchmark.loss, expanded, episode.support, optimizer, self.inner_steps)
            (step,) = pull_back(jax.tree.map(jnp.subtract, expanded, adapted))
            return benchmark.loss(adapted, episode.query), step

        losses, steps = map_tasks(direction, episodes, benchmark.task_batching)
        return losses.mean(), jax.tree.map(lambda s: s.mean(axis=0), steps)


@dataclasses.dataclass(frozen=True)
class Pretrain(_AdaptsFromMetaParams):
    """Pretraining on all training tasks at once, then fine-tuning: one network minimises
    the loss over the pooled data of the training tasks (for classification, over all
    training classes with their own read-out, whose mean row then starts every episode's
    read-out); at test time it takes `inner_steps` SGD steps of size `inner_lr` on the
    support set. It learns no adaptation; its fine-tuning step and steps are chosen on
    validation tasks (`train.tune_on_validation`). Each meta-step sees as many examples as
    a meta-batch of episodes."""

    inner_lr: float = 0.01
    inner_steps: int = 10
    optimizer: optax.GradientTransformation | None = None

    name: ClassVar[str] = "pretrain"
    label: ClassVar[str] = "pretrain"

    def init(self, key, benchmark):
        return benchmark.pretrain_init(key)

    def initial_params(self, meta_params, benchmark):
        return benchmark.from_pretrained(meta_params)

    def meta_gradient(self, meta_params, key, benchmark, meta_batch: int):
        batch_size = meta_batch * benchmark.examples_per_episode
        return jax.value_and_grad(benchmark.pretrain_loss)(meta_params, key, batch_size)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclasses.dataclass(frozen=True)
class GatedMetaLearner:
    """The LSTM meta-learner of Ravi & Larochelle 2017: the gated rule
    theta_t = f_t * theta_{t-1} - i_t * grad_t (`optimizers.GatedLSTM`) adapts the learner,
    and its meta-parameters and the learner's initial parameters theta_0 (the cell state's
    start c_0) are trained together on the query loss after `inner_steps` steps.

    As in the paper (Sec. 3.2), the gradients and losses the rule reads are treated as
    constants: the meta-gradient drops the terms through the learner's Hessian, and keeps
    those through the gates and the rule's own recurrence. The input gate's bias starts at
    logit(`inner_lr`), so the untrained rule is close to MAML's gradient step.
    """

    inner_lr: float = 0.01
    inner_steps: int = 5
    hidden_size: int = 20

    name: ClassVar[str] = "gated"
    label: ClassVar[str] = "gated"

    @property
    def rule(self) -> GatedLSTM:
        return GatedLSTM(hidden_size=self.hidden_size, input_bias_init=_logit(self.inner_lr))

    def init(self, key, benchmark):
        rule_key, init_key = jax.random.split(key)
        return {"rule": self.rule.init(rule_key), "init": benchmark.init(init_key)}

    def initial_params(self, meta_params, benchmark):
        return meta_params["init"]

    def inner_optimizer(self, meta_params) -> optax.GradientTransformation:
        return learned_optimizer(self.rule, meta_params["rule"])

    def meta_gradient(self, meta_params, key, benchmark, meta_batch: int):
        episodes = benchmark.episodes(key, meta_batch)

        def objective(meta):
            optimizer = self.inner_optimizer(meta)
            return _mean_query_loss(benchmark, meta["init"], optimizer, episodes, self.inner_steps, first_order=True)

        return jax.value_and_grad(objective)(meta_params)


METHODS = {
    "maml": MAML,
    "fomaml": lambda **kwargs: MAML(first_order=True, **kwargs),
    "reptile": Reptile,
    "pretrain": Pretrain,
    "gated": GatedMetaLearner,
}
