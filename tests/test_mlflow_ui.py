"""A real MLflow UI on the test's store: it answers over HTTP and leaves nothing running."""

from __future__ import annotations

import os
import socket

import httpx
import pytest

pytest.importorskip("mlflow")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A tracking store with one run and one registered model."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from sklearn.dummy import DummyClassifier

    from training.tracking import configure_tracking, ensure_experiment

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    configure_tracking()
    experiment_id = ensure_experiment("ui-test")
    with mlflow.start_run(experiment_id=experiment_id, run_name="visible-run"):
        mlflow.log_metric("test_pr_auc", 0.25)
        mlflow.sklearn.log_model(
            DummyClassifier().fit(np.zeros((2, 1)), [0, 1]),
            name="model",
            serialization_format="cloudpickle",
            registered_model_name="ui-model",
            pip_requirements=["scikit-learn"],
        )
    return uri, experiment_id


def test_ui_serves_runs_and_models_then_stops_its_whole_process_group(store):
    from training.ui import mlflow_ui

    uri, experiment_id = store
    with mlflow_ui("127.0.0.1", free_port(), store=uri) as running:
        runs = httpx.post(
            f"{running.url}/api/2.0/mlflow/runs/search",
            json={"experiment_ids": [experiment_id]},
            timeout=30,
        )
        models = httpx.get(f"{running.url}/api/2.0/mlflow/registered-models/search", timeout=30)
        group = os.getpgid(running.pid)

    assert runs.status_code == 200
    assert [r["info"]["run_name"] for r in runs.json()["runs"]] == ["visible-run"]
    assert models.status_code == 200
    assert [m["name"] for m in models.json()["registered_models"]] == ["ui-model"]
    assert group == running.pid
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
