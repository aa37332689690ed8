"""Start the MLflow UI on the local tracking store, and stop it without leftovers.

``mlflow server`` starts worker processes of its own. The server is therefore started in
a new session (its own process group) and stopped by signalling the whole group, so
that no worker outlives it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from training.tracking import artifact_root, sqlite_path, tracking_uri

logger = logging.getLogger(__name__)

STARTUP_SECONDS = 90.0
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class RunningUI:
    """A started MLflow UI: its base URL and the id of its process (and process group)."""

    url: str
    pid: int


def server_command(host: str, port: int, store: str, workers: int = 1) -> list[str]:
    """The ``mlflow server`` command line for ``store`` on ``host:port``."""
    executable = Path(sys.executable).with_name("mlflow")
    program = [str(executable)] if executable.exists() else [shutil.which("mlflow") or "mlflow"]
    command = [
        *program,
        "server",
        "--backend-store-uri",
        store,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    root = artifact_root(store)
    if root is not None:
        command += ["--default-artifact-root", root.resolve().as_uri()]
    return command


@contextmanager
def mlflow_ui(
    host: str = "127.0.0.1",
    port: int = 5000,
    store: str | None = None,
    startup_seconds: float = STARTUP_SECONDS,
) -> Iterator[RunningUI]:
    """Run the MLflow UI while the block runs; yield its URL and process id.

    Parameters
    ----------
    host, port : str, int
        Where the UI listens.
    store : str or None
        Tracking URI; None means :func:`training.tracking.tracking_uri`.
    startup_seconds : float
        How long to wait for ``/health`` to answer before giving up.

    Raises
    ------
    RuntimeError
        When the server exits or does not answer in time; its output is in the message.
    """
    store = store or tracking_uri()
    database = sqlite_path(store)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            server_command(host, port, store),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_until_healthy(process, url, startup_seconds, output)
            logger.info("MLflow UI on %s (store %s, pid %d)", url, store, process.pid)
            yield RunningUI(url=url, pid=process.pid)
        finally:
            stop_process_group(process)


def _wait_until_healthy(process: subprocess.Popen, url: str, seconds: float, output) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with code {process.returncode} before answering on "
                f"{url}; is the port taken? Output:\n{_tail(output)}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"mlflow server did not answer on {url}/health within {seconds:.0f} s. "
        f"Output:\n{_tail(output)}"
    )


def _tail(output, limit: int = 4000) -> str:
    output.seek(0)
    return output.read().decode("utf-8", errors="replace")[-limit:]


def stop_process_group(process: subprocess.Popen, seconds: float = STOP_SECONDS) -> None:
    """Terminate the process group led by ``process``; kill it if it does not stop."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        group = None
    if group is not None:
        _signal_group(group, signal.SIGTERM)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            process.wait(timeout=seconds)
        # Workers may still be shutting down after the leader exits.
        deadline = time.monotonic() + seconds
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(group):
            _signal_group(group, signal.SIGKILL)
    elif process.poll() is None:
        process.kill()
        process.wait(timeout=seconds)


def _signal_group(group: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_ui_until_interrupted(
    host: str = "127.0.0.1", port: int = 5000, echo: Callable[[str], None] = print
) -> None:
    """Serve the MLflow UI on the local store until Ctrl-C (the ``pqa ui`` command)."""
    with mlflow_ui(host, port) as running:
        echo(f"MLflow UI on {running.url} (store {tracking_uri()}); press Ctrl-C to stop.")
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            echo("Stopping the MLflow UI.")
