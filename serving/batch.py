"""Batch scoring: every account of a data directory at one as-of date (``pqa score``)."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pandas as pd

from pqa.config import Config
from pqa.io import atomic_path
from serving.scoring import score_frame

logger = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".csv", ".parquet")
NESTED_COLUMNS = ("pqa_rules", "reasons")
"""Score columns holding lists of dicts: JSON text in CSV, nested values in Parquet."""


def score_batch(
    data_dir: str | Path,
    cfg: Config,
    day: date,
    model_uri: str | None = None,
    out: str | Path | None = None,
) -> pd.DataFrame:
    """Score every account of ``data_dir`` at ``day``, highest propensity first.

    Parameters
    ----------
    data_dir : path
        Data directory with ``events/`` (and optionally ``crm/``); ingested once and
        cached.
    cfg : Config
    day : date
        As-of date: features use events strictly before its UTC midnight.
    model_uri : str or None
        MLflow model URI; None means the registered champion.
    out : path or None
        ``.csv`` or ``.parquet`` file to write the scores to, atomically.

    Returns
    -------
    DataFrame
        The columns of :data:`serving.scoring.SCORE_COLUMNS`.

    Raises
    ------
    ValueError
        For an unsupported ``out`` extension (before any work), or when there is no
        champion model.
    """
    if out is not None and Path(out).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(
            f"--out {Path(out).name!r} has an unsupported extension; use one of "
            f"{', '.join(OUTPUT_SUFFIXES)}"
        )
    model, version = load_model(cfg, model_uri)

    from features.ingest import ensure_ingested
    from features.snapshots import compute_features
    from features.tables import load_tables

    tables = load_tables(ensure_ingested(data_dir, cfg))
    as_of = pd.Timestamp(day.isoformat(), tz="UTC")
    features = compute_features(tables, cfg, [as_of])
    scores = score_frame(model, features, cfg, version)
    scores = scores.sort_values(["propensity", "account_id"], ascending=[False, True])
    scores = scores.reset_index(drop=True)
    logger.info("Scored %d accounts at %s with %s", len(scores), as_of.date(), version)
    if out is not None:
        write_scores(scores, Path(out))
    return scores


def load_model(cfg: Config, model_uri: str | None):
    """Load a model from MLflow; return it with the version string its scores carry."""
    import mlflow.sklearn

    from serving.fastpath import compile_model
    from serving.model_store import describe_source

    source = describe_source(cfg, model_uri)
    try:
        model = mlflow.sklearn.load_model(source.uri)
    except Exception as err:  # MLflow raises several types for a missing model
        raise ValueError(f"cannot load model {source.uri!r}: {err}") from err
    # The service scores with the compiled model too: same code, same numbers.
    return compile_model(model), source.model_version


def write_scores(scores: pd.DataFrame, out: Path) -> None:
    """Write scores as CSV (nested columns as JSON text) or Parquet, atomically."""
    with atomic_path(out) as staged:
        if out.suffix.lower() == ".parquet":
            scores.to_parquet(staged, index=False)
        else:
            flat = scores.copy()
            for column in NESTED_COLUMNS:
                flat[column] = [json.dumps(value) for value in flat[column]]
            flat["as_of"] = flat["as_of"].dt.strftime("%Y-%m-%d")
            flat.to_csv(staged, index=False)
    logger.info("Scores written to %s", out)
