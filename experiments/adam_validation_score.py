"""Adam's score on the validation problems that `experiments/pretrain.py` selects by.

    python experiments/adam_validation_score.py [--horizon 400] [--validation-problems 48]

For each learning rate of the baselines' grid: the mean over the six training families of
the log of the mean final loss at step `--horizon` (default 200) on their
`--validation-problems` (default 16) validation problems, the score `meta_train` keeps the
best meta-parameters by under the default `--validate-on final` (lower is better). Prints the best single learning rate and the
score of Adam with its learning rate chosen per family.
"""

from __future__ import annotations

import argparse

import numpy as np
import optax

from learned_opt.baselines import DEFAULT_LEARNING_RATES
from learned_opt.evaluation import problem_curves

from pretrain import DEFAULT_HORIZON, NUM_VALIDATION_PROBLEMS, training_families


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--horizon", type=int, default=DEFAULT_HORIZON, help="steps per validation problem")
    parser.add_argument("--validation-problems", type=int, default=NUM_VALIDATION_PROBLEMS, help="problems per family")
    args = parser.parse_args()
    families = training_families()
    final = np.array([
        [np.mean(problem_curves(f, optax.adam(lr), 0, "validation", args.validation_problems, args.horizon)[:, -1])
         for f in families]
        for lr in DEFAULT_LEARNING_RATES
    ])
    scores = np.mean(np.log(final), axis=1)
    best = int(np.nanargmin(scores))
    print(f"Adam, best single learning rate {DEFAULT_LEARNING_RATES[best]:.3g}: {scores[best]:.3f}")
    print(f"Adam, learning rate chosen per family: {np.mean(np.log(np.nanmin(final, axis=0))):.3f}")


if __name__ == "__main__":
    main()
