"""Andrychowicz et al. 2016, Sec. 3.2: the direct LSTM rule on the base MLP (one hidden layer
of 20 sigmoid units, batch 128, 100 steps), on the bundled digits instead of MNIST."""

from learned_opt.meta import ClippedAdam, MetaTrainConfig, Validation
from learned_opt.meta.recipe import Recipe, Stage
from learned_opt.optimizers import DirectLSTM
from learned_opt.tasks import MLPFamily

# The paper's base-task meta-training, which recipe gated_mlp_digits shares.
BASE_TASK_STAGE = MetaTrainConfig(
    num_meta_steps=300,
    num_tasks=16,
    horizon=100,
    truncation_length=20,
    outer_optimizer=ClippedAdam(learning_rate=1e-2),
    validation=Validation(every=50, num_problems=32),
)


def get_config() -> Recipe:
    return Recipe(
        name="mlp",
        rule=DirectLSTM(),
        families=(MLPFamily(),),
        stages=(Stage(BASE_TASK_STAGE),),
        description="the paper's direct LSTM rule on the base MLP task (Andrychowicz et al. 2016, Sec. 3.2)",
    )
