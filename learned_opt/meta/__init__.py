"""Meta-training: unrolls, meta-losses and the outer loop."""

from learned_opt.meta.train import MetaTrainConfig, MetaTrainResult, meta_train
from learned_opt.meta.unroll import InnerState, init_inner_state, unroll

__all__ = ["InnerState", "MetaTrainConfig", "MetaTrainResult", "init_inner_state", "meta_train", "unroll"]
