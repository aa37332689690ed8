"""Scores: propensity, tier, PQA flag, stage, reasons and play for each account.

:func:`score_columns` is the one scoring function behind the batch command
(:func:`score_frame`, a feature table in, a score table out) and the HTTP service
(feature rows as columns of numpy arrays, without a DataFrame per request), so both
return the same fields and the same values for an account.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.catalog import FEATURES, KEY_COLUMNS
from pqa.config import Config
from serving.plays import choose_plays, play_owners
from serving.reasons import top_reasons

logger = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "account_id",
    "as_of",
    "propensity",
    "tier",
    "pqa",
    "pqa_rules",
    "stage",
    "play",
    "owner",
    "reasons",
    "model_version",
)
"""The fields of a score, in order: the same in batch files and service responses."""

Columns = Mapping[str, Any]
"""Per-account columns: column name -> array of one value per account."""


class PropensityModelLike(Protocol):
    """What scoring needs from a trained model (``training.model.PropensityModel``)."""

    metadata_: dict[str, Any]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame: ...

    def tier(self, probabilities: np.ndarray) -> np.ndarray: ...


def score_frame(
    model: PropensityModelLike, features: pd.DataFrame, cfg: Config, model_version: str
) -> pd.DataFrame:
    """Score every row of a feature table.

    Parameters
    ----------
    model : PropensityModel or CompiledModel
        A trained model: calibrated ``predict_proba``, ``contributions`` in log-odds
        units per catalog feature, ``tier``.
    features : DataFrame
        One row per (account_id, as_of) with the catalog's feature and auxiliary
        columns, as :func:`features.snapshots.compute_features` returns.
    cfg : Config
        PQA rules, number of reasons, play owners and young-account threshold.
    model_version : str
        Recorded with every score.

    Returns
    -------
    DataFrame
        One row per input row, in the input order, with :data:`SCORE_COLUMNS`.
    """
    _check_columns(features.columns, model)
    columns = {name: features[name].to_numpy() for name in features.columns}
    columns["as_of"] = pd.DatetimeIndex(features["as_of"])
    scores = score_columns(model, columns, cfg, model_version)
    return pd.DataFrame(scores, columns=list(SCORE_COLUMNS))


def _check_columns(available: Any, model: PropensityModelLike) -> None:
    missing = [c for c in (*KEY_COLUMNS, *model_features(model)) if c not in available]
    if missing:
        raise ValueError(
            f"the feature table lacks column(s) {missing}; compute it with "
            "features.snapshots.compute_features (or 'pqa features')"
        )


def score_columns(
    model: PropensityModelLike, columns: Columns, cfg: Config, model_version: str
) -> dict[str, Any]:
    """Score accounts given as columns; return the score columns.

    Parameters
    ----------
    model : PropensityModel or CompiledModel
    columns : mapping of str to array-like
        ``account_id``, ``as_of`` (a DatetimeIndex in UTC), every model feature and the
        auxiliary columns, one value per account.
    cfg : Config
    model_version : str

    Returns
    -------
    dict of str to array-like
        :data:`SCORE_COLUMNS`, one value per account, in the input order.
    """
    from features.pqa_rules import fire_rules

    _check_columns(columns, model)
    n = len(columns["account_id"])
    if n == 0:
        return {column: [] for column in SCORE_COLUMNS}

    pqa, fired_rules = fire_rules(columns, cfg.pqa_rules, n)
    probabilities, contributions, names = predict_with_contributions(model, columns)
    both = {**columns, "pqa": pqa, "fired_rules": fired_rules}
    plays = choose_plays(both, cfg.scoring.young_account_days)
    return {
        "account_id": np.asarray(columns["account_id"], dtype=object),
        "as_of": columns["as_of"],
        "propensity": probabilities,
        "tier": np.asarray(model.tier(probabilities), dtype=object),
        "pqa": both["pqa"],
        "pqa_rules": [
            [{"name": r["name"], "reason": r.get("reason") or r["name"]} for r in fired]
            for fired in fired_rules
        ],
        "stage": np.asarray(columns["adoption_stage"], dtype=object),
        "play": plays.astype(object),
        "owner": play_owners(plays, cfg.scoring),
        "reasons": top_reasons(contributions, names, columns, cfg.scoring.reasons),
        "model_version": [model_version] * n,
    }


def predict_with_contributions(
    model: PropensityModelLike, columns: Columns
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return calibrated probabilities and per-feature contributions in one model pass.

    With sigmoid (Platt) calibration a model's contributions plus ``bias`` add up to
    the logit of its calibrated probability, so the probability is read from them
    instead of transforming the rows a second time; any other model is asked for
    ``predict_proba`` as well.

    Returns
    -------
    probabilities : ndarray of shape (n_accounts,)
    contributions : ndarray of shape (n_accounts, n_features)
        Without the bias.
    names : list of str
        The catalog feature of each contribution column.
    """
    if hasattr(model, "explain"):
        return model.explain(columns)
    frame = pd.DataFrame(dict(columns))
    contributions = model.contributions(frame)
    names = [c for c in contributions.columns if c in FEATURES]
    values = contributions[names].to_numpy(dtype=float)
    if getattr(model, "calibration", None) == "sigmoid" and "bias" in contributions:
        logit = values.sum(axis=1) + contributions["bias"].to_numpy(dtype=float)
        return 1.0 / (1.0 + np.exp(-logit)), values, names
    probabilities = np.asarray(model.predict_proba(frame), dtype=float)[:, 1]
    return probabilities, values, names


def model_features(model: PropensityModelLike) -> list[str]:
    """Return the catalog features the model reads (all of them if it does not say)."""
    return list(model.metadata_.get("features") or FEATURES)


def scores_to_records(scores: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Turn score columns (or a score frame) into JSON-ready dicts, as_of as YYYY-MM-DD."""
    as_of = pd.DatetimeIndex(scores["as_of"]).strftime("%Y-%m-%d").tolist()
    lists = {name: list(scores[name]) for name in SCORE_COLUMNS if name != "as_of"}
    records = []
    for i, day in enumerate(as_of):
        record = {name: values[i] for name, values in lists.items()}
        record["as_of"] = day
        record["propensity"] = float(record["propensity"])
        record["pqa"] = bool(record["pqa"])
        records.append({name: record[name] for name in SCORE_COLUMNS})
    return records
