"""Writes notebooks/gates.ipynb (run once, then delete)."""
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

md = lambda s: new_markdown_cell(s.strip("\n"))
code = lambda s: new_code_cell(s.strip("\n"))

cells = [
md(r"""
# Inside the gated LSTM optimizer

**Gradient descent as an LSTM.** An LSTM cell updates its cell state as

$$c_t = f_t \odot c_{t-1} + i_t \odot z_t .$$

Take the cell state to be the parameters, $c_t = \theta_t$, and the candidate to be the negative
gradient, $z_t = -\nabla_\theta \mathcal{L}_t$. With $f_t = 1$ and $i_t = \alpha$ this *is* gradient descent,
$\theta_t = \theta_{t-1} - \alpha \nabla_\theta \mathcal{L}_t$. Ravi & Larochelle (2017, "Optimization as a model
for few-shot learning") let both gates be learned, per coordinate, from a small LSTM that reads the
gradient and the loss:

* the **input gate** $i_t$ is a per-coordinate, per-step learning rate;
* the **forget gate** $f_t$ is weight retention: $f_t < 1$ shrinks $\theta$ towards zero (a learned weight decay).

This notebook loads a gated optimizer meta-trained on a small MLP, trains a fresh MLP with it,
and looks at what the gates do — per layer, for kernels and biases — and how it compares with
learning-rate-tuned Adam, RMSProp, SGD and Nesterov momentum.
"""),
code(r"""
%matplotlib inline
import importlib.resources

import jax
import matplotlib.pyplot as plt
import numpy as np

import learned_opt as lo
from learned_opt.baselines import BASELINES, tune_learning_rate
from learned_opt.evaluation import format_table, problem_curves, record_gates, summarize
from learned_opt.tasks.mlp import MLPFamily

NUM_STEPS = 100  # the meta-training horizon
NUM_TUNING_PROBLEMS = 8  # problems per learning rate when tuning the baselines
NUM_TEST_PROBLEMS = 8  # held-out problems for the loss curves and the table
SEED = 0
plt.rcParams.update({"figure.dpi": 80, "font.size": 9})
"""),
md(r"""
## The meta-trained optimizer

The shipped checkpoint `learned_opt/pretrained/gated_mlp_digits.msgpack` holds the gated rule
meta-trained on the MLP base task of Andrychowicz et al. (2016): one hidden layer of 20 sigmoid
units, batch 128, 100 steps, here on scikit-learn's 8×8 digits. It was produced by

```bash
experiments/gated_mlp_digits.sh
```

which runs `learned-opt meta-train --task mlp --rule gated ...` and copies the meta-parameters with
the best validation loss into the package (the checkpoint records the exact command; it is printed
below). To meta-train one yourself (not run here; it takes minutes on a CPU):

```bash
learned-opt meta-train --task mlp --rule gated --out runs/my_gated --meta-steps 300 --num-tasks 16
```

or from Python:

```python
from learned_opt.meta import MetaTrainConfig, meta_train

result = meta_train(lo.GatedLSTM(), MLPFamily(), MetaTrainConfig(num_meta_steps=300, num_tasks=16))
lo.save("runs/my_gated/optimizer.msgpack", lo.GatedLSTM(), result.best_meta_params)
```

and pass that path to `lo.load` below.
"""),
code(r"""
resource = importlib.resources.files("learned_opt") / "pretrained" / "gated_mlp_digits.msgpack"
with importlib.resources.as_file(resource) as path:
    loaded = lo.load(path)  # learned_opt.checkpoint.load: rule, meta-parameters, metadata
tx = lo.learned_optimizer(loaded.rule, loaded.meta_params)
print(loaded.rule)
meta = loaded.metadata
print("meta-trained with:", " ".join(["learned-opt", *meta.get("command", ["?"])[1:]]))
print(f"best validation loss {meta.get('best_validation_loss', float('nan')):.4g} at meta-step {meta.get('best_step')}"
      f" (untrained: {meta.get('initial_validation_loss', float('nan')):.4g})")
"""),
md(r"""
## Train one MLP and record the gates

`record_gates` trains one problem for `NUM_STEPS` steps and, after every step, summarises the
gates of each parameter leaf: the mean and the 10/50/90% quantiles over its coordinates. The full
per-coordinate gates are kept for leaves of at most `full_size` coordinates; asking for every leaf
in full (the largest is the 64×20 first-layer kernel) lets us look at the final per-coordinate
learning rates below.
"""),
code(r"""
family = MLPFamily()  # 64 -> 20 sigmoid -> 10 on digits, batch 128
key = jax.random.PRNGKey(SEED)
data = family.sample_data(key)
largest_leaf = max(leaf.size for leaf in jax.tree.leaves(jax.eval_shape(family.init_params, data, key)))
record = record_gates(family, tx, data, key, NUM_STEPS, full_size=largest_leaf)
gates = record["gates"]
print(f"training loss: step 0 {record['loss'][0]:.3f} -> step {NUM_STEPS - 1} {record['loss'][-1]:.3f}")
for leaf, stats in gates.items():
    print(f"{leaf:22s} final mean forget {stats['forget_mean'][-1]:.5f}   input {stats['input_mean'][-1]:.4g}")
"""),
md(r"""
## The gates over training

Mean over the coordinates of each leaf (line) with the band from the 10% to the 90% quantile,
for the hidden layer `dense_0` (left) and the output layer `dense_1` (right), kernels and biases
apart. The forget gate is shown as $1 - f_t$, the fraction of the weight forgotten at that step
(a per-step weight decay; $f_t$ itself sits close to 1). Log scales throughout.
"""),
code(r"""
steps = np.arange(1, NUM_STEPS + 1)
tiny = 1e-9  # 1 - f can round to 0 in float32; keep it on the log axis
fig, axes = plt.subplots(2, 2, figsize=(8, 4.8), sharex=True, sharey="row")
for row, gate in enumerate(("forget", "input")):
    for col, layer in enumerate(("dense_0", "dense_1")):
        ax = axes[row, col]
        for part, color in (("kernel", "C0"), ("bias", "C1")):
            stats = gates[f"['{layer}']['{part}']"]
            mean, q = stats[f"{gate}_mean"], stats[f"{gate}_quantiles"]  # q: (steps, [10%, 50%, 90%])
            if gate == "forget":  # 1 - f: the 90% quantile of f becomes the lower edge of the band
                mean, lower, upper = 1 - mean, 1 - q[:, 2], 1 - q[:, 0]
            else:
                lower, upper = q[:, 0], q[:, 2]
            ax.plot(steps, np.maximum(mean, tiny), color=color, label=part)
            ax.fill_between(steps, np.maximum(lower, tiny), np.maximum(upper, tiny), color=color, alpha=0.2)
        ax.set_yscale("log")
        ax.set_title(f"{layer}: " + ("1 - forget gate" if gate == "forget" else "input gate"))
axes[0, 0].set_ylabel("$1 - f_t$ (decay per step)")
axes[1, 0].set_ylabel("$i_t$ (learning rate)")
for ax in axes[1]:
    ax.set_xlabel("step")
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
"""),
md(r"""
## Tuned baselines

Each baseline's learning rate is picked from a log grid by the mean loss at step 100 on problems
of the *tuning* split (disjoint from the *test* problems used further down). To keep this notebook
fast the grid is coarse — half decades from $10^{-4}$ to $10$ (11 points, the library default is
quarter decades) — and only `NUM_TUNING_PROBLEMS` problems are used; `learned-opt evaluate` tunes
on more.
"""),
code(r"""
grid = tuple(float(10.0**e) for e in np.arange(-4.0, 1.0 + 1e-9, 0.5))
tuned = {name: tune_learning_rate(name, family, seed=SEED, num_problems=NUM_TUNING_PROBLEMS,
                                  num_steps=NUM_STEPS, grid=grid)
         for name in BASELINES}
for name, baseline in tuned.items():
    print(f"{name:9s} learning rate {baseline.learning_rate:.3g}")
"""),
md(r"""
## The learned per-coordinate learning rate

The histogram shows the input gate $i_t$ of every coordinate at the last step, per layer (kernels
and biases stacked). The update of the gated rule is $(f_t - 1)\,\theta_{t-1} - i_t\, g_t$, so $i_t$
multiplies the raw gradient exactly as SGD's learning rate does (dashed line). The solid line is
Adam's tuned learning rate; Adam's step is $\alpha\, \hat m_t / \sqrt{\hat v_t}$, a normalised
gradient, so the comparison with Adam is one of scale only.
"""),
code(r"""
final_input = {leaf: stats["input"][-1].ravel() for leaf, stats in gates.items()}
every = np.concatenate(list(final_input.values()))
bins = np.geomspace(every.min() * 0.9, every.max() * 1.1, 40)
fig, axes = plt.subplots(1, 2, figsize=(9, 2.8), sharex=True)
for ax, layer in zip(axes, ("dense_0", "dense_1")):
    kernel, bias = final_input[f"['{layer}']['kernel']"], final_input[f"['{layer}']['bias']"]
    ax.hist([kernel, bias], bins=bins, stacked=True, color=["C0", "C1"],
            label=[f"kernel ({kernel.size})", f"bias ({bias.size})"])
    ax.axvline(tuned["adam"].learning_rate, color="k", label=f"Adam lr {tuned['adam'].learning_rate:.3g}")
    ax.axvline(tuned["sgd"].learning_rate, color="k", ls="--", label=f"SGD lr {tuned['sgd'].learning_rate:.3g}")
    ax.set_xscale("log")
    ax.set_title(f"{layer}: final input gate $i_t$")
    ax.set_xlabel("per-coordinate learning rate")
    ax.legend(fontsize=7)
axes[0].set_ylabel("coordinates")
fig.tight_layout()
"""),
md(r"""
## Loss curves against the tuned baselines

Training loss (on the minibatch of each step) over `NUM_TEST_PROBLEMS` held-out problems of the
*test* split: the median and the band between the 25% and 75% quantiles.
"""),
code(r"""
curves = {f"learned ({loaded.rule.name})": problem_curves(family, tx, SEED, "test", NUM_TEST_PROBLEMS, NUM_STEPS)}
for name, baseline in tuned.items():
    curves[name] = problem_curves(family, baseline.transform(), SEED, "test", NUM_TEST_PROBLEMS, NUM_STEPS)

fig, ax = plt.subplots(figsize=(5.5, 3.2))
for name, losses in curves.items():
    q25, median, q75 = np.quantile(losses, [0.25, 0.5, 0.75], axis=0)
    ax.plot(median, label=name, lw=2 if name.startswith("learned") else 1)
    ax.fill_between(np.arange(losses.shape[1]), q25, q75, alpha=0.2)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("training loss")
ax.legend(fontsize=7)
fig.tight_layout()
"""),
md(r"""
Mean loss at step 100 over the test problems, with a 95% confidence interval:
"""),
code(r"""
rows = [summarize(name, None if name.startswith("learned") else tuned[name].learning_rate, losses[:, -1])
        for name, losses in curves.items()]
print(format_table(rows, NUM_STEPS))
"""),
]

nb = new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
nb.metadata["language_info"] = {"name": "python"}
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("gates.ipynb")
nbformat.validate(nb)
nbformat.write(nb, out)
print("wrote", out)
