"""Speed and memory of the learned updates, as ratios against optax run in the same process.

    python benchmarks/speed.py --json benchmarks/speed.json
    python benchmarks/speed.py --reference --json benchmarks/speed_reference.json

Measured after compilation, as the median of repeated runs:

1. the full train step (gradient, update, `optax.apply_updates`) of sigmoid MLPs on
   784-dimensional inputs, batch 128, from about 16k to about 10M parameters, and of a
   2-layer character transformer language model (d 48, 2048 tokens a batch), for each
   shipped general-purpose optimizer, the lean configuration `lean_direct_lstm()`,
   `optax.adam` and `optax.sgd`, with its time over Adam's and its compile time;
2. the update alone on one leaf of 2^20 parameters, as a share of the FLOP rate of a
   2048x2048 float32 `jnp.dot` measured in the same run (FLOPs as each rule's docstring
   counts them, every input per coordinate);
3. bytes of optimizer state per parameter.

`--reference` runs the learned rules through their per-leaf flax path (`reference_step`)
instead of the fused `step`: the computation before the fused update. Meta-training
throughput is measured by `benchmarks/meta_training.py`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from report import write_readme

from learned_opt import GatedLSTM, learned_optimizer
from learned_opt.checkpoint import load_pretrained
from learned_opt.meta.train import machine_description
from learned_opt.optimizers import lean_direct_lstm

# with fresh meta-parameters: its cost does not depend on their values
LEAN = lean_direct_lstm()
MLP_WIDTHS = {"mlp_16k": (20,), "mlp_270k": (256, 256), "mlp_1.9m": (1024, 1024), "mlp_10m": (2048, 2048, 2048)}


class ReferencePath:
    """A rule whose `step` is its per-leaf `reference_step`."""

    def __init__(self, rule):
        self._rule = rule

    def __getattr__(self, name):
        return getattr(self._rule, name)

    def step(self, *args):
        return self._rule.reference_step(*args)


def rule_flops_per_coordinate(rule) -> int:
    """Multiply-add FLOPs per coordinate and step, every LSTM input counted per coordinate."""
    if isinstance(rule, GatedLSTM):
        h = rule.hidden_size
        return 2 * (rule.num_features + h) * 4 * h + 4 * h
    sizes = (rule.num_features, *rule.hidden_sizes)
    return sum(2 * (sizes[k] + sizes[k + 1]) * 4 * sizes[k + 1] for k in range(len(rule.hidden_sizes))) + 2 * sizes[-1]


def optimizers(reference: bool) -> dict:
    """name -> (optax transform, its rule or None)."""
    result = {}
    for name in ("l2l", "gated"):
        loaded = load_pretrained(name)
        rule = ReferencePath(loaded.rule) if reference else loaded.rule
        result[name] = (learned_optimizer(rule, loaded.meta_params), loaded.rule)
    lean = ReferencePath(LEAN) if reference else LEAN
    result["lean"] = (learned_optimizer(lean, LEAN.init(jax.random.PRNGKey(0))), LEAN)
    result["adam"] = (optax.adam(1e-3), None)
    result["sgd"] = (optax.sgd(1e-2), None)
    return result


class MLP(nn.Module):
    widths: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for width in self.widths:
            x = nn.sigmoid(nn.Dense(width)(x))
        return nn.Dense(10)(x)


class CharTransformer(nn.Module):
    """A causal 2-layer transformer over characters, pre-layer-norm."""

    vocab: int = 64
    length: int = 128
    width: int = 48
    heads: int = 4
    layers: int = 2

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(self.vocab, self.width)(tokens)
        x = x + self.param("position", nn.initializers.normal(0.02), (self.length, self.width))
        mask = nn.make_causal_mask(tokens)
        for _ in range(self.layers):
            x = x + nn.SelfAttention(self.heads)(nn.LayerNorm()(x), mask=mask)
            y = nn.Dense(4 * self.width)(nn.LayerNorm()(x))
            x = x + nn.Dense(self.width)(nn.gelu(y))
        return nn.Dense(self.vocab)(nn.LayerNorm()(x))


def problems() -> dict:
    """name -> (loss(params, batch), params, batch)."""
    key = jax.random.PRNGKey(0)
    result = {}
    inputs = jax.random.normal(key, (128, 784))
    labels = jax.random.randint(key, (128,), 0, 10)
    for name, widths in MLP_WIDTHS.items():
        model = MLP(widths)

        def mlp_loss(params, batch, model=model):
            x, y = batch
            return optax.softmax_cross_entropy_with_integer_labels(model.apply(params, x), y).mean()

        result[name] = (mlp_loss, model.init(key, inputs[:1]), (inputs, labels))
    lm = CharTransformer()
    tokens = jax.random.randint(key, (16, lm.length + 1), 0, lm.vocab)

    def lm_loss(params, batch):
        logits = lm.apply(params, batch[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch[:, 1:]).mean()

    result["char_lm"] = (lm_loss, lm.init(key, tokens[:, :-1]), tokens)
    return result


def median_seconds(function, *args, repeats: int) -> float:
    jax.block_until_ready(function(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def train_step_times(loss, params, batch, transforms: dict, repeats: int) -> dict:
    results = {}
    for name, (tx, _) in transforms.items():

        def train_step(params, state, batch, tx=tx):
            value, grads = jax.value_and_grad(loss)(params, batch)
            updates, state = tx.update(grads, state, params, value=value)
            return optax.apply_updates(params, updates), state

        state = tx.init(params)
        start = time.perf_counter()
        step = jax.jit(train_step).lower(params, state, batch).compile()
        compile_seconds = time.perf_counter() - start
        seconds = median_seconds(step, params, state, batch, repeats=repeats)
        results[name] = {"seconds": seconds, "compile_seconds": compile_seconds}
    adam = results["adam"]["seconds"]
    for entry in results.values():
        entry["over_adam"] = entry["seconds"] / adam
    return results


def dot_flops_per_second(size: int = 2048) -> float:
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size))
    return 2 * size**3 / median_seconds(jax.jit(jnp.dot), a, a, repeats=10)


def update_rates(transforms: dict, num_params: int, dot_rate: float) -> dict:
    params = {"w": jax.random.normal(jax.random.PRNGKey(1), (num_params,))}
    grads = jax.tree.map(lambda p: 0.01 * p, params)
    results = {}
    for name, (tx, rule) in transforms.items():
        update = jax.jit(lambda g, s, p, tx=tx: tx.update(g, s, p, value=jnp.float32(1.0)))
        seconds = median_seconds(update, grads, tx.init(params), params, repeats=5)
        entry = {"seconds": seconds}
        if rule is not None:
            flops = rule_flops_per_coordinate(rule)
            entry.update(flops_per_coordinate=flops, share_of_dot_rate=flops * num_params / seconds / dot_rate)
        results[name] = entry
    return results


def state_bytes_per_parameter(transforms: dict, params) -> dict:
    num_params = sum(leaf.size for leaf in jax.tree.leaves(params))
    return {
        name: sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(jax.eval_shape(tx.init, params)))
        / num_params
        for name, (tx, _) in transforms.items()
    }


def markdown(results: dict) -> str:
    names = list(results["state_bytes_per_parameter"])
    lines = [
        f"### {results['machine']}{' (per-leaf reference path)' if results['reference'] else ''}",
        "",
        f"`jnp.dot` of 2048x2048 float32: {results['dot_gflops']:.0f} GFLOP/s.",
        "",
        "Full train step, time over Adam's (Adam's time; compile seconds of l2l / gated / lean):",
        "",
        "| problem | params | " + " | ".join(names) + " | compile |",
        "|---|---|" + "---|" * len(names) + "---|",
    ]
    for problem, entry in results["train_step"].items():
        times = entry["optimizers"]
        cells = [
            f"{times[n]['over_adam']:.2f}x" if n != "adam" else f"{times[n]['seconds'] * 1e3:.2f} ms" for n in names
        ]
        compiles = " / ".join(f"{times[n]['compile_seconds']:.1f}" for n in ("l2l", "gated", "lean"))
        lines.append(f"| {problem} | {entry['num_params']:,} | " + " | ".join(cells) + f" | {compiles} |")
    lines += [
        "",
        f"The update alone, one leaf of {results['update']['num_params']:,} parameters:",
        "",
        "| optimizer | time | kFLOP per coordinate | share of the `jnp.dot` rate |",
        "|---|---|---|---|",
    ]
    for name, entry in results["update"]["optimizers"].items():
        flops = f"{entry['flops_per_coordinate'] / 1e3:.1f}" if "flops_per_coordinate" in entry else "-"
        share = f"{entry['share_of_dot_rate']:.1%}" if "share_of_dot_rate" in entry else "-"
        lines.append(f"| {name} | {entry['seconds'] * 1e3:.1f} ms | {flops} | {share} |")
    lines += [
        "",
        "| state bytes per parameter | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| | " + " | ".join(f"{results['state_bytes_per_parameter'][n]:.0f}" for n in names) + " |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    parser.add_argument("--reference", action="store_true", help="run the learned rules' per-leaf reference path")
    parser.add_argument("--repeats", type=int, default=20, help="timed train steps per problem below 1M parameters")
    parser.add_argument("--problems", nargs="+", choices=[*MLP_WIDTHS, "char_lm"], help="default: all")
    args = parser.parse_args()
    transforms = optimizers(args.reference)
    dot_rate = dot_flops_per_second()
    results = {
        "machine": f"{machine_description()}, {jax.default_backend().upper()}, {jax.device_count()} device(s)",
        "reference": args.reference,
        "dot_gflops": dot_rate / 1e9,
        "train_step": {},
    }
    all_problems = problems()
    for name, (loss, params, batch) in all_problems.items():
        if args.problems and name not in args.problems:
            continue
        num_params = int(sum(leaf.size for leaf in jax.tree.leaves(params)))
        repeats = args.repeats if num_params < 1_000_000 else 3
        results["train_step"][name] = {
            "num_params": num_params,
            "optimizers": train_step_times(loss, params, batch, transforms, repeats),
        }
        print(
            name,
            {k: round(v["over_adam"], 2) for k, v in results["train_step"][name]["optimizers"].items()},
            flush=True,
        )
    results["update"] = {"num_params": 2**20, "optimizers": update_rates(transforms, 2**20, dot_rate)}
    results["state_bytes_per_parameter"] = state_bytes_per_parameter(transforms, all_problems["mlp_16k"][1])
    report = markdown(results)
    print(report)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        Path(args.json).with_suffix(".md").write_text(report + "\n")
        write_readme(Path(args.json).parent)


if __name__ == "__main__":
    main()
