"""The shipped `l2l`: the direct LSTM rule (Andrychowicz et al. 2016) reading RMS-normalised
momenta at three timescales and the training step besides the paper's log-and-sign
gradient, meta-trained from random initialisation by persistent evolution strategies
(Vicol et al. 2021) on tasks of 400 steps of ten small MLP classifiers, on the log loss,
selected by the validation problems' whole loss curve. `gradient_epsilon` keeps a
coordinate whose gradient is zero or vanishing still."""

import dataclasses

from learned_opt.meta import PES, ClippedAdam, MetaTrainConfig, SumOfLogLosses, Validation
from learned_opt.meta.recipe import Recipe, Stage
from learned_opt.optimizers import DirectLSTM
from learned_opt.recipes._families import mlp_classifiers

EXPLORE = MetaTrainConfig(
    num_meta_steps=2400,
    num_tasks=32,
    horizon=400,
    truncation_length=25,
    estimator=PES(std=0.01),
    objective=SumOfLogLosses(),
    outer_optimizer=ClippedAdam(learning_rate=1e-3),
    validation=Validation(every=600, num_problems=24, whole_curve=True),
)
# Starting from the first stage's best, twice the tasks and a fifth of the step size: the
# evolution strategies' meta-gradient is noisy, and its noise, not its bias, is what a lower
# learning rate and a larger batch of tasks average away (the first stage's validation loss
# swings by a factor of three between checkpoints). Selected on twice the validation problems.
REFINE = dataclasses.replace(
    EXPLORE,
    num_meta_steps=1200,
    num_tasks=64,
    outer_optimizer=ClippedAdam(learning_rate=2e-4),
    validation=Validation(every=300, num_problems=48, whole_curve=True),
)


def get_config() -> Recipe:
    return Recipe(
        name="l2l",
        rule=DirectLSTM(
            momentum_decays=(0.5, 0.9, 0.99), step_timescales=(10.0, 30.0, 100.0, 300.0), gradient_epsilon=1e-8
        ),
        families=mlp_classifiers(),
        stages=(Stage(EXPLORE), Stage(REFINE)),
        description="direct LSTM rule (Andrychowicz et al. 2016) reading RMS-normalised momenta and the step "
        "number too, meta-trained by PES on ten small MLP classifiers (recipe l2l)",
    )
