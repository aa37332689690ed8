"""Train the rules baseline, a logistic regression and LightGBM; track and register them.

One training is one MLflow parent run in ``cfg.training.experiment`` with a child run per
model. Every child logs its out-of-time test metrics (``test_*``), its validation
metrics (``validation_*``), a conversion-by-decile table and charts. The LightGBM model
is logged as the full :class:`~training.model.PropensityModel` and registered as
``cfg.training.registered_model``; its test PR-AUC gates promotion to champion.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pqa.config import Config
from training import metrics as metric_functions
from training.baseline import RulesBaseline
from training.dataset import (
    LABEL,
    RULE_LEVEL,
    Split,
    build_dataset,
    resolve_target,
    snapshot_dates,
    time_split,
)
from training.model import PropensityModel

logger = logging.getLogger(__name__)

MODEL_NAMES = ("rules", "logistic", "lightgbm")
REGISTERED_MODEL = "lightgbm"
"""The model that is logged as a PropensityModel, registered and may become champion."""

SUMMARY_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "precision_at_k",
    "recall_at_k",
    "lift_top_decile",
)
REQUIREMENTS = (
    "mlflow",
    "scikit-learn",
    "lightgbm",
    "feature-engine",
    "pandas",
    "numpy",
    "pyarrow",
    "cloudpickle",
)

Progress = Callable[[int, int], None]


@dataclass
class TrainingResult:
    """What one training produced.

    Attributes
    ----------
    target : str
        ``conversion`` or ``pqa``.
    metrics : dict
        ``{model name: {metric: value}}`` on the out-of-time test snapshots.
    run_id : str
        The MLflow parent run.
    registered_version : int
        Version of ``cfg.training.registered_model`` created by this training.
    promoted : bool
        Whether this version became the champion.
    champion_version : int or None
        The champion after this training.
    windows : dict
        First and last as-of date of train, validation and test.
    seconds : float
        Wall-clock time of the whole training.
    """

    target: str
    metrics: dict[str, dict[str, float]]
    run_id: str
    registered_version: int
    promoted: bool = False
    champion_version: int | None = None
    windows: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
    promotion_message: str = ""

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per model with the headline test metrics."""
        return [
            {"model": name, **{m: values.get(m, float("nan")) for m in SUMMARY_METRICS}}
            for name, values in self.metrics.items()
        ]


@dataclass
class FittedModels:
    """The three fitted models and their scores on the validation and test snapshots."""

    models: dict[str, Any]
    validation_scores: dict[str, np.ndarray]
    test_scores: dict[str, np.ndarray]
    test_metrics: dict[str, dict[str, float]]
    validation_metrics: dict[str, dict[str, float]]


def fit_models(split: Split, cfg: Config, progress: Progress | None = None) -> FittedModels:
    """Fit the rules baseline, logistic regression and LightGBM on one split.

    Parameters
    ----------
    split : Split
        Train, validation and test snapshots from :func:`training.dataset.time_split`.
    cfg : Config
        Seed, LightGBM parameters, tier shares and capacity come from it.
    progress : callable or None
        Called as ``progress(done, 3)`` after each model.

    Returns
    -------
    FittedModels
    """
    y_train = split.train[LABEL].to_numpy()
    y_valid = split.validation[LABEL].to_numpy()
    models: dict[str, Any] = {"rules": RulesBaseline().fit(split.validation[RULE_LEVEL], y_valid)}
    _tick(progress, 1, len(MODEL_NAMES))
    for done, model_type in enumerate(("logistic", "lightgbm"), start=2):
        started = time.perf_counter()
        model = PropensityModel(
            model_type=model_type,
            lightgbm_params=dict(cfg.training.lightgbm),
            tier_shares=dict(cfg.scoring.tier_shares),
            bags=cfg.training.bags,
            monotone=cfg.training.monotone,
            random_state=cfg.training.seed,
        )
        models[model_type] = model.fit(split.train, y_train, split.validation, y_valid)
        logger.info("Fitted %s in %.1f s", model_type, time.perf_counter() - started)
        _tick(progress, done, len(MODEL_NAMES))

    validation_scores = _scores(models, split.validation)
    test_scores = _scores(models, split.test)
    k = cfg.training.capacity
    return FittedModels(
        models=models,
        validation_scores=validation_scores,
        test_scores=test_scores,
        test_metrics={
            name: metric_functions.evaluate(split.test[LABEL], scores, split.test["as_of"], k)
            for name, scores in test_scores.items()
        },
        validation_metrics={
            name: metric_functions.evaluate(
                split.validation[LABEL], scores, split.validation["as_of"], k
            )
            for name, scores in validation_scores.items()
        },
    )


