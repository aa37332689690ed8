"""Where runs and registered models are tracked.

The store is ``$MLFLOW_TRACKING_URI`` when that is set, else a SQLite database
``./mlruns/mlflow.db`` with artifacts under ``./mlruns/artifacts``. For a SQLite store,
artifacts always live in an ``artifacts`` folder beside the database file, so a test that
points ``MLFLOW_TRACKING_URI`` at a temporary database keeps everything in that folder.

MLflow takes seconds to import: it is imported inside the functions, and this module is
only imported by the training commands.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

logger = logging.getLogger(__name__)

TRACKING_ENV = "MLFLOW_TRACKING_URI"
DEFAULT_STORE_DIR = "mlruns"
DEFAULT_DATABASE = "mlflow.db"


def tracking_uri() -> str:
    """Return the tracking URI: ``$MLFLOW_TRACKING_URI`` or the local SQLite store.

    Returns
    -------
    str
        A URI such as ``sqlite:////abs/path/mlruns/mlflow.db`` or ``http://host:5000``.
    """
    configured = os.environ.get(TRACKING_ENV, "").strip()
    if configured:
        return configured
    database = Path.cwd().resolve() / DEFAULT_STORE_DIR / DEFAULT_DATABASE
    return f"sqlite:///{database}"


def sqlite_path(uri: str) -> Path | None:
    """Return the database file of a ``sqlite:///`` URI, or None for any other store."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    # sqlite:////abs/db -> path "//abs/db" (absolute); sqlite:///rel/db -> "/rel/db" (relative)
    raw = unquote(parsed.path)
    if raw.startswith("//"):
        return Path("/" + raw.lstrip("/"))
    return Path(raw[1:])


def artifact_root(uri: str | None = None) -> Path | None:
    """Return the artifacts folder of a SQLite store (beside the database), else None."""
    database = sqlite_path(uri or tracking_uri())
    return None if database is None else database.parent / "artifacts"


def configure_tracking() -> str:
    """Point MLflow's tracking and registry clients at the store; return its URI.

    Creates the folder of a SQLite store when it does not exist yet.
    """
    import mlflow

    uri = tracking_uri()
    database = sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    logger.debug("MLflow tracking store: %s", uri)
    return uri


def ensure_experiment(name: str) -> str:
    """Return the id of experiment ``name``, creating it with its artifact location.

    Parameters
    ----------
    name : str
        Experiment name, e.g. ``cfg.training.experiment``.

    Returns
    -------
    str
        The experiment id.
    """
    import mlflow

    uri = configure_tracking()
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    root = artifact_root(uri)
    location = None
    if root is not None:
        folder = root / _safe_folder_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        location = folder.resolve().as_uri()
    experiment_id = client.create_experiment(name, artifact_location=location)
    logger.info("Created MLflow experiment %r (artifacts: %s)", name, location or "server default")
    return experiment_id


def client():
    """Return an ``MlflowClient`` bound to the configured store."""
    import mlflow

    uri = configure_tracking()
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _safe_folder_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return cleaned or "experiment"
