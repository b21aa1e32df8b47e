"""Andrychowicz et al. 2016, Sec. 3.1: the direct LSTM rule on 10-dimensional quadratics
f(theta) = ||W theta - y||^2, 100 steps, truncated backpropagation over 20-step truncations."""

from learned_opt.meta import ClippedAdam, MetaTrainConfig, Validation
from learned_opt.meta.recipe import Recipe, Stage
from learned_opt.optimizers import DirectLSTM
from learned_opt.tasks import QuadraticFamily


def get_config() -> Recipe:
    return Recipe(
        name="quadratic",
        rule=DirectLSTM(),
        families=(QuadraticFamily(),),
        stages=(
            Stage(
                MetaTrainConfig(
                    num_meta_steps=2000,
                    num_tasks=64,
                    horizon=100,
                    truncation_length=20,
                    outer_optimizer=ClippedAdam(learning_rate=3e-3),
                    validation=Validation(every=50, num_problems=100),
                )
            ),
        ),
        description="the paper's direct LSTM rule on random quadratics (Andrychowicz et al. 2016, Sec. 3.1)",
    )
