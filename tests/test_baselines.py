"""Learning-rate-tuned baselines: the pick, and agreement of tuning with an independent
evaluation of the same tuning problems."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learned_opt import baselines, evaluation, tasks

GRID = (1e-3, 1e-2, 1e-1)


@pytest.mark.parametrize(
    "scores, expected",
    [
        ([3.0, 2.0, 1.0], 1e-1),
        ([1.0, 2.0, 3.0], 1e-3),
        ([2.0, 0.5, 3.0], 1e-2),
        ([math.nan, 2.0, 3.0], 1e-2),  # np.argmin alone would pick the NaN
        ([3.0, math.nan, 2.0], 1e-1),
        ([math.inf, math.nan, 5.0], 1e-1),
        ([1.0, 1.0, 1.0], 1e-3),  # ties: the first
    ],
)
def test_pick_learning_rate(scores, expected):
    assert baselines.pick_learning_rate(GRID, scores) == expected
    assert baselines.pick_learning_rate(list(GRID), np.asarray(scores, np.float32)) == expected


def test_pick_learning_rate_nan_is_worse_than_any_number():
    assert baselines.pick_learning_rate(GRID, [math.nan, 1e30, math.nan]) == 1e-2


@pytest.fixture(scope="module")
def tuned():
    family = tasks.QuadraticFamily()
    result = baselines.tune_learning_rate("sgd", family, num_problems=8, num_steps=10, grid=GRID)
    return family, result


@pytest.fixture(scope="module")
def recomputed_scores(tuned):
    """Mean loss after 10 steps on the 8 tuning problems, one optax.sgd per learning rate."""
    family, _ = tuned
    data, keys = tasks.sample_problems(family, 0, "tuning", 8)
    # One compilation for the whole grid: the learning rate is an argument.
    run = jax.jit(lambda learning_rate: evaluation.loss_curves(family, optax.sgd(learning_rate), data, keys, 10))
    scores = []
    for learning_rate in GRID:
        curves = np.asarray(run(learning_rate))
        assert curves.shape == (8, 11)
        scores.append(float(np.mean(curves[:, -1])))
    return np.asarray(scores)


def test_tune_picks_lowest_recomputed_score(tuned, recomputed_scores):
    _, result = tuned
    assert result.name == "sgd"
    assert result.grid == GRID
    # The grid is not degenerate, so the pick means something.
    assert len(set(np.round(recomputed_scores, 3))) == len(GRID)
    assert result.learning_rate == GRID[int(np.argmin(np.nan_to_num(recomputed_scores, nan=np.inf)))]


def test_tune_scores_match_recomputation(tuned, recomputed_scores):
    _, result = tuned
    assert len(result.grid_scores) == len(GRID)
    np.testing.assert_allclose(np.asarray(result.grid_scores), recomputed_scores, rtol=1e-4)


def test_tuned_transform_is_sgd_at_the_picked_rate(tuned):
    _, result = tuned
    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([0.5, 4.0])}
    tx = result.transform()
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["w"]), -result.learning_rate * np.asarray(grads["w"]), rtol=1e-6)


def test_tuning_uses_the_tuning_split(tuned, recomputed_scores):
    """Scores on the test split differ: tuning did not peek at reported problems."""
    family, result = tuned
    data, keys = tasks.sample_problems(family, 0, "test", 8)
    curves = np.asarray(jax.jit(lambda d, k: evaluation.loss_curves(family, optax.sgd(GRID[1]), d, k, 10))(data, keys))
    assert not np.isclose(float(np.mean(curves[:, -1])), recomputed_scores[1], rtol=1e-3)


def test_unknown_baseline_raises():
    with pytest.raises(ValueError, match="no_such_optimizer"):
        baselines.tune_learning_rate(
            "no_such_optimizer", tasks.QuadraticFamily(), num_problems=2, num_steps=2, grid=GRID
        )
