"""Reuse normalized tables while the raw input and the config are unchanged.

The cache lives in ``DATA_DIR/.pqa-cache/<key>/``, ``key`` hashing the relative path,
size and modification time (ns) of every input file and the config's fingerprint. An
entry is complete when its ingest report exists (ingestion writes it last, and the
whole folder appears in one rename).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from features.ingest.pipeline import Progress, ingest
from features.ingest.reader import event_files
from features.ingest.report import REPORT_FILE
from pqa.config import Config

logger = logging.getLogger(__name__)

CACHE_DIR = ".pqa-cache"
CRM_FILES = ("crm/accounts.csv", "crm/opportunities.csv")


def input_files(data_dir: Path) -> list[Path]:
    """Every file ingestion reads from ``data_dir``, in a fixed order."""
    files = event_files(data_dir / "events") if (data_dir / "events").is_dir() else []
    return files + [data_dir / name for name in CRM_FILES if (data_dir / name).is_file()]


def cache_key(data_dir: str | Path, config: Config) -> str:
    """Hash of every input file's (relative path, size, mtime_ns) and the config."""
    data_dir = Path(data_dir)
    digest = hashlib.sha256(config.fingerprint().encode())
    for path in input_files(data_dir):
        stat = path.stat()
        line = f"{path.relative_to(data_dir).as_posix()}\t{stat.st_size}\t{stat.st_mtime_ns}\n"
        digest.update(line.encode())
    return digest.hexdigest()[:20]


def ensure_ingested(data_dir: str | Path, config: Config, progress: Progress | None = None) -> Path:
    """Return a folder of normalized tables for ``data_dir``, ingesting only if needed.

    Parameters
    ----------
    data_dir : str or Path
        The raw data directory (see :func:`features.ingest.ingest`).
    config : Config
        Its fingerprint is part of the cache key.
    progress : callable, optional
        Passed to :func:`features.ingest.ingest` when ingestion runs.

    Returns
    -------
    Path
        ``data_dir/.pqa-cache/<key>``, holding the tables and ``ingest_report.json``.
    """
    data_dir = Path(data_dir)
    if not (data_dir / "events").is_dir():
        raise FileNotFoundError(
            f"{data_dir} has no events/ folder; put the Segment exports in DATA_DIR/events/"
        )
    target = data_dir / CACHE_DIR / cache_key(data_dir, config)
    if (target / REPORT_FILE).is_file():
        logger.info("Reusing ingested tables in %s", target)
        return target
    logger.info("Ingesting %s into cache %s", data_dir, target)
    ingest(data_dir, config, target, progress=progress)
    return target
