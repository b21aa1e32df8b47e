"""The meta-gradient estimators against the exact full-horizon meta-gradient.

On a problem small enough for the exact gradient of the whole unroll — a learned learning
rate and momentum (two meta-parameters, so the angle between gradients means something)
on 3-dimensional quadratics — this checks that

- antithetic ES over one full-horizon truncation and PES summed over the truncations of
  the horizon agree with the exact gradient in expectation (their mean over many
  antithetic pairs points the same way);
- PES is unbiased where truncated backpropagation is not (Vicol et al. 2021, Sec. 3-4):
  summed over the truncations, PES matches the exact gradient of sum_{t=1..T} f(theta_t)
  within a few standard errors, while the summed TBPTT gradients, which hold the carried
  parameters and momentum buffer fixed, miss about half of the gradient; truncated ES,
  which perturbs every truncation afresh, has the same bias as TBPTT.

The exact reference is the gradient of the unsmoothed loss, while ES and PES estimate the
gradient of the loss smoothed with N(0, sigma^2) perturbations; with sigma = 0.01 the two
differ by O(sigma^2) relative to the gradient, far below the sampling error.

Every estimate is repeated over independent replicas that share the same problems (and
so the same exact gradient) but draw their own perturbations; the spread of the replica
means gives the standard error the assertions are stated in.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learned_opt.meta import ES, PES, TBPTT, MetaTrainConfig
from learned_opt.meta.train import fresh_tasks, per_task_truncation_loss
from learned_opt.tasks import QuadraticFamily

HORIZON = 20
TRUNCATION = 4  # five truncations per horizon
NUM_PAIRS = 128  # antithetic pairs per replica, all on different problems
NUM_REPLICAS = 64  # independent perturbation draws on the same problems: 8192 pairs in all
SIGMA = 0.01
FAMILY = QuadraticFamily(dim=3)


class MomentumState(NamedTuple):
    momentum: Any
    skipped: jax.Array


@dataclasses.dataclass(frozen=True)
class LearnedMomentum:
    """Heavy-ball momentum with a meta-learned step size and momentum:
    m_t = beta m_{t-1} + g_t, update = -lr m_t, lr = exp(log_lr), beta = sigmoid(logit_momentum).

    The momentum buffer carried from one truncation into the next is exactly what truncated
    backpropagation treats as a constant, and a short horizon undervalues both a larger
    step and more momentum (Wu et al. 2018), so TBPTT's bias on this rule is large.
    """

    name: ClassVar[str] = "learned_momentum"
    needs_params: ClassVar[bool] = False
    needs_value: ClassVar[bool] = False
    learning_rate: float = 0.05
    momentum: float = 0.75

    def init(self, key):
        del key
        return {
            "log_lr": jnp.asarray(np.log(self.learning_rate), jnp.float32),
            "logit_momentum": jnp.asarray(np.log(self.momentum / (1 - self.momentum)), jnp.float32),
        }

    def init_state(self, params):
        return MomentumState(jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.int32))

    def step(self, meta_params, state, grads, params, value):
        del params, value
        lr = jnp.exp(meta_params["log_lr"])
        beta = jax.nn.sigmoid(meta_params["logit_momentum"])
        momentum = jax.tree.map(lambda m, g: beta * m + g, state.momentum, grads)
        return jax.tree.map(lambda m: -lr * m, momentum), state._replace(momentum=momentum)


def _vector(grads) -> np.ndarray:
    """(..., 2) float64 array of the (log_lr, logit_momentum) components."""
    return np.stack([np.asarray(grads["log_lr"], np.float64), np.asarray(grads["logit_momentum"], np.float64)], -1)


def _relative_error(estimate_, exact) -> float:
    return float(np.linalg.norm(estimate_ - exact) / np.linalg.norm(exact))


def _cosine(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _summed_estimates(estimator, per_task_loss, meta_params, tasks, num_truncations, key, num_replicas):
    """The estimator's gradient estimates summed over `num_truncations` consecutive
    truncations, carrying tasks and estimator state with the meta-parameters held fixed,
    for `num_replicas` independent replicas that start from the same `tasks`."""
    num_tasks = jax.tree.leaves(tasks)[0].shape[0]

    def one_replica(key):
        def truncation(carry, truncation_key):
            tasks, estimator_state, total = carry
            _, _, grads, tasks, estimator_state = estimator.estimate(
                per_task_loss, meta_params, tasks, estimator_state, truncation_key
            )
            return (tasks, estimator_state, jax.tree.map(jnp.add, total, grads)), None

        zeros = jax.tree.map(jnp.zeros_like, meta_params)
        start = (tasks, estimator.init_state(meta_params, num_tasks), zeros)
        (_, _, total), _ = jax.lax.scan(truncation, start, jax.random.split(key, num_truncations))
        return total

    return _vector(jax.jit(jax.vmap(one_replica))(jax.random.split(key, num_replicas)))


def measure(seed: int = 0) -> dict:
    """Exact, TBPTT, ES and PES meta-gradients of the same problems (see the module doc)."""
    rule = LearnedMomentum()
    meta_params = rule.init(None)
    task_key, es_key, pes_key, truncated_es_key = jax.random.split(jax.random.PRNGKey(seed), 4)
    # Antithetic layout: tasks [0, P) and [P, 2P) are the same P problems.
    pairs = fresh_tasks(rule, FAMILY, task_key, 2 * NUM_PAIRS, antithetic=True)
    problems = jax.tree.map(lambda x: x[:NUM_PAIRS], pairs)
    # second_order=True everywhere: ES and PES see every effect of the meta-parameters,
    # including through the optimizee's gradients, and TBPTT must only lack the carried state.
    full = functools.partial(
        per_task_truncation_loss,
        rule,
        FAMILY,
        MetaTrainConfig(horizon=HORIZON, truncation_length=HORIZON, estimator=TBPTT(second_order=True)),
    )
    truncated = functools.partial(
        per_task_truncation_loss,
        rule,
        FAMILY,
        MetaTrainConfig(horizon=HORIZON, truncation_length=TRUNCATION, estimator=TBPTT(second_order=True)),
    )
    num_truncations = HORIZON // TRUNCATION
    exact = jax.jit(jax.grad(lambda m: jnp.mean(full(m, problems, False)[0])))(meta_params)
    return {
        "exact": _vector(exact),
        # TBPTT is deterministic and draws no perturbations: one replica, the key unused.
        "tbptt": _summed_estimates(TBPTT(), truncated, meta_params, problems, num_truncations, task_key, 1)[0],
        "es_full_horizon": _summed_estimates(ES(SIGMA), full, meta_params, pairs, 1, es_key, NUM_REPLICAS),
        "pes": _summed_estimates(PES(SIGMA), truncated, meta_params, pairs, num_truncations, pes_key, NUM_REPLICAS),
        "truncated_es": _summed_estimates(
            ES(SIGMA), truncated, meta_params, pairs, num_truncations, truncated_es_key, NUM_REPLICAS
        ),
    }


@pytest.fixture(scope="module")
def gradients():
    return measure(seed=0)


def _mean_and_standard_error(replicas):
    return replicas.mean(0), replicas.std(0, ddof=1) / np.sqrt(len(replicas))


# The standard error of the mean over all replicas is about 3-5 % of |exact|, so a correct
# estimator lands within a few degrees of the exact gradient (cosine >= 0.995 over seeds
# 0-5); 0.98 is an 11 degree cone. The summed TBPTT gradient is 23-32 degrees off
# (cosine 0.85-0.92).
COSINE_THRESHOLD = 0.98


@pytest.mark.parametrize("name", ["es_full_horizon", "pes"])
def test_es_and_pes_point_along_the_exact_gradient(gradients, name):
    exact = gradients["exact"]
    mean, _ = _mean_and_standard_error(gradients[name])
    assert _cosine(mean, exact) > COSINE_THRESHOLD, (name, mean, exact)
    assert _relative_error(mean, exact) < 0.2, (name, mean, exact)
    # One replica alone (128 pairs) is noisier but already close: median cosine 0.976-0.995
    # over seeds 0-5.
    single = gradients[name]
    single_cosines = single @ exact / (np.linalg.norm(single, axis=1) * np.linalg.norm(exact))
    assert np.median(single_cosines) > 0.95, (name, np.median(single_cosines))


# Deviations in standard errors of the mean over 64 replicas: an unbiased estimator stays
# within 4.5 (a two-sided tail of ~1e-5 per component; PES's largest over seeds 0-5 was
# 2.4), a biased one is far outside (TBPTT: 10.7-17.5 of PES's standard errors).
Z_UNBIASED = 4.5
Z_BIASED = 8.0


def test_pes_is_unbiased_where_tbptt_is_not(gradients):
    exact, tbptt = gradients["exact"], gradients["tbptt"]
    mean, standard_error = _mean_and_standard_error(gradients["pes"])

    pes_z = (mean - exact) / standard_error
    assert np.all(np.abs(pes_z) < Z_UNBIASED), (mean, exact, standard_error)
    pes_error = _relative_error(mean, exact)
    assert pes_error < 0.15, (mean, exact)

    # TBPTT is deterministic given the problems: its error is bias alone, and it is many
    # of PES's standard errors away and several times PES's relative error.
    tbptt_error = _relative_error(tbptt, exact)
    assert tbptt_error > 0.35, (tbptt, exact)
    assert tbptt_error > 3 * pes_error, (tbptt_error, pes_error)
    assert np.max(np.abs((tbptt - exact) / standard_error)) > Z_BIASED, (tbptt, exact, standard_error)
    # It fails the direction check that ES and PES pass, and undervalues the long-horizon
    # benefit of momentum: the momentum component shrinks (to about 55-60 % over seeds 0-5).
    assert _cosine(tbptt, exact) < COSINE_THRESHOLD, (tbptt, exact)
    assert 0 < tbptt[1] < 0.8 * exact[1], (tbptt, exact)


def test_truncated_es_has_the_bias_of_tbptt(gradients):
    """Without PES's accumulated perturbations, ES per truncation estimates the smoothed
    TBPTT gradient: it agrees with TBPTT and misses the exact gradient like TBPTT does."""
    exact, tbptt = gradients["exact"], gradients["tbptt"]
    mean, standard_error = _mean_and_standard_error(gradients["truncated_es"])
    assert np.all(np.abs((mean - tbptt) / standard_error) < Z_UNBIASED), (mean, tbptt, standard_error)
    assert np.max(np.abs((mean - exact) / standard_error)) > Z_BIASED, (mean, exact, standard_error)
    assert _relative_error(mean, exact) > 0.35, (mean, exact)
