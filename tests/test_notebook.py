"""examples/notebook.ipynb runs top to bottom in a real Jupyter kernel (nbclient), on the mock provider."""

import os
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (pip install -e .[batch-test])")
nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (pip install -e .[batch-test])")
pytest.importorskip("ipykernel", reason="ipykernel not installed (pip install -e .[batch-test])")

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # noqa: E402 - after the skips

from llm_connector.presets import PRESETS  # noqa: E402

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"
KEY_VARS = {v for p in PRESETS.values() for v in p.env}


def kernel_python():
    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.fail("no python3 kernel spec: run python -m ipykernel install --sys-prefix")
    return spec.argv[0]


def outputs_of(cell):
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output["text"])
        for kind in ("text/html", "text/markdown", "text/plain"):
            if kind in output.get("data", {}):
                texts.append(output["data"][kind])
    return "\n".join(texts)


def test_the_notebook_runs_in_a_kernel_and_shows_the_answer_live_and_the_batch(tmp_path, monkeypatch):
    python = kernel_python()
    assert python in ("python", sys.executable) or os.path.samefile(python, sys.executable), python
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    shown, rich, short, batch, table = (outputs_of(code[n]) for n in range(1, 6))
    # display(): drawn as HTML in the notebook (nothing printed), reasoning folded apart from the answer
    assert "<details" in shown and "The capital of **France** is Paris." in shown
    assert shown.index("France&#x27;s is Paris") < shown.index("The capital of")
    # the response's own rich display, and its short repr
    assert "<details>" in rich and "finish: stop" in rich
    assert short.startswith("ChatResponse(id=") and "None" not in short
    # the batch: the progress line updated in place, every answer in order
    assert "8 done, 0 errors, interrupted: False" in batch
    assert [line.split()[0] for line in table.splitlines()] == [
        "France", "Italy", "Spain", "Japan", "Kenya", "Peru", "Canada", "Norway"]
