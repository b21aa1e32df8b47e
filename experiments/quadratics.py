"""Andrychowicz et al. (2016), Sec. 3.1 and Fig. 2: the direct LSTM rule meta-trained on
random 10-dimensional quadratics f(theta) = ||W theta - y||^2 against learning-rate-tuned
Adam, RMSprop, SGD and Nesterov momentum on held-out quadratics, 100 steps.

    python experiments/quadratics.py [--run runs/quadratic] [--num-problems 100]

Meta-trains recipe `quadratic` into RUN (or resumes it there; a finished run is reused),
then writes experiments/results/quadratics.{json,md,png}: the table of final losses and the
median loss curves.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import learned_opt as lo
from learned_opt.evaluation import compare, format_table
from learned_opt.meta.recipe import load_recipe, run_recipe
from learned_opt.plotting import pyplot
from learned_opt.tasks import QuadraticFamily

RESULTS = Path(__file__).resolve().parent / "results"
NUM_STEPS = 100


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/quadratic", help="run directory of recipe quadratic")
    parser.add_argument("--num-problems", type=int, default=100, help="held-out test and tuning problems")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test and tuning problems")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    recipe, path = load_recipe("quadratic")
    run_recipe(recipe, args.run, resume=True, recipe_file=str(path))
    loaded = lo.load(args.run)
    rows, curves = compare(
        QuadraticFamily(),
        {"learned (direct)": lo.learned_optimizer(loaded.rule, loaded.meta_params)},
        seed=args.seed,
        num_problems=args.num_problems,
        tuning_problems=args.num_problems,
        num_steps=NUM_STEPS,
    )
    seconds = time.perf_counter() - start

    RESULTS.mkdir(exist_ok=True)
    command = "python experiments/quadratics.py" + (f" --seed {args.seed}" if args.seed else "")
    (RESULTS / "quadratics.json").write_text(
        json.dumps({"command": command, "seconds": seconds, "rows": [row.as_dict() for row in rows]}, indent=1)
    )
    (RESULTS / "quadratics.md").write_text(
        f"# Quadratics (Andrychowicz et al. 2016, Sec. 3.1)\n\n{args.num_problems} held-out 10-dimensional "
        f"quadratics, {NUM_STEPS} steps; baselines' learning rates tuned on {args.num_problems} others. "
        f"Produced by `{command}` in {seconds / 60:.0f} minutes.\n\n{format_table(rows, NUM_STEPS)}\n"
    )
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for name, curve in curves.items():
        axis.plot(np.median(curve, axis=0), label=name)
    axis.set(xlabel="step", ylabel="loss, median over problems", yscale="log", title="10-dimensional quadratics")
    axis.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "quadratics.png", dpi=100)
    print(format_table(rows, NUM_STEPS))
    print(f"wrote {RESULTS}/quadratics.{{json,md,png}} in {seconds:.0f}s")


if __name__ == "__main__":
    main()
