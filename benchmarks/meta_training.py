"""Meta-training speed and memory, as ratios against optax Adam run in the same process.

    python benchmarks/meta_training.py --out benchmarks/results.json
    python benchmarks/meta_training.py --backend cuda --out benchmarks/results_gpu.json

1. Throughput of two workloads, each next to the inner steps per second of Adam on the
   same batch of tasks (forward training only, no meta-gradient) and of the learned
   optimizer's own training (no meta-gradient):
   - "quadratic": the direct rule on 10-dimensional quadratics, 64 tasks, truncated
     backpropagation over 20 steps; on the CPU with the task batch sharded over 1 and over
     4 XLA host devices (--xla_force_host_platform_device_count=4);
   - "mlp_pes": the shipped `gated` optimizer meta-trained as its recipe meta-trains it,
     PES over 25-step truncations of 400-step runs, on the three-layer
     48-48-48 ReLU network on mnist1d, with 32 and 256 tasks per meta-step.
2. Peak memory: XLA's compiled temporary-buffer size of one meta-step against the
   truncation length, with and without rematerialisation (`jax.checkpoint` of each inner
   step), next to that of Adam's unroll of the same length.

With `--backend cuda` (or rocm, tpu) every measurement runs on the first accelerator. The
Markdown report beside `--out` (meta_training.md, gathered into README.md by
`benchmarks/report.py`) shows every results*.json file in that folder and each
accelerator's speed-up over the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from report import write_readme

THROUGHPUT_WORKER = "--throughput-worker"
# workload -> ((devices, tasks) pairs measured on the CPU, task counts on an accelerator)
WORKLOADS = {
    "quadratic": (((1, 64), (4, 64)), (64,)),
    "mlp_pes": (((1, 32), (1, 256)), (32, 256)),
}


def jitted_unroll(family, tx, num_steps):
    """Training only (no meta-gradient): final losses of `tx` on a batch of problems."""
    import jax

    from learned_opt.meta.unroll import loss_curves

    return jax.jit(lambda d, k: loss_curves(family, tx, d, k, num_steps)[:, -1])


def seconds_per_call(function, *args, repeats: int) -> float:
    import jax

    jax.block_until_ready(function(*args))  # compile
    start = time.perf_counter()
    for _ in range(repeats):
        out = function(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats


def workload(name: str, num_tasks: int):
    """(rule, family, starting meta-parameters or None, MetaTrainConfig) of a workload."""
    import learned_opt as lo
    from learned_opt.checkpoint import load_pretrained
    from learned_opt.meta import PES, MetaTrainConfig, SumOfLogLosses
    from learned_opt.tasks import MLPFamily, QuadraticFamily

    if name == "quadratic":
        config = MetaTrainConfig(num_tasks=num_tasks, horizon=100, truncation_length=20)
        return lo.DirectLSTM(), QuadraticFamily(), None, config
    shipped = load_pretrained("gated")
    config = MetaTrainConfig(
        num_tasks=num_tasks,
        horizon=400,
        truncation_length=25,
        estimator=PES(),
        objective=SumOfLogLosses(),
    )
    family = MLPFamily(hidden_sizes=(48, 48, 48), activation="relu", dataset="mnist1d")
    return shipped.rule, family, shipped.meta_params, config


def throughput(name: str, num_devices: int, num_tasks: int, repeats: int) -> dict:
    import jax
    import optax

    import learned_opt as lo
    from learned_opt.meta import sharding
    from learned_opt.meta.train import initial_state, make_meta_step, state_shardings
    from learned_opt.tasks import sample_problems

    rule, family, meta_params, config = workload(name, num_tasks)
    truncation = config.truncation_length
    mesh = sharding.task_mesh(jax.devices()[:num_devices])
    host = initial_state(rule, (family,), config, initial_meta_params=meta_params)
    state = sharding.place(host, state_shardings(host, mesh))
    meta_step = make_meta_step(rule, (family,), config, mesh)
    state, _ = meta_step(state)  # compile
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(repeats):
        state, metrics = meta_step(state)
    jax.block_until_ready((state, metrics))
    meta_seconds = (time.perf_counter() - start) / repeats

    data, keys = sample_problems(family, 0, "train", num_tasks)
    adam_seconds = seconds_per_call(jitted_unroll(family, optax.adam(1e-2), truncation), data, keys, repeats=repeats)
    learned_tx = lo.learned_optimizer(rule, host.meta_params)
    learned_seconds = seconds_per_call(jitted_unroll(family, learned_tx, truncation), data, keys, repeats=repeats)
    return {
        "workload": name,
        "devices": num_devices,
        "num_tasks": num_tasks,
        "truncation": truncation,
        "meta_steps_per_second": 1.0 / meta_seconds,
        "inner_steps_per_second_learned_meta_training": num_tasks * truncation / meta_seconds,
        "inner_steps_per_second_adam": num_tasks * truncation / adam_seconds,
        "inner_steps_per_second_learned_training": num_tasks * truncation / learned_seconds,
        "learned_training_time_over_adam": learned_seconds / adam_seconds,
        "meta_step_time_over_adam_unroll_time": meta_seconds / adam_seconds,
    }


def memory(lengths, num_tasks: int) -> list[dict]:
    import optax

    import learned_opt as lo
    from learned_opt.meta import TBPTT, MetaTrainConfig
    from learned_opt.meta.train import initial_state, make_meta_step
    from learned_opt.tasks import QuadraticFamily, sample_problems

    family, rule = QuadraticFamily(), lo.DirectLSTM()
    rows = []
    for length in lengths:
        data, keys = sample_problems(family, 0, "train", num_tasks)
        adam_bytes = jitted_unroll(family, optax.adam(1e-2), length).lower(data, keys).compile().memory_analysis()
        row = {"truncation": length, "adam_unroll_temp_bytes": adam_bytes.temp_size_in_bytes}
        for remat in (False, True):
            config = MetaTrainConfig(
                num_tasks=num_tasks, horizon=length, truncation_length=length, estimator=TBPTT(remat=remat)
            )
            state = initial_state(rule, (family,), config)
            analysis = make_meta_step(rule, (family,), config).lower(state).compile().memory_analysis()
            name = "remat" if remat else "no_remat"
            row[f"meta_step_temp_bytes_{name}"] = analysis.temp_size_in_bytes
            row[f"ratio_to_adam_{name}"] = analysis.temp_size_in_bytes / max(adam_bytes.temp_size_in_bytes, 1)
        rows.append(row)
    return rows


def machine_report(results: dict, command: str) -> list[str]:
    """Markdown tables of one results file."""
    lines = [
        f"## {results['machine']}",
        "",
        f"Measured by `{command}`.",
        "",
        "### Meta-training throughput",
        "",
        "| workload | devices | tasks | meta-steps/s | inner steps/s, meta-training "
        "| inner steps/s, learned optimizer training | inner steps/s, Adam | learned / Adam time "
        "| meta-step / Adam unroll time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["throughput"]:
        lines.append(
            f"| {row['workload']} | {row['devices']} | {row['num_tasks']} | {row['meta_steps_per_second']:.2f} | "
            f"{row['inner_steps_per_second_learned_meta_training']:.3g} | "
            f"{row['inner_steps_per_second_learned_training']:.3g} | {row['inner_steps_per_second_adam']:.3g} | "
            f"{row['learned_training_time_over_adam']:.1f} | {row['meta_step_time_over_adam_unroll_time']:.1f} |"
        )
    lines += [
        "",
        "### Peak temporary memory of one meta-step against truncation length (quadratic)",
        "",
        "| truncation | Adam unroll | meta-step | meta-step, remat | ratio to Adam | ratio to Adam, remat |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["memory"]:
        lines.append(
            f"| {row['truncation']} | {row['adam_unroll_temp_bytes'] / 1e6:.2f} MB | "
            f"{row['meta_step_temp_bytes_no_remat'] / 1e6:.2f} MB | {row['meta_step_temp_bytes_remat'] / 1e6:.2f} MB | "
            f"{row['ratio_to_adam_no_remat']:.1f} | {row['ratio_to_adam_remat']:.1f} |"
        )
    return lines + [""]


def speedup_report(results_by_file: dict[str, dict]) -> list[str]:
    """Meta-steps per second on each accelerator over those on the CPU, for the
    single-device configurations that both measured."""
    cpu = [r for r in results_by_file.values() if r.get("backend", "cpu") == "cpu"]
    accelerators = [r for r in results_by_file.values() if r.get("backend", "cpu") != "cpu"]
    if not cpu or not accelerators:
        return []
    on_cpu = {(row["workload"], row["num_tasks"]): row for row in cpu[0]["throughput"] if row["devices"] == 1}
    lines = [
        "## Accelerator over CPU",
        "",
        f"Meta-steps per second over those on {cpu[0]['machine']}.",
        "",
        "| machine | workload | tasks | speed-up |",
        "|---|---|---|---|",
    ]
    for results in accelerators:
        for row in results["throughput"]:
            base = on_cpu.get((row["workload"], row["num_tasks"]))
            if row["devices"] == 1 and base:
                ratio = row["meta_steps_per_second"] / base["meta_steps_per_second"]
                lines.append(f"| {results['machine']} | {row['workload']} | {row['num_tasks']} | {ratio:.0f} |")
    return lines + [""]


def report(results_by_file: dict[str, dict]) -> str:
    """The meta-training section of the benchmarks' README: every results file's tables, the
    accelerators' speed-ups, then what the columns mean."""
    lines = ["## Meta-training", ""]
    for name, results in sorted(results_by_file.items()):
        backend = results.get("backend", "cpu")
        option = "" if backend == "cpu" else f" --backend {backend}"
        lines += machine_report(results, f"python benchmarks/meta_training.py{option} --out benchmarks/{name}")
    lines += speedup_report(results_by_file)
    lines += [
        "### Reading the meta-training tables",
        "",
        "quadratic: the direct rule on 10-dimensional quadratics, truncated backpropagation over",
        "20 steps. mlp_pes: the shipped `gated` optimizer under PES over 25-step truncations (as",
        "recipe `gated` meta-trains it) on the 48-48-48 ReLU network on mnist1d.",
        "",
        "Every 'per second' counts inner optimizer steps summed over the tasks. The learned",
        "optimizer runs two 20-unit LSTM layers per coordinate, so on a 10-parameter problem it",
        "is far costlier than Adam's few element-wise operations; the ratio shrinks as the",
        "optimizee's own cost grows. The CPU's 4 devices are XLA host-platform devices sharing",
        "the same cores, so that row shows the cost of sharding the task batch, not a speed-up;",
        "on a machine with several accelerators the same code splits the batch across them.",
        "",
        "Memory sizes are XLA's compiled temporary buffers",
        "(`compiled.memory_analysis().temp_size_in_bytes`), deterministic for a given program and",
        "backend; 64 tasks of the 10-dimensional quadratic.",
    ]
    return "\n".join(lines) + "\n"