def _scores(models: dict[str, Any], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "rules": models["rules"].predict_proba(frame[RULE_LEVEL]),
        "logistic": models["logistic"].predict_proba(frame)[:, 1],
        "lightgbm": models["lightgbm"].predict_proba(frame)[:, 1],
    }


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def load_training_tables(data_dir: str | Path, cfg: Config, progress: Progress | None = None):
    """Ingest ``data_dir`` if needed and return its normalized tables."""
    from features.ingest import ensure_ingested
    from features.tables import load_tables

    return load_tables(ensure_ingested(Path(data_dir), cfg, progress=progress))


def run_training(
    data_dir: str | Path,
    cfg: Config,
    target: str = "auto",
    experiment: str | None = None,
    promote: bool = False,
    progress: Progress | None = None,
) -> TrainingResult:
    """Build snapshots from ``data_dir``, train the three models and track them in MLflow.

    Parameters
    ----------
    data_dir : path
        Raw data directory (events/ and optionally crm/), ingested on first use.
    cfg : Config
        The product's configuration.
    target : {"auto", "conversion", "pqa"}
        What to predict; auto = conversion when the CRM holds conversions, else pqa.
    experiment : str or None
        MLflow experiment; None means ``cfg.training.experiment``.
    promote : bool
        Make the new version the champion if it beats the current one on test PR-AUC.
    progress : callable or None
        ``progress(done, total)``, called while building snapshots and training.

    Returns
    -------
    TrainingResult
    """
    started = time.perf_counter()
    tables = load_training_tables(data_dir, cfg, progress)
    target = resolve_target(tables, cfg, target)
    dates = snapshot_dates(tables, cfg)
    frame = build_dataset(tables, cfg, target, dates, progress=progress)
    split = time_split(
        frame,
        cfg.training.test_snapshots,
        cfg.training.validation_snapshots,
        cfg.conversion.horizon_days,
    )
    _check_labels(split, target)
    fitted = fit_models(split, cfg, progress=progress)
    run_id, version = _track(
        fitted, split, cfg, target, experiment or cfg.training.experiment, started
    )
    result = TrainingResult(
        target=target,
        metrics=fitted.test_metrics,
        run_id=run_id,
        registered_version=version,
        windows=split.windows(),
        seconds=time.perf_counter() - started,
    )
    from training.registry import champion_version
    from training.registry import promote as promote_version

    if promote:
        promotion = promote_version(cfg, version=version)
        result.promoted = promotion.promoted
        result.promotion_message = promotion.message
    result.champion_version = champion_version(cfg)
    logger.info(
        "Training done in %.1f s: version %d, test PR-AUC %.3f (%s)",
        result.seconds,
        version,
        fitted.test_metrics[REGISTERED_MODEL]["pr_auc"],
        "promoted" if result.promoted else "not promoted",
    )
    return result


def _check_labels(split: Split, target: str) -> None:
    for name, part in (("training", split.train), ("validation", split.validation)):
        positives = int(part[LABEL].sum())
        if positives == 0 or positives == len(part):
            raise ValueError(
                f"the {name} snapshots hold {positives} positive label(s) out of {len(part)} "
                f"for target '{target}'; training needs both outcomes. Use more accounts, "
                "a longer history, or the other --target."
            )


