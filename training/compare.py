"""Tracked trainings side by side: one row per model of each training run."""

from __future__ import annotations

import logging

import pandas as pd

from training.registry import CHAMPION_ALIAS

logger = logging.getLogger(__name__)

METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "precision_at_k",
    "recall_at_k",
    "lift_top_decile",
)
COLUMNS = ("training", "started", "model", "target", *METRICS, "version", "champion")


def compare_runs(experiment: str, registered_model: str | None = None) -> pd.DataFrame:
    """Return the test metrics of every model of every training in ``experiment``.

    Parameters
    ----------
    experiment : str
        MLflow experiment name.
    registered_model : str or None
        Registered model whose versions are matched to trainings; None means every
        registered model.

    Returns
    -------
    DataFrame
        Columns training (parent run name), started (UTC), model, target, the test
        metrics, version (registered version of the training, if any) and champion
        ("yes" for the champion's training); newest training first. Empty when the
        experiment does not exist or has no trainings.
    """
    from training.tracking import client as make_client

    client = make_client()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        logger.info("No experiment named %r yet", experiment)
        return pd.DataFrame(columns=list(COLUMNS))
    runs = client.search_runs(
        [found.experiment_id], filter_string="tags.`pqa.kind` = 'model'", max_results=5000
    )
    parents = {
        run.info.run_id: run
        for run in client.search_runs(
            [found.experiment_id],
            filter_string="tags.`pqa.kind` = 'training'",
            max_results=5000,
        )
    }
    versions, champions = _versions_by_training(client, registered_model)
    rows = []
    for run in runs:
        parent_id = run.data.tags.get("mlflow.parentRunId")
        parent = parents.get(parent_id)
        if parent is None:
            continue
        rows.append(
            {
                "training": parent.info.run_name,
                "started": pd.Timestamp(parent.info.start_time, unit="ms", tz="UTC"),
                "model": run.data.tags.get("model", run.info.run_name),
                "target": run.data.tags.get("target", ""),
                **{m: run.data.metrics.get(f"test_{m}", float("nan")) for m in METRICS},
                "version": versions.get(parent_id),
                "champion": "yes" if parent_id in champions else "",
            }
        )
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    order = {"rules": 0, "logistic": 1, "lightgbm": 2}
    frame["_order"] = frame["model"].map(order).fillna(len(order))
    frame = frame.sort_values(["started", "_order"], ascending=[False, True], kind="stable")
    frame["started"] = frame["started"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame["version"] = frame["version"].astype("Int64")
    return frame.drop(columns="_order").reset_index(drop=True)


def _versions_by_training(client, registered_model: str | None) -> tuple[dict, set]:
    """Map training (parent) run id -> registered version; and the champions' trainings."""
    from mlflow.exceptions import MlflowException

    query = f"name='{registered_model}'" if registered_model else ""
    try:
        versions = client.search_model_versions(query)
    except MlflowException:
        return {}, set()
    by_training: dict[str, int] = {}
    champions: set[str] = set()
    for name in sorted({version.name for version in versions}):
        try:
            champion = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        except MlflowException:
            continue
        training = (champion.tags or {}).get("run_id")
        if training:
            champions.add(training)
    for version in versions:
        training = (version.tags or {}).get("run_id")
        if training:
            by_training[training] = int(version.version)
    return by_training, champions
