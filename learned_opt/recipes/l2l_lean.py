"""The lean direct rule (`lean_direct_lstm()`: one layer of 6 units, its state in bfloat16,
32 bytes of state per parameter), meta-trained as the shipped `l2l` is but for 12000
meta-steps on 48 validation problems. Not shipped: on the held-out table it is below tuned
Adam in 5 of 10 cells (experiments/results/pretrained_l2l-lean.md)."""

import dataclasses

from learned_opt.meta.recipe import Recipe, Stage
from learned_opt.optimizers import lean_direct_lstm
from learned_opt.recipes._families import mlp_classifiers
from learned_opt.recipes.l2l import EXPLORE


def get_config() -> Recipe:
    return Recipe(
        name="l2l_lean",
        rule=lean_direct_lstm(),
        families=mlp_classifiers(),
        stages=(
            Stage(
                dataclasses.replace(
                    EXPLORE,
                    num_meta_steps=12000,
                    validation=dataclasses.replace(EXPLORE.validation, num_problems=48),
                )
            ),
        ),
        description="lean direct LSTM rule, 32 bytes of state per parameter (not shipped)",
    )