# ----------------------------------------------------------------------------- tracking


def _track(
    fitted: FittedModels,
    split: Split,
    cfg: Config,
    target: str,
    experiment: str,
    started: float,
) -> tuple[str, int]:
    """Log the parent and child runs, register the LightGBM model; return (run id, version)."""
    import mlflow

    from training.tracking import client, ensure_experiment

    experiment_id = ensure_experiment(experiment)
    windows = split.windows()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{target}-{stamp}") as parent:
        mlflow.set_tags(
            {"pqa.kind": "training", "target": target, "config_fingerprint": cfg.fingerprint()}
        )
        log_data_params(split, cfg, target)
        mlflow.log_dict(cfg.model_dump(mode="json"), "config.yaml")
        _log_comparison(fitted, split)
        model_info = None
        for name in MODEL_NAMES:
            with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=True):
                mlflow.set_tags({"pqa.kind": "model", "model": name, "target": target})
                log_model_run(fitted, split, name)
                if name == REGISTERED_MODEL:
                    model_info = _log_registered_model(fitted, split, cfg, target, windows)
        headline = fitted.test_metrics[REGISTERED_MODEL]
        mlflow.log_metrics(
            {f"test_{k}": v for k, v in headline.items() if np.isfinite(v)}
            | {"training_seconds": time.perf_counter() - started}
        )
        run_id = parent.info.run_id

    version = int(model_info.registered_model_version)
    tracking_client = client()
    name = cfg.training.registered_model
    for key, value in {
        "test_pr_auc": headline["pr_auc"],
        "test_roc_auc": headline["roc_auc"],
        "target": target,
        "run_id": run_id,
        "model_type": REGISTERED_MODEL,
    }.items():
        tracking_client.set_model_version_tag(name, str(version), key, str(value))
    return run_id, version


def log_data_params(split: Split, cfg: Config, target: str) -> None:
    """Log the data window, counts, seed and feature list of a split on the active run."""
    import mlflow

    from features.catalog import FEATURES

    windows = split.windows()
    params: dict[str, Any] = {
        "target": target,
        "seed": cfg.training.seed,
        "horizon_days": cfg.conversion.horizon_days,
        "capacity": cfg.training.capacity,
        "snapshot_every": cfg.snapshots.every,
        "features": len(FEATURES),
    }
    for part, frame in (
        ("train", split.train),
        ("validation", split.validation),
        ("test", split.test),
    ):
        params[f"{part}_start"] = windows[part]["start"]
        params[f"{part}_end"] = windows[part]["end"]
        params[f"{part}_snapshots"] = len(frame)
        params[f"{part}_positives"] = int(frame[LABEL].sum())
        params[f"{part}_accounts"] = int(frame["account_id"].nunique())
    mlflow.log_params(params)
    mlflow.log_dict({"features": list(FEATURES)}, "features.json")


def log_model_run(fitted: FittedModels, split: Split, name: str) -> None:
    """Log one model's parameters, metrics, decile table and charts on the active run."""
    import mlflow

    from training import plots

    model = fitted.models[name]
    if isinstance(model, PropensityModel):
        mlflow.log_params(_model_params(model))
    else:
        mlflow.log_dict({str(k): v for k, v in model.rates_.items()}, "rule_level_rates.json")
    values = {f"test_{k}": v for k, v in fitted.test_metrics[name].items()}
    values |= {f"validation_{k}": v for k, v in fitted.validation_metrics[name].items()}
    mlflow.log_metrics({k: v for k, v in values.items() if np.isfinite(v)})

    y = split.test[LABEL].to_numpy()
    scores = fitted.test_scores[name]
    table = metric_functions.decile_table(y, scores)
    mlflow.log_text(table.to_csv(index=False), "deciles.csv")
    mlflow.log_figure(plots.lift_chart(y, {name: scores}), "lift_chart.png")
    mlflow.log_figure(plots.calibration_curve(y, {name: scores}), "calibration.png")
    mlflow.log_figure(plots.pr_curve(y, {name: scores}), "pr_curve.png")
    if isinstance(model, PropensityModel):
        mlflow.log_figure(
            plots.feature_importance(model.feature_importance()), "feature_importance.png"
        )
        sample = split.test.sample(min(len(split.test), 2000), random_state=0)
        mlflow.log_figure(
            plots.shap_summary(model.contributions(sample), sample), "shap_summary.png"
        )


