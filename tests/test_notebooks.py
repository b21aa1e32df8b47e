"""Executes every notebook under notebooks/ top to bottom, as a user would run it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# jupyter_client starts the "python3" kernelspec with sys.executable when its command is a
# bare "python", so the kernel runs in this interpreter's environment (test_kernel_is_this_python).
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 300


def execute(notebook, cwd: Path):
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return notebook


def stream_text(cell) -> str:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output["text"])
        elif "text/plain" in output.get("data", {}):
            texts.append(output["data"]["text/plain"])
    return "".join(texts)


def test_kernel_is_this_python():
    """The notebooks must run against the installed package, not some other interpreter."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    executed = execute(notebook, NOTEBOOK_DIR)
    assert Path(stream_text(executed.cells[0]).strip()).resolve() == Path(sys.executable).resolve()


def test_notebooks_exist():
    assert {"fewshot.ipynb", "gates.ipynb", "quickstart.ipynb"} <= {path.name for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch):
    monkeypatch.setenv("SMOKE_TEST", "1")  # notebooks that meta-train read it and run a few iterations
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        f"{path.name} is stored with outputs; clear them before committing"
    )
    execute(notebook, path.parent)  # raises CellExecutionError on the first failing cell
    if path.name == "gates.ipynb":
        table = stream_text(notebook.cells[-1])
        assert "| learned (gated) | learned |" in table
        for baseline in ("adam", "rmsprop", "sgd", "nesterov"):
            assert f"| {baseline} |" in table
        assert "nan" not in table.lower()
    if path.name == "fewshot.ipynb":
        rows = dict(re.findall(r"\| ([a-zA-Z -]+) \| .* \| ([0-9.]+) ± [0-9.]+ \|\n", stream_text(notebook.cells[-1])))
        assert set(rows) == {"MAML", "first-order MAML", "Reptile", "pretrain", "gated meta-learner"}, rows
        # after 10 steps on test tasks, MAML's learned initialisation beats pretraining's
        assert float(rows["MAML"]) < float(rows["pretrain"]), rows
    if path.name == "quickstart.ipynb":
        text = "".join(stream_text(cell) for cell in notebook.cells if cell.cell_type == "code")
        # nnx loop, linen loop, linen loop behind gradient clipping
        accuracies = [float(a) for a in re.findall(r"learned optimizer: .*test accuracy (\d\.\d+)", text)]
        assert len(accuracies) == 3, text
        assert min(accuracies) > 0.8, text
