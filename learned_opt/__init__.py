"""learned_opt: learned optimizers in the "gradient descent as LSTM" family, for optax."""

from learned_opt.checkpoint import CheckpointError, list_pretrained, load, load_pretrained, pretrained, save
from learned_opt.optimizers import DirectLSTM, GatedLSTM, TrainState, learned_optimizer

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DirectLSTM",
    "GatedLSTM",
    "TrainState",
    "learned_optimizer",
    "list_pretrained",
    "load",
    "load_pretrained",
    "pretrained",
    "save",
    "__version__",
]
