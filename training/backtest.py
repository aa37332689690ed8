"""Rolling out-of-time evaluation: is the model's edge stable across cut-off dates?

Cut-off 0 is the usual split (the latest dates are the test set); cut-off ``c`` drops
the ``c`` latest snapshot dates first, so each cut-off tests on an earlier period. The
features are computed once and every cut-off fits the three models again. Each cut-off
is a nested MLflow run under one ``backtest`` parent run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pqa.config import Config
from training.dataset import build_dataset, resolve_target, snapshot_dates, time_split
from training.train import MODEL_NAMES, fit_models, load_training_tables

logger = logging.getLogger(__name__)

METRICS = ("roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "lift_top_decile")

Progress = Callable[[int, int], None]


def backtest(
    data_dir: str | Path,
    cfg: Config,
    cutoffs: int = 3,
    progress: Progress | None = None,
    target: str = "auto",
    experiment: str | None = None,
) -> pd.DataFrame:
    """Fit and test the three models at ``cutoffs`` successive cut-off dates.

    Parameters
    ----------
    data_dir : path
        Raw data directory, ingested on first use.
    cfg : Config
        The product's configuration (split sizes, seed, capacity...).
    cutoffs : int, default=3
        Number of cut-offs, each one snapshot date earlier than the previous.
    progress : callable or None
        ``progress(done, cutoffs)`` after each cut-off.
    target : {"auto", "conversion", "pqa"}
    experiment : str or None
        MLflow experiment; None means ``cfg.training.experiment``.

    Returns
    -------
    DataFrame
        One row per (cut-off, model): cutoff (first test date), model and the test
        metrics; then a ``mean`` and a ``std`` row per model.
    """
    import mlflow

    from training.tracking import ensure_experiment

    if cutoffs < 1:
        raise ValueError(f"cutoffs must be at least 1; got {cutoffs}.")
    tables = load_training_tables(data_dir, cfg)
    target = resolve_target(tables, cfg, target)
    dates = snapshot_dates(tables, cfg)
    needed = cfg.training.test_snapshots + cfg.training.validation_snapshots + 1
    possible = len(dates) - needed + 1
    if cutoffs > possible:
        raise ValueError(
            f"cutoffs={cutoffs} needs {needed + cutoffs - 1} snapshot dates and the history "
            f"gives {len(dates)}; use --cutoffs {max(possible, 1)} or less, or a longer "
            "history."
        )
    frame = build_dataset(tables, cfg, target, dates)
    experiment_id = ensure_experiment(experiment or cfg.training.experiment)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    rows = []
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"backtest-{target}-{stamp}"):
        mlflow.set_tags({"pqa.kind": "backtest", "target": target})
        mlflow.log_params({"cutoffs": cutoffs, "target": target, "seed": cfg.training.seed})
        for cutoff in range(cutoffs):
            kept = dates[: len(dates) - cutoff]
            split = time_split(
                frame.loc[frame["as_of"].isin(kept)],
                cfg.training.test_snapshots,
                cfg.training.validation_snapshots,
                cfg.conversion.horizon_days,
            )
            fitted = fit_models(split, cfg)
            first_test = split.windows()["test"]["start"]
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=f"cutoff-{first_test}", nested=True
            ):
                mlflow.set_tags({"pqa.kind": "backtest_cutoff", "target": target})
                mlflow.log_params(
                    {f"{k}_{e}": v for k, w in split.windows().items() for e, v in w.items()}
                )
                for name in MODEL_NAMES:
                    values = fitted.test_metrics[name]
                    mlflow.log_metrics(
                        {f"{name}_{m}": values[m] for m in METRICS if np.isfinite(values[m])}
                    )
                    rows.append(
                        {"cutoff": first_test, "model": name, **{m: values[m] for m in METRICS}}
                    )
            logger.info("Backtest cut-off %s done", first_test)
            if progress is not None:
                progress(cutoff + 1, cutoffs)
        result = _with_summary(pd.DataFrame(rows))
        summary = result.loc[result["cutoff"].isin(["mean", "std"])]
        for row in summary.itertuples(index=False):
            mlflow.log_metrics(
                {
                    f"{row.model}_{m}_{row.cutoff}": getattr(row, m)
                    for m in METRICS
                    if np.isfinite(getattr(row, m))
                }
            )
        mlflow.log_text(result.to_csv(index=False), "backtest.csv")
    return result


def _with_summary(per_cutoff: pd.DataFrame) -> pd.DataFrame:
    """Append the mean and (sample) standard deviation of each metric per model."""
    grouped = per_cutoff.groupby("model", sort=False)[list(METRICS)]
    mean = grouped.mean().reset_index().assign(cutoff="mean")
    std = grouped.std(ddof=1).fillna(0.0).reset_index().assign(cutoff="std")
    return pd.concat([per_cutoff, mean, std], ignore_index=True)[["cutoff", "model", *METRICS]]
