"""Peak memory of second-order MAML's meta-gradient against the number of inner steps, with
and without checkpointing each inner step (`jax.checkpoint`).

    python benchmarks/fewshot_memory.py

Measures XLA's compiled temporary-buffer size (`compiled.memory_analysis()`, deterministic
for a program and backend; nothing is run) of one meta-gradient of MAML over a meta-batch
of glyph-sized 5-way 1-shot episodes with the 4-block, 32-filter conv learner, next to the
same for first-order MAML and for the adapted forward pass alone. Writes fewshot_memory.json
and fewshot_memory.md beside this file, gathered into README.md by `report.py`.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
from report import write_readme

from learned_opt.data.fewshot import random_images
from learned_opt.fewshot import MAML, ImageClassification
from learned_opt.fewshot.methods import _mean_query_loss

HERE = Path(__file__).resolve().parent


def random_glyph_sized_benchmark(task_batching: str) -> ImageClassification:
    """5-way 1-shot episodes of random 28x28 images: memory depends only on shapes."""
    return ImageClassification(
        random_images(10, 20, 28), ways=5, shots=1, queries=5, filters=32, task_batching=task_batching
    )


def temp_megabytes(function, *args) -> float:
    return jax.jit(function).lower(*args).compile().memory_analysis().temp_size_in_bytes / 2**20


def measure(steps_list, meta_batch: int) -> list[dict]:
    benchmark = random_glyph_sized_benchmark("map")
    theta = benchmark.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    one_episode = benchmark.episodes(key, 1)
    rows = []
    for steps in steps_list:
        row = {"inner_steps": steps}
        for label, method in (
            ("maml", MAML(inner_lr=0.4, inner_steps=steps)),
            ("maml_checkpointed", MAML(inner_lr=0.4, inner_steps=steps, checkpoint=True)),
            ("fomaml", MAML(inner_lr=0.4, inner_steps=steps, first_order=True)),
        ):
            row[label] = temp_megabytes(lambda p, m=method: m.meta_gradient(p, key, benchmark, meta_batch), theta)
        optimizer = MAML(inner_lr=0.4).inner_optimizer(theta)
        row["forward"] = temp_megabytes(lambda p: _mean_query_loss(benchmark, p, optimizer, one_episode, steps), theta)
        rows.append(row)
        print(row, flush=True)
    return rows


def markdown(rows, meta_batch: int, machine: str) -> str:
    lines = [
        "## Few-shot: second-order MAML's memory against inner steps (`python benchmarks/fewshot_memory.py`)",
        "",
        f"### {machine}",
        "",
        f"XLA's temporary buffers (MB) of one meta-gradient over {meta_batch} 5-way 1-shot glyph-sized "
        "episodes (tasks one at a time, `lax.map`), 4-block 32-filter conv learner; the last column is one "
        "task's adaptation and query loss without any gradient.",
        "",
        "| inner steps | MAML | MAML, checkpointed | first-order MAML | forward only |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['inner_steps']} | {row['maml']:.1f} | {row['maml_checkpointed']:.1f} | "
            f"{row['fomaml']:.1f} | {row['forward']:.1f} |"
        )
    first, last = rows[0], rows[-1]
    span = last["inner_steps"] - first["inner_steps"]
    per_step = {k: (last[k] - first[k]) / span for k in ("maml", "maml_checkpointed", "fomaml")}
    lines += [
        "",
        f"Growth per inner step: MAML {per_step['maml']:.2f} MB, checkpointed {per_step['maml_checkpointed']:.2f} MB, "
        f"first-order {per_step['fomaml']:.2f} MB.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 5, 10, 20], help="inner steps to measure")
    parser.add_argument("--meta-batch", type=int, default=4, help="tasks per meta-gradient")
    args = parser.parse_args(argv)
    rows = measure(args.steps, args.meta_batch)
    machine = f"{platform.machine()} {jax.default_backend().upper()}, jax {jax.__version__}"
    (HERE / "fewshot_memory.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")
    (HERE / "fewshot_memory.md").write_text(markdown(rows, args.meta_batch, machine))
    print(write_readme(HERE))


if __name__ == "__main__":
    main()
