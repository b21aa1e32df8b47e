"""Meta-training: unrolls, estimators, objectives and the outer loop."""

from learned_opt.meta.config import (
    ClippedAdam,
    MetaTrainConfig,
    SumOfLogLosses,
    SumOfLosses,
    Validation,
)
from learned_opt.meta.estimators import ES, PES, TBPTT
from learned_opt.meta.train import (
    MetaTrainResult,
    MetaTrainState,
    meta_train,
    metrics_up_to,
    train_state_step,
)
from learned_opt.meta.unroll import InnerState, init_inner_state, unroll

__all__ = [
    "ES",
    "PES",
    "TBPTT",
    "ClippedAdam",
    "InnerState",
    "MetaTrainConfig",
    "MetaTrainResult",
    "MetaTrainState",
    "SumOfLogLosses",
    "SumOfLosses",
    "Validation",
    "init_inner_state",
    "meta_train",
    "metrics_up_to",
    "train_state_step",
    "unroll",
]
