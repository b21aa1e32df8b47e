"""The shipped optimizers' updates on fixed inputs equal the stored ones (tests/golden/),
written by `python tests/golden/generate.py` from the same files."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from learned_opt.checkpoint import PRETRAINED

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
spec = importlib.util.spec_from_file_location("generate_golden", GOLDEN_DIR / "generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_shipped_updates_equal_the_stored_values(name):
    stored = np.load(GOLDEN_DIR / f"{name}.npz")
    assert str(stored["sha256"]) == generate.file_sha256(name), (
        f"{name}'s golden values are for another file: run python tests/golden/generate.py"
    )
    updates = generate.updates_on_fixed_inputs(name)
    assert set(updates) == set(generate.SHAPES)
    for leaf, values in updates.items():
        assert values.shape == (generate.NUM_STEPS, *generate.SHAPES[leaf])
        assert np.any(values != 0.0), leaf
        # float32 rounding differs between CPUs and XLA's compile options (fused multiply-adds),
        # and the LSTM's recurrence carries it over the steps: relative differences up to 5e-5
        # were seen; a change to a rule or a file moves the updates by far more.
        scale = np.max(np.abs(stored[leaf]))
        np.testing.assert_allclose(values, stored[leaf], rtol=2e-4, atol=1e-5 * scale, err_msg=leaf)
