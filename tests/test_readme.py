"""The README's examples run as written; its length and the repository's Markdown lines stay
within their limits."""

import re
from pathlib import Path

import jax
import numpy as np

import learned_opt as lo
from learned_opt.meta.recipe import load_recipe, run_recipe

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_optax_example(tmp_path):
    example = next(block for block in python_blocks() if 'lo.load("runs/quadratic")' in block)
    rule = lo.DirectLSTM()
    lo.save(tmp_path / "run", rule, rule.init(jax.random.PRNGKey(0)))
    namespace = {}
    exec(example.replace("runs/quadratic", str(tmp_path / "run")), namespace)
    assert np.isfinite(float(namespace["loss"]))
    assert namespace["params"]["w"].shape == (5,)


def test_readme_custom_task_family_meta_trains(tmp_path):
    example = next(block for block in python_blocks() if "class LinearRegression(TaskFamily)" in block)
    namespace = {}
    exec(example, namespace)
    recipe = load_recipe("quadratic")[0].with_families((namespace["family"](),)).smoke()
    loaded = lo.load(run_recipe(recipe, tmp_path / "run", progress=False))
    assert np.isfinite(loaded.metadata["stages"][0]["best_validation_loss"])


def test_readme_starts_with_the_two_commands():
    commands = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.S)[:2]
    assert "pip install" in commands[0] and "learned-opt demo" in commands[0]
    assert "pytest" in commands[1] and ".[dev]" in commands[1]


def test_readme_and_markdown_lines_are_short():
    assert len(README.read_text().splitlines()) <= 250
    for path in ROOT.rglob("*.md"):
        if ".venv" in path.parts or "runs" in path.parts:
            continue
        long = [n for n, line in enumerate(path.read_text().splitlines(), 1) if len(line) > 300]
        assert not long, (path, long)
