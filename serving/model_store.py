"""The served model: imported from the MLflow registry into the BentoML model store.

``pqa serve`` imports the champion (or a given model) into BentoML's store, which
keeps a versioned copy of the MLflow model directory, and starts the service on that
copy: serving needs neither an MLflow server nor the tracking database at run time.
The copy is loaded straight from its pickled model file, without importing MLflow.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pqa.config import Config

logger = logging.getLogger(__name__)

MODEL_TAG_ENV = "PQA_MODEL_TAG"
"""Environment variable naming the BentoML model tag the service loads."""

CONFIG_ENV = "PQA_CONFIG"
"""Environment variable with the path of the config file the service uses."""

MLFLOW_FOLDER = "mlflow_model"
"""Folder of the MLflow model inside a BentoML model (set by ``bentoml.mlflow``)."""

TRAIN_HINT = "train and promote one with 'pqa train DATA_DIR --promote'"


@dataclass(frozen=True)
class SourceModel:
    """Where a model comes from in MLflow and what version string scores carry."""

    uri: str
    registered_model: str | None
    mlflow_version: str | None
    run_id: str | None

    @property
    def model_version(self) -> str:
        if self.registered_model and self.mlflow_version:
            return f"{self.registered_model}/{self.mlflow_version}"
        return self.uri


def describe_source(cfg: Config, model_uri: str | None = None) -> SourceModel:
    """Resolve ``model_uri`` (None: the champion) to its registered version, if any.

    Raises
    ------
    ValueError
        When ``model_uri`` is None and the registered model has no champion.
    """
    from mlflow.exceptions import MlflowException

    from training.registry import champion_uri
    from training.tracking import client

    uri = model_uri or champion_uri(cfg)
    registry = client()
    name, _, ref = uri.removeprefix("models:/").partition("@")
    try:
        if uri.startswith("models:/") and ref:
            version = registry.get_model_version_by_alias(name, ref)
        elif uri.startswith("models:/"):
            name, _, number = uri.removeprefix("models:/").partition("/")
            version = registry.get_model_version(name, number)
        else:
            return SourceModel(uri, None, None, None)
    except MlflowException as err:
        if model_uri is None:
            raise ValueError(
                f"registered model '{cfg.training.registered_model}' has no champion "
                f"in the MLflow store; {TRAIN_HINT}."
            ) from err
        raise ValueError(f"model {uri!r} is not in the MLflow registry: {err}") from err
    return SourceModel(uri, name, str(version.version), version.run_id)


def import_champion(cfg: Config, model_uri: str | None = None) -> str:
    """Copy an MLflow model into the BentoML model store; return its BentoML tag.

    Parameters
    ----------
    cfg : Config
        Names the registered model (``cfg.training.registered_model``).
    model_uri : str or None
        ``models:/NAME@alias``, ``models:/NAME/VERSION``, ``runs:/...`` or a path;
        None means the champion. A BentoML tag already in the store (``name:version``)
        is returned as it is.

    Returns
    -------
    str
        The BentoML model tag, e.g. ``pqa-propensity:6zq3...``. A registered version
        already imported is reused rather than copied again.

    Raises
    ------
    ValueError
        When there is no champion, or the model cannot be found.
    """
    import bentoml

    if model_uri and _is_bento_tag(model_uri):
        return str(bentoml.models.get(model_uri).tag)

    source = describe_source(cfg, model_uri)
    name = cfg.training.registered_model
    if source.mlflow_version is not None:
        for existing in _stored_models(name):
            labels = existing.info.labels
            if (labels.get("registered_model"), labels.get("mlflow_version")) == (
                source.registered_model,
                source.mlflow_version,
            ):
                logger.info("Reusing %s for %s", existing.tag, source.model_version)
                return str(existing.tag)

    labels = {
        "registered_model": source.registered_model or "",
        "mlflow_version": source.mlflow_version or "",
    }
    metadata = {
        "model_uri": source.uri,
        "mlflow_run_id": source.run_id or "",
        "model_version": source.model_version,
        "config_fingerprint": cfg.fingerprint(),
    }
    try:
        model = bentoml.mlflow.import_model(name, source.uri, labels=labels, metadata=metadata)
    except Exception as err:  # MLflow raises many types for a missing or broken model
        raise ValueError(f"cannot import model {source.uri!r} from MLflow: {err}") from err
    logger.info("Imported %s as BentoML model %s", source.model_version, model.tag)
    return str(model.tag)


def _stored_models(name: str) -> list:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.list(name)
    except NotFound:
        return []


def _is_bento_tag(text: str) -> bool:
    return ":" in text and "://" not in text and not text.startswith(("models:", "runs:"))


@dataclass(frozen=True)
class ServedModel:
    """A model loaded from the BentoML store, with the version its scores carry."""

    model: Any
    tag: str
    model_version: str


def load_served_model(tag: str) -> ServedModel:
    """Load the PropensityModel kept in BentoML model ``tag``, without MLflow.

    Raises
    ------
    ValueError
        When the tag is not in the BentoML store or holds no sklearn MLflow model.
    """
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        stored = bentoml.models.get(tag)
    except NotFound as err:
        raise ValueError(
            f"BentoML model {tag!r} is not in the model store "
            f"({os.environ.get('BENTOML_HOME', '~/bentoml')}); {TRAIN_HINT}, then run "
            "'pqa serve', which imports the champion."
        ) from err
    folder = Path(stored.path) / MLFLOW_FOLDER
    model = _load_sklearn_flavor(folder)
    version = stored.info.metadata.get("model_version") or str(stored.tag)
    logger.info("Loaded model %s (%s)", stored.tag, version)
    return ServedModel(model=model, tag=str(stored.tag), model_version=str(version))


def _load_sklearn_flavor(folder: Path) -> Any:
    import cloudpickle

    spec_file = folder / "MLmodel"
    if not spec_file.exists():
        raise ValueError(f"{folder} holds no MLflow model (no MLmodel file)")
    flavors = yaml.safe_load(spec_file.read_text()).get("flavors", {})
    sklearn = flavors.get("sklearn")
    if sklearn is None or sklearn.get("serialization_format") not in ("cloudpickle", "pickle"):
        raise ValueError(
            f"the model in {folder} is not a pickled scikit-learn model (flavors: "
            f"{sorted(flavors)}); log it with mlflow.sklearn.log_model"
        )
    with open(folder / sklearn["pickled_model"], "rb") as handle:
        return cloudpickle.load(handle)


def serve_model(
    cfg: Config, model_uri: str | None = None, host: str = "127.0.0.1", port: int = 3000
) -> None:
    """Import the model and run the HTTP service in the foreground until interrupted.

    The service runs as ``bentoml serve serving.service:PQAService`` in its own
    process group, which is stopped as a whole on Ctrl-C.
    """
    tag = import_champion(cfg, model_uri)
    with tempfile.TemporaryDirectory(prefix="pqa-serve-") as scratch:
        config_path = Path(scratch) / "config.yaml"
        config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        command, env = serve_command(tag, config_path, host, port)
        logger.info("Serving %s on http://%s:%d (OpenAPI at /docs.json)", tag, host, port)
        process = subprocess.Popen(command, env=env, start_new_session=True)
        try:
            code = process.wait()
        except KeyboardInterrupt:
            code = 0
        finally:
            stop_process_group(process)
    if code:
        raise ValueError(f"the BentoML server exited with code {code}; see the log above")


def serve_command(
    tag: str, config_path: Path, host: str, port: int
) -> tuple[list[str], dict[str, str]]:
    """Return the ``bentoml serve`` command line and environment for model ``tag``."""
    working_dir = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:PQAService",
        "--host",
        host,
        "--port",
        str(port),
        "--working-dir",
        str(working_dir),
    ]
    env = {**os.environ, MODEL_TAG_ENV: tag, CONFIG_ENV: str(config_path)}
    return command, env


def stop_process_group(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server started with ``start_new_session=True`` and every process it forked.

    SIGTERM to the whole group, then SIGKILL if it has not ended after ``timeout``
    seconds; a process that already ended is left alone.
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def wait_until_ready(process: subprocess.Popen, url: str, log: Path, seconds: float) -> None:
    """Wait until the service at ``url`` answers ``/readyz`` with 200.

    Raises
    ------
    RuntimeError
        When the server process exits first, or is not ready within ``seconds``; the
        message ends with the tail of its ``log``.
    """
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with code {process.returncode}:\n"
                f"{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"the server at {url} was not ready within {seconds:.0f} s:\n"
        f"{log.read_text(errors='replace')[-3000:]}"
    )
