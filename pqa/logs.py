"""Logging set-up for the command-line entry points (library code only gets loggers)."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr through rich, at ``level``."""
    logging.basicConfig(
        level=level.upper(),
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(rich_tracebacks=False, show_path=False)],
        force=True,
    )
    for noisy in ("mlflow", "alembic", "urllib3", "httpx", "bentoml", "numexpr"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