def _model_params(model: PropensityModel) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model_type": model.model_type,
        "calibration": model.calibration,
        "preprocessed_columns": len(model.columns_),
    }
    if model.model_type == "lightgbm":
        params |= {
            f"lgbm_{k}": v
            for k, v in model.classifier_.get_params().items()
            if v is not None and not callable(v)
        }
        params["best_iteration"] = model.best_iteration_
    else:
        params |= {f"lr_{k}": v for k, v in model.classifier_.get_params().items() if v is not None}
    return params


def _log_comparison(fitted: FittedModels, split: Split) -> None:
    import mlflow

    from training import plots

    y = split.test[LABEL].to_numpy()
    mlflow.log_figure(plots.lift_chart(y, fitted.test_scores), "lift_chart.png")
    mlflow.log_figure(plots.calibration_curve(y, fitted.test_scores), "calibration.png")
    mlflow.log_figure(plots.pr_curve(y, fitted.test_scores), "pr_curve.png")
    summary = pd.DataFrame(fitted.test_metrics).T.rename_axis("model").reset_index()
    mlflow.log_text(summary.to_csv(index=False), "test_metrics.csv")


def _log_registered_model(
    fitted: FittedModels, split: Split, cfg: Config, target: str, windows: dict
):
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model: PropensityModel = fitted.models[REGISTERED_MODEL]
    model.describe(
        target=target,
        horizon_days=cfg.conversion.horizon_days,
        training_window=windows["train"],
        validation_window=windows["validation"],
        test_window=windows["test"],
        metrics={k: v for k, v in fitted.test_metrics[REGISTERED_MODEL].items() if np.isfinite(v)},
        config_fingerprint=cfg.fingerprint(),
        seed=cfg.training.seed,
        registered_model=cfg.training.registered_model,
    )
    example = input_example(model, split.train)
    signature = infer_signature(example, model.predict_proba(example))
    return mlflow.sklearn.log_model(
        model,
        name="model",
        serialization_format="cloudpickle",
        signature=signature,
        input_example=example,
        pip_requirements=pinned_requirements(),
        pyfunc_predict_fn="predict_proba",
        registered_model_name=cfg.training.registered_model,
        metadata={"target": target, "model_type": REGISTERED_MODEL},
    )


def input_example(model: PropensityModel, frame: pd.DataFrame) -> pd.DataFrame:
    """One synthetic feature row: medians of numeric features, most common other values.

    Built from column summaries, so it describes no real account and holds no personal
    data.
    """
    row: dict[str, Any] = {}
    for name in model.numeric_:
        median = frame[name].median()
        row[name] = float(round(median, 3)) if pd.notna(median) else 0.0
    for name in model.categorical_:
        mode = frame[name].dropna().mode()
        row[name] = str(mode.iloc[0]) if len(mode) else "unknown"
    for name in model.boolean_:
        mode = frame[name].mode()
        row[name] = bool(mode.iloc[0]) if len(mode) else False
    return model.frame_from_records([row])


def pinned_requirements() -> list[str]:
    """Exact versions of the packages the logged model needs, read from this environment."""
    pins = []
    for package in REQUIREMENTS:
        try:
            pins.append(f"{package}=={package_metadata.version(package)}")
        except package_metadata.PackageNotFoundError:
            pins.append(package)
    return pins
