"""Few-shot meta-learning: MAML, first-order MAML, Reptile, pretraining and fine-tuning,
and the gated LSTM meta-learner of Ravi & Larochelle 2017 with a learned initialisation.

    from learned_opt import fewshot
    benchmark = fewshot.Sinusoid(shots=5)
    result = fewshot.meta_train(fewshot.MAML(inner_lr=0.01), benchmark, key, 5000, meta_batch=25)
    evaluation = fewshot.evaluate(fewshot.MAML(inner_lr=0.01), result.meta_params, benchmark, key)

The inner loop (`adapt`) takes any optax optimizer, learned or not.
"""

from learned_opt.fewshot.adaptation import adapt
from learned_opt.fewshot.benchmarks import ImageClassification, Sinusoid, glyph_classification
from learned_opt.fewshot.episodes import Episode, image_episode, sinusoid_episode
from learned_opt.fewshot.methods import MAML, METHODS, GatedMetaLearner, Pretrain, Reptile
from learned_opt.fewshot.train import Evaluation, evaluate, meta_train, tune_on_validation

__all__ = [
    "MAML",
    "METHODS",
    "Episode",
    "Evaluation",
    "GatedMetaLearner",
    "ImageClassification",
    "Pretrain",
    "Reptile",
    "Sinusoid",
    "adapt",
    "evaluate",
    "glyph_classification",
    "image_episode",
    "meta_train",
    "sinusoid_episode",
    "tune_on_validation",
]