def machine_description(backend: str) -> str:
    import jax

    if backend == "cpu":
        python = platform.python_version()
        return f"{platform.machine()} CPU, {os.cpu_count()} cores, Python {python}, jax {jax.__version__}"
    return (
        f"{jax.devices()[0].device_kind}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"jax {jax.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out",
        default="benchmarks/results.json",
        help="JSON results; a Markdown report of every results*.json beside it goes there as README.md",
    )
    parser.add_argument(
        "--backend",
        choices=("cpu", "cuda", "rocm", "tpu"),
        default="cpu",
        help="the JAX platform every measurement runs on",
    )
    parser.add_argument("--repeats", type=int, default=50, help="timed quadratic meta-steps per configuration")
    parser.add_argument("--mlp-repeats", type=int, default=10, help="timed mlp_pes meta-steps per configuration")
    parser.add_argument(
        "--lengths", type=int, nargs="+", default=[10, 20, 50, 100, 200], help="truncation lengths for memory"
    )
    parser.add_argument(THROUGHPUT_WORKER, nargs=3, metavar=("WORKLOAD", "DEVICES", "TASKS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.throughput_worker:
        name, devices, tasks = args.throughput_worker
        repeats = args.repeats if name == "quadratic" else args.mlp_repeats
        print(json.dumps(throughput(name, int(devices), int(tasks), repeats)))
        return
    # each configuration in its own process: the forced host device count is fixed at import
    os.environ["JAX_PLATFORMS"] = args.backend  # this process's memory measurements too
    env = dict(os.environ)
    if args.backend == "cpu":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    rows = []
    for name, (cpu_runs, gpu_tasks) in WORKLOADS.items():
        runs = cpu_runs if args.backend == "cpu" else [(1, tasks) for tasks in gpu_tasks]
        for devices, tasks in runs:
            command = [
                sys.executable,
                __file__,
                THROUGHPUT_WORKER,
                name,
                str(devices),
                str(tasks),
                "--repeats",
                str(args.repeats),
                "--mlp-repeats",
                str(args.mlp_repeats),
            ]
            output = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
    results = {
        "machine": machine_description(args.backend),
        "backend": args.backend,
        "throughput": rows,
        "memory": memory(args.lengths, 64),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    everything = {path.name: json.loads(path.read_text()) for path in out.parent.glob("results*.json")}
    (out.parent / "meta_training.md").write_text(report(everything))
    write_readme(out.parent)
    print(report({out.name: results}))


if __name__ == "__main__":
    main()
