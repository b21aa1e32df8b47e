"""`learned-opt demo`: a pretrained learned optimizer against tuned Adam on digits."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from learned_opt.baselines import tune_learning_rate
from learned_opt.checkpoint import DEFAULT_PRETRAINED, pretrained
from learned_opt.meta.unroll import init_inner_state, unroll
from learned_opt.tasks import MLPFamily, sample_problems

DEMO_FAMILY = MLPFamily(hidden_sizes=(64,), activation="relu", batch_size=128, dataset="digits")


def train(family: MLPFamily, tx, num_steps: int, seed: int, num_seeds: int) -> dict:
    """Trains `num_seeds` problems of the test split (initialisations and minibatch orders);
    returns each one's minibatch loss curve, final loss on the whole training split, test
    accuracy and training time (compilation excluded: the compiled run is timed on its own)."""
    data, keys = sample_problems(family, seed, "test", num_seeds)

    def run(data, key):
        state, losses = unroll(family, tx, init_inner_state(family, tx, data, key), num_steps)
        return losses, family.full_train_loss(state.params), family.test_accuracy(state.params)

    first = jax.tree.map(lambda x: x[0], data)
    compiled = jax.jit(run).lower(first, keys[0]).compile()
    runs, seconds = [], []
    for index in range(num_seeds):
        start = time.perf_counter()
        runs.append(jax.block_until_ready(compiled(jax.tree.map(lambda x: x[index], data), keys[index])))
        seconds.append(time.perf_counter() - start)
    losses, train_losses, accuracies = (np.stack([np.asarray(run[k]) for run in runs]) for k in range(3))
    return {"losses": losses, "train_loss": train_losses, "test_accuracy": accuracies, "seconds": np.array(seconds)}


def run_demo(
    name: str | None, num_steps: int, tuning_problems: int, seed: int, plot_path: Path | None, num_seeds: int = 5
) -> list[dict]:
    """Trains the demo MLP with the pretrained optimizer `name` and with Adam tuned on the
    same family and step count, over `num_seeds` seeds; returns one row per optimizer with
    the medians over seeds and writes the median loss curves' PNG."""
    tuned = tune_learning_rate("adam", DEMO_FAMILY, seed=seed, num_problems=tuning_problems, num_steps=num_steps)
    runs = {
        f"learned ({name or DEFAULT_PRETRAINED})": (
            train(DEMO_FAMILY, pretrained(name), num_steps, seed, num_seeds),
            None,
        ),
        "adam": (train(DEMO_FAMILY, tuned.transform(), num_steps, seed, num_seeds), tuned.learning_rate),
    }
    rows = [
        {
            "optimizer": label,
            "learning_rate": rate,
            "seeds": num_seeds,
            "final_train_loss": float(np.median(run["train_loss"])),
            "test_accuracy": float(np.median(run["test_accuracy"])),
            "seconds": float(np.median(run["seconds"])),
        }
        for label, (run, rate) in runs.items()
    ]
    if plot_path is not None:
        from learned_opt.plotting import pyplot

        plt = pyplot()

        figure, axis = plt.subplots(figsize=(5.5, 3.5))
        for label, (run, rate) in runs.items():
            axis.plot(
                np.median(run["losses"], axis=0), label=label if rate is None else f"{label} (lr {rate:.3g}, tuned)"
            )
        axis.set(
            xlabel="step",
            ylabel="minibatch loss, median over seeds",
            yscale="log",
            title="MLP 64 -> 64 ReLU -> 10 on digits",
        )
        axis.legend()
        figure.tight_layout()
        plot_path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(plot_path, dpi=100)
        plt.close(figure)
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [
        f"Medians over {rows[0]['seeds']} seeds; train loss over the whole training split.",
        "",
        "| optimizer | learning rate | final train loss | test accuracy | wall time |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        rate = "learned" if row["learning_rate"] is None else f"{row['learning_rate']:.3g} (tuned)"
        lines.append(
            f"| {row['optimizer']} | {rate} | {row['final_train_loss']:.3g} | {row['test_accuracy']:.3f} "
            f"| {row['seconds'] * 1000:.0f} ms |"
        )
    return "\n".join(lines)
