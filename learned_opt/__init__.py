"""learned_opt: learned optimizers in the "gradient descent as LSTM" family, for optax."""

from learned_opt.optimizers import DirectLSTM, GatedLSTM, learned_optimizer

__version__ = "0.1.0"

__all__ = ["DirectLSTM", "GatedLSTM", "learned_optimizer", "__version__"]
