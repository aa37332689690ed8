"""Reasons: the factors that push an account's propensity up and down, in plain words.

A reason comes from the model's per-feature contributions (log-odds units): the
features with the largest positive contributions push the score up, those with the
most negative push it down. Each is phrased with the account's own value through
the catalog's ``phrase`` template, e.g. "14 active users in the last 28 days" or
"22 users added on 2025-05-12".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import FEATURES, FeatureSpec, fill_phrase

MISSING_CATEGORY = "unknown"
"""Categorical value the feature pipeline uses when nothing is known."""


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _is_missing(value: Any) -> bool:
    return _is_null(value) or (isinstance(value, str) and value == MISSING_CATEGORY)


def _plain(value: Any) -> Any:
    """Turn numpy and pandas scalars into JSON-friendly Python values (None when null)."""
    kind = type(value)
    if kind is str or kind is bool or kind is int:
        return value
    if kind is float:
        return None if value != value else value
    if _is_null(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).date().isoformat()
    return value


def _date_text(value: Any) -> str:
    if _is_missing(value):
        return "an unknown day"
    if isinstance(value, str):
        return value[:10]
    return pd.Timestamp(value).date().isoformat()


def phrase_feature(spec: FeatureSpec, value: Any, date: Any = None) -> str:
    """Phrase one feature value for a salesperson.

    Parameters
    ----------
    spec : FeatureSpec
        The catalog entry of the feature.
    value : object
        The account's value: a number, a category, a bool, or None/NaN for unknown.
    date : object, optional
        The value of the feature's ``date_column`` (a date, Timestamp or ISO text).

    Returns
    -------
    str
        The catalog phrase filled with the value; "no sign that ..." for a false
        boolean; the spec's ``missing`` text, else "<feature description>: none
        recorded", when the value is unknown.
    """
    if _is_missing(value):
        if spec.missing:
            return spec.missing
        label = re.split(r",| \(|\. ", spec.description)[0].rstrip(".")
        return f"{label}: none recorded"
    if spec.kind == "boolean":
        return spec.phrase if bool(value) else f"no sign that {spec.phrase}"
    if spec.kind == "numeric":
        value = float(value)
    return fill_phrase(spec.phrase, value, _date_text(date))


def top_reasons(
    contributions: np.ndarray,
    feature_names: Sequence[str],
    columns: Mapping[str, Any],
    count: int,
) -> list[list[dict[str, Any]]]:
    """Build the reasons of every account from its feature contributions.

    Parameters
    ----------
    contributions : ndarray of shape (n_accounts, n_features)
        Log-odds contributions, one column per name in ``feature_names`` (no bias).
    feature_names : sequence of str
        Catalog feature names, in the order of the contribution columns.
    columns : DataFrame or mapping of str to array-like
        The accounts' feature values (and auxiliary date columns), row-aligned with
        ``contributions``.
    count : int
        Reasons per direction: at most ``count`` pushing up and ``count`` down.

    Returns
    -------
    list of list of dict
        Per account, the up reasons (largest contribution first) then the down
        reasons (most negative first); each a dict with ``feature``, ``direction``
        ("up" or "down"), ``contribution``, ``value`` and ``text``. Features with a
        zero or NaN contribution give no reason.
    """
    matrix = np.asarray(contributions, dtype=float)
    matrix = np.where(np.isnan(matrix), 0.0, matrix)
    if matrix.shape[1] != len(feature_names):
        raise ValueError(
            f"contributions have {matrix.shape[1]} columns but {len(feature_names)} "
            "feature names were given; pass the contribution columns without 'bias'"
        )
    specs = [FEATURES[name] for name in feature_names]
    width = min(count, matrix.shape[1])
    order_up = np.argsort(-matrix, axis=1, kind="stable")[:, :width]
    order_down = np.argsort(matrix, axis=1, kind="stable")[:, :width]
    up = np.take_along_axis(matrix, order_up, axis=1) > 0
    down = np.take_along_axis(matrix, order_down, axis=1) < 0

    phrases = _Phrases(specs, columns)
    reasons = []
    for row in range(matrix.shape[0]):
        picked = [(j, "up") for j in order_up[row][up[row]]]
        picked += [(j, "down") for j in order_down[row][down[row]]]
        reasons.append(
            [phrases.reason(j, direction, matrix[row, j], row) for j, direction in picked]
        )
    return reasons


class _Phrases:
    """Reads values lazily, only for the features picked, and phrases each distinct
    (feature, value, date) once: many accounts share values such as 0 or 1."""

    def __init__(self, specs: list[FeatureSpec], columns: Mapping[str, Any]) -> None:
        self.specs = specs
        self.columns = columns
        self.values: dict[str, list] = {}
        self.texts: dict[tuple, str] = {}

    def _column(self, name: str | None) -> list | None:
        if name is None or name not in self.columns:
            return None
        if name not in self.values:
            self.values[name] = np.asarray(self.columns[name], dtype=object).tolist()
        return self.values[name]

    def reason(self, index: int, direction: str, contribution: float, row: int) -> dict:
        spec = self.specs[index]
        value = self._column(spec.name)[row]
        dates = self._column(spec.date_column)
        date = dates[row] if dates is not None else None
        key = (spec.name, repr(value), repr(date))
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = phrase_feature(spec, value, date)
        return {
            "feature": spec.name,
            "direction": direction,
            "contribution": float(contribution),
            "value": _plain(value),
            "text": text,
        }
