"""The walkthrough notebook runs top to bottom on a small world."""

from __future__ import annotations

from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def test_walkthrough_notebook_executes_on_a_small_world(tmp_path, monkeypatch):
    monkeypatch.setenv("PQA_NOTEBOOK_ACCOUNTS", "300")
    monkeypatch.setenv("PQA_NOTEBOOK_MONTHS", "12")
    monkeypatch.setenv("PQA_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    last = notebook.cells[-1].outputs
    assert any("metrics.test_roc_auc" in str(o.get("data", {})) for o in last)
