"""Meta-training: unrolls, meta-losses and the outer loop."""

from learned_opt.meta.train import (
    MetaTrainConfig,
    MetaTrainResult,
    MetaTrainState,
    meta_train,
    metrics_up_to,
    train_state_step,
)
from learned_opt.meta.unroll import InnerState, init_inner_state, unroll

__all__ = [
    "InnerState",
    "MetaTrainConfig",
    "MetaTrainResult",
    "MetaTrainState",
    "init_inner_state",
    "meta_train",
    "metrics_up_to",
    "train_state_step",
    "unroll",
]
