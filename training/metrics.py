"""How well scores rank and how honest their probabilities are.

Pure functions of labels ``y`` (0/1) and scores ``p`` (probabilities). Rankings break
ties by input order (a stable sort), so equal scores never depend on chance.

Capacity metrics model the sales team: every as-of date it can work ``k`` accounts
(``cfg.training.capacity``). Precision and recall at ``k`` are computed within each as-of
date on that date's top ``k`` accounts and then averaged over the dates, so every date
counts once whatever its number of accounts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

DECILES = 10


def _arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y, dtype=float)
    scores = np.asarray(p, dtype=float)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(
            f"y and p must be 1-d and of the same length; got shapes {labels.shape} "
            f"and {scores.shape}."
        )
    if len(labels) == 0:
        raise ValueError("y and p are empty; metrics need at least one snapshot.")
    return labels, scores


def _one_class(labels: np.ndarray) -> bool:
    return labels.min() == labels.max()


def roc_auc(y: Any, p: Any) -> float:
    """Area under the ROC curve; NaN when ``y`` holds a single class."""
    labels, scores = _arrays(y, p)
    return math.nan if _one_class(labels) else float(roc_auc_score(labels, scores))


def pr_auc(y: Any, p: Any) -> float:
    """Area under the precision-recall curve (average precision); NaN without positives."""
    labels, scores = _arrays(y, p)
    return math.nan if labels.sum() == 0 else float(average_precision_score(labels, scores))


def brier(y: Any, p: Any) -> float:
    """Mean squared difference between probability and outcome."""
    labels, scores = _arrays(y, p)
    return float(np.mean((scores - labels) ** 2))


def log_loss(y: Any, p: Any, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood, with probabilities clipped to [eps, 1 - eps]."""
    labels, scores = _arrays(y, p)
    clipped = np.clip(scores, eps, 1 - eps)
    return float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)))


def calibration_error(y: Any, p: Any, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width probability bins.

    The mean over bins of ``|observed rate - mean probability|``, weighted by the share
    of snapshots in the bin. A probability of exactly 1 falls in the last bin.
    """
    labels, scores = _arrays(y, p)
    index = np.minimum((scores * bins).astype(int), bins - 1)
    error = 0.0
    for b in np.unique(index):
        inside = index == b
        error += inside.mean() * abs(labels[inside].mean() - scores[inside].mean())
    return float(error)


def ranking(p: Any) -> np.ndarray:
    """Positions of the scores from highest to lowest, ties kept in input order."""
    return np.argsort(-np.asarray(p, dtype=float), kind="stable")


def deciles(p: Any) -> np.ndarray:
    """Score decile of each snapshot: 1 for the top 10% of scores ... 10 for the bottom."""
    scores = np.asarray(p, dtype=float)
    order = ranking(scores)
    decile = np.empty(len(scores), dtype=int)
    decile[order] = np.arange(len(scores)) * DECILES // len(scores) + 1
    return decile


def top_decile(y: Any, p: Any) -> tuple[float, float]:
    """Return (precision, lift) of the top-scored 10% of snapshots.

    Lift is the precision divided by the overall positive rate (NaN without positives).
    """
    labels, scores = _arrays(y, p)
    top = deciles(scores) == 1
    precision = float(labels[top].mean())
    base = labels.mean()
    return precision, (math.nan if base == 0 else float(precision / base))


def at_capacity(y: Any, p: Any, groups: Any, k: int) -> tuple[float, float]:
    """Return (precision, recall) of the top ``k`` per as-of date, averaged over dates.

    Parameters
    ----------
    y, p : array-like of shape (n,)
        Labels and scores.
    groups : array-like of shape (n,)
        The as-of date of each snapshot.
    k : int
        Accounts worked per date; a date with fewer accounts uses all of them.

    Returns
    -------
    precision, recall : float
        Recall averages only dates with at least one positive (NaN if none has).
    """
    labels, scores = _arrays(y, p)
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}.")
    keys = np.asarray(groups)
    precisions, recalls = [], []
    for key in pd.unique(keys):
        inside = keys == key
        group_labels = labels[inside]
        top = ranking(scores[inside])[:k]
        hits = group_labels[top].sum()
        precisions.append(hits / len(top))
        if group_labels.sum() > 0:
            recalls.append(hits / group_labels.sum())
    recall = float(np.mean(recalls)) if recalls else math.nan
    return float(np.mean(precisions)), recall


def decile_table(y: Any, p: Any) -> pd.DataFrame:
    """Conversion rate by score decile (1 = best scores).

    Returns
    -------
    DataFrame
        Columns decile, snapshots, conversions, rate, mean_score; one row per decile
        that holds snapshots.
    """
    labels, scores = _arrays(y, p)
    frame = pd.DataFrame({"decile": deciles(scores), "y": labels, "p": scores})
    table = frame.groupby("decile", sort=True).agg(
        snapshots=("y", "size"),
        conversions=("y", "sum"),
        rate=("y", "mean"),
        mean_score=("p", "mean"),
    )
    table["conversions"] = table["conversions"].astype(int)
    return table.reset_index()


def evaluate(y: Any, p: Any, groups: Any, k: int) -> dict[str, float]:
    """Every metric of a score on one set of snapshots, as a flat dict of floats.

    Keys: roc_auc, pr_auc, brier, log_loss, ece, precision_top_decile,
    lift_top_decile, precision_at_k, recall_at_k, positive_rate, snapshots, positives,
    decile_1 ... decile_10 (conversion rate by score decile).
    """
    labels, scores = _arrays(y, p)
    precision_decile, lift = top_decile(labels, scores)
    precision_k, recall_k = at_capacity(labels, scores, groups, k)
    metrics = {
        "roc_auc": roc_auc(labels, scores),
        "pr_auc": pr_auc(labels, scores),
        "brier": brier(labels, scores),
        "log_loss": log_loss(labels, scores),
        "ece": calibration_error(labels, scores),
        "precision_top_decile": precision_decile,
        "lift_top_decile": lift,
        "precision_at_k": precision_k,
        "recall_at_k": recall_k,
        "positive_rate": float(labels.mean()),
        "snapshots": float(len(labels)),
        "positives": float(labels.sum()),
    }
    for row in decile_table(labels, scores).itertuples():
        metrics[f"decile_{row.decile}"] = float(row.rate)
    return metrics
