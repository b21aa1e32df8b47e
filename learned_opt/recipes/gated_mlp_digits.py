"""The shipped `gated_mlp_digits`: the paper's gated rule (Ravi & Larochelle 2017) with its
input gate bounded at 10, on the base MLP task (20 sigmoid units, batch 128, 100 steps) on
digits; what `notebooks/gates.ipynb` inspects."""

from learned_opt.meta.recipe import Recipe, Stage
from learned_opt.optimizers import GatedLSTM
from learned_opt.recipes.mlp import BASE_TASK_STAGE
from learned_opt.tasks import MLPFamily


def get_config() -> Recipe:
    return Recipe(
        name="gated_mlp_digits",
        rule=GatedLSTM(max_learning_rate=10.0),
        families=(MLPFamily(),),
        stages=(Stage(BASE_TASK_STAGE),),
        description="gated LSTM rule meta-trained on the paper's base MLP (20 sigmoid units) on digits only",
    )
