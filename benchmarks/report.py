"""Gathers the benchmarks' Markdown reports into benchmarks/README.md.

    python benchmarks/report.py

`speed.py` writes speed*.md, `meta_training.py` meta_training.md and `fewshot_memory.py`
fewshot_memory.md; each calls
`write_readme` when it finishes, so the README always shows the latest of both.
"""

from __future__ import annotations

from pathlib import Path

READING_SPEED = """\
### Reading the speed tables

`speed.md` is the fused update (`UpdateRule.step`); `speed_reference.md` the same runner
with `--reference`, the per-leaf flax path (`reference_step`) that tests hold the fused one
to. The reference is the library's update before the fused one, except that it now also
moves the LSTM state's hidden axis (stored first for the fused path) to the end and back:
before that change it took 549 ms (`l2l`) and 535 ms (`gated`) on the 1M-parameter leaf.
Times are medians after compilation and ratios are over `optax.adam` in the same process,
both from one run on the machine the table names. Repeated runs move single cells by up to
1.6x: two runs minutes apart on the AMD EPYC above read the transformer's `l2l` ratio as
1.35x and 1.94x, and the 16k MLP's as 12.1x and 13.3x. Ratios also move between machines:
an earlier x86_64 with `jnp.dot` at 463 GFLOP/s (and Adam's 16k step at 0.20 ms, a third of
the time here) read 14.7x / 7.8x on the 16k MLP and 106x / 55x on the 10M one. The lean configuration is
`learned_opt.optimizers.lean_direct_lstm()` with fresh meta-parameters (its cost does not
depend on their values).

Meta-training throughput (below) on the MLP family rose from 0.93 to 1.97 meta-steps a
second with 32 tasks and from 0.13 to 0.23 with 256 (2.1x and 1.8x; the tables before this
change are in git history, `git show 2c0cbf7:benchmarks/results.json`); the quadratic
workload, 10 parameters a task, is bound by per-operation overheads and did not change.
The goal was 5x. Why it stops near 2x, from the throughput table below: under PES a
meta-step only runs the inner training forward (32 tasks: 16 problems at two
perturbations), at 1.57e3 inner steps a second, where training the same network with the
same learned optimizer outside meta-training runs at 1.2e3, both 12-15x Adam's time. So a
meta-step costs what its learned updates cost (7,162 parameters x 32 tasks x 25 steps: 5.7M
coordinate updates of `gated`), and that update already runs near the bound that its
transcendental functions set (the paragraph below); another 2.5x needs a cheaper update,
such as the lean configuration (an eighth of `gated`'s FLOPs), not a faster loop around it.

**Why the update stays below half of the `jnp.dot` rate.** It reaches 25% on the AMD EPYC
of the tables (whose `jnp.dot` is slow, 71 GFLOP/s) and 10% on the faster x86_64 machine
where this profile of one 16k-coordinate chunk of the shipped `l2l` (two 20-unit layers), in
cache, was taken (`jnp.dot` 380-440 GFLOP/s): the two stacked-gate matmuls
take about 17 ns per coordinate each, close to the dot's rate, but each layer's 100
sigmoids and tanhs and the cell arithmetic take about 57 ns per coordinate (XLA's
vectorised tanh and logistic run at about 1.7 G elements a second there; over rows of 20
units instead of contiguous coordinates they took 115 ns). The 11.5 kFLOP per coordinate
that the rate counts take 27 ns at the dot's rate, so the transcendental functions alone
bound the update near 20% of it; a 1M-coordinate leaf also moves its 336 bytes of state in
and out of memory (about 8 GB/s here outside the caches), about 85 ns per coordinate.
Reaching 50% would need cheaper activation functions than XLA's, or a machine whose dot
rate is closer to its element-wise and memory rates (the issue that asked for it measured a
dot rate of 90 GFLOP/s on a busier machine).
"""


def write_readme(folder: Path) -> Path:
    """Writes `folder`/README.md from the reports in `folder`; returns its path."""
    folder = Path(folder)
    sections = ["# Benchmarks", ""]
    speed_reports = sorted(folder.glob("speed*.md"))
    if speed_reports:
        sections += ["## Speed and memory of the update (`python benchmarks/speed.py`)", ""]
        for path in speed_reports:
            sections += [f"From `{path.name}`:", "", path.read_text().strip(), ""]
        sections += [READING_SPEED]
    meta_training = folder / "meta_training.md"
    if meta_training.exists():
        sections += [meta_training.read_text().strip(), ""]
    fewshot = folder / "fewshot_memory.md"
    if fewshot.exists():
        sections += [fewshot.read_text().strip(), ""]
    readme = folder / "README.md"
    readme.write_text("\n".join(sections).rstrip() + "\n")
    return readme


if __name__ == "__main__":
    print(write_readme(Path(__file__).parent))
