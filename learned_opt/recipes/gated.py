"""The shipped `gated`: the gated LSTM rule (Ravi & Larochelle 2017) stepping along Adam's
direction, its input gate a learned per-coordinate learning rate and its forget gate a
learned weight retention, reading RMS-normalised momenta, the loss's changes and the
training step besides the paper's inputs; meta-trained from random initialisation by
persistent evolution strategies (Vicol et al. 2021) on tasks of 400 steps of ten small MLP
classifiers, on the log loss, selected by the validation problems' whole loss curve."""

from learned_opt.meta.recipe import Recipe, Stage
from learned_opt.optimizers import GatedLSTM
from learned_opt.recipes._families import mlp_classifiers
from learned_opt.recipes.l2l import EXPLORE, REFINE


def get_config() -> Recipe:
    # The gates start at f = 0.99995 (almost no weight decay) and i = 0.029, near the single
    # Adam learning rate that is best over the training families.
    return Recipe(
        name="gated",
        rule=GatedLSTM(
            momentum_decays=(0.5, 0.9, 0.99),
            descent_direction="normalized_momentum",
            direction_decay=0.9,
            forget_bias_init=10.0,
            input_bias_init=-3.5,
            step_timescales=(10.0, 30.0, 100.0, 300.0),
            loss_change_decays=(0.0, 0.9),
        ),
        families=mlp_classifiers(),
        # The stages of recipe l2l. For this rule, at the first stage's step size the validation
        # loss drifts up from the hand-set start while the meta-loss falls: the refining stage's
        # smaller steps and larger batch of tasks average that noise away.
        stages=(Stage(EXPLORE), Stage(REFINE)),
        description="gated LSTM rule (Ravi & Larochelle 2017) stepping along Adam's direction, its input gate a "
        "learned learning rate, reading the loss's changes and the step number too, meta-trained by "
        "PES on ten small MLP classifiers (recipe gated)",
    )
