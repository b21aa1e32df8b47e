"""The README's optax example runs as written (against a freshly saved checkpoint)."""

import re
from pathlib import Path

import jax
import numpy as np

import learned_opt as lo

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_optax_example(tmp_path):
    examples = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(block for block in examples if 'lo.load("runs/quadratic")' in block)
    rule = lo.DirectLSTM()
    lo.save(tmp_path / "run", rule, rule.init(jax.random.PRNGKey(0)))
    namespace = {}
    exec(example.replace("runs/quadratic", str(tmp_path / "run")), namespace)
    assert np.isfinite(float(namespace["loss"]))
    assert namespace["params"]["w"].shape == (5,)


def test_readme_starts_with_the_two_commands():
    commands = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.S)[:2]
    assert "pip install" in commands[0] and "learned-opt demo" in commands[0]
    assert "pytest" in commands[1] and ".[dev]" in commands[1]
