"""Product Qualified Account rules: which accounts qualify, and the reasons why.

An account is a PQA at an as-of date when every ``all_of`` rule of the config holds
and at least ``min_any`` of the ``any_of`` rules hold. A missing value (NaN) never
satisfies a rule, whatever the operator, so an account that never visited the security
page does not fire ``days_since_security_visit <= 30``.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import FEATURES, fill_phrase
from features.tables import Tables
from pqa.config import Config, PQARules, RuleCondition

logger = logging.getLogger(__name__)

OPERATORS: dict[str, Callable] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}

RULE_COLUMNS = ("account_id", "as_of", "pqa", "fired_rules")

Columns = pd.DataFrame | Mapping[str, Any]


def rule_holds(columns: Columns, rule: RuleCondition) -> np.ndarray:
    """Whether ``rule`` holds for each row; False where the value is missing.

    ``columns`` is a DataFrame or any mapping of column name to array-like (the HTTP
    service scores one account without building a DataFrame).
    """
    if rule.feature not in columns:
        raise ValueError(
            f"PQA rule '{rule.name}' uses feature '{rule.feature}', which the frame lacks; "
            "pass a frame from features.snapshots.compute_features"
        )
    values = columns[rule.feature]
    if isinstance(values, pd.Series):
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        known = values.notna().to_numpy()
        values = values.to_numpy(np.float64) if numeric else values.to_numpy(dtype=object)
    else:
        values = np.asarray(values)
        numeric = values.dtype.kind in "fiu"
        known = ~pd.isna(values)
        values = values.astype(np.float64) if numeric else values.astype(object)
    threshold = float(rule.value) if numeric else rule.value
    return np.asarray(OPERATORS[rule.op](values, threshold), dtype=bool) & known


def reason_text(rule: RuleCondition, value: object, date_value: object = None) -> str:
    """The rule's reason template filled with the account's value.

    ``{value}`` is the value, ``{date}`` the date a feature carries alongside it (the
    busiest day for ``max_users_added_in_day_90d``) and ``{s}`` a plural ending. Without
    a template, or when the template does not fit the value, the reason reads
    ``feature op threshold (value)``.
    """
    fallback = f"{rule.feature} {rule.op} {_show(rule.value)} ({_show(value)})"
    if not rule.reason:
        return fallback
    shown_date = date_value.date().isoformat() if isinstance(date_value, pd.Timestamp) else ""
    try:
        return fill_phrase(rule.reason, value, shown_date)
    except (ValueError, TypeError, KeyError, IndexError):
        logger.warning("Reason template of PQA rule '%s' does not fit %r", rule.name, value)
        return fallback


def _show(value: object) -> str:
    """A value as a reader expects it: 400.0 as 400, 0.25 as 0.25."""
    if isinstance(value, float | np.floating) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def _plain(value: object) -> object:
    """A numpy scalar as the plain Python value (JSON-friendly)."""
    return value.item() if isinstance(value, np.generic) else value


def evaluate_rules(frame: pd.DataFrame, rules: PQARules) -> pd.DataFrame:
    """Evaluate the PQA rules on a snapshot table.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`features.snapshots.compute_features`.
    rules : PQARules
        ``config.pqa_rules``.

    Returns
    -------
    DataFrame
        ``account_id, as_of, pqa, fired_rules`` in the order of ``frame``. ``fired_rules``
        lists every rule that holds (all_of first, then any_of, in config order) as
        ``{"name", "feature", "value", "reason"}`` dicts, also for accounts that are not
        PQAs.
    """
    qualified, fired = fire_rules(frame, rules, len(frame))
    return pd.DataFrame(
        {
            "account_id": frame["account_id"].to_numpy(),
            "as_of": frame["as_of"].to_numpy(),
            "pqa": qualified,
            "fired_rules": fired,
        }
    ).astype({"as_of": frame["as_of"].dtype})


def fire_rules(
    columns: Columns, rules: PQARules, n: int
) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
    """The PQA flag and the fired rules of ``n`` accounts given as columns.

    The work behind :func:`evaluate_rules`, on a DataFrame or any mapping of column
    name to array-like, so that scoring one account needs no DataFrame.

    Returns
    -------
    qualified : ndarray of bool of shape (n,)
    fired : list of list of dict
        Per account, as in :func:`evaluate_rules`.
    """
    qualified = np.ones(n, dtype=bool)
    any_count = np.zeros(n, dtype=np.int64)
    fired: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for group in ("all_of", "any_of"):
        for rule in getattr(rules, group):
            holds = rule_holds(columns, rule)
            if group == "all_of":
                qualified &= holds
            else:
                any_count += holds
            _append_reasons(fired, columns, rule, np.flatnonzero(holds))
    if rules.any_of:
        qualified &= any_count >= rules.min_any
    return qualified, fired


def _append_reasons(
    fired: list[list[dict]], columns: Columns, rule: RuleCondition, rows: np.ndarray
) -> None:
    if len(rows) == 0:
        return
    values = np.asarray(columns[rule.feature])[rows]
    spec = FEATURES.get(rule.feature)
    date_column = spec.date_column if spec else None
    if date_column and date_column in columns:
        # Timestamps, whether the column is a Series or a DatetimeIndex
        dates = pd.DatetimeIndex(columns[date_column])[rows].tolist()
    else:
        dates = [None] * len(rows)
    for row, value, day in zip(rows, values, dates, strict=True):
        value = _plain(value)
        fired[row].append(
            {
                "name": rule.name,
                "feature": rule.feature,
                "value": value,
                "reason": reason_text(rule, value, day),
            }
        )


def pqa_history(features: pd.DataFrame, rules: PQARules) -> pd.DataFrame:
    """``account_id, first_pqa_date``: the earliest as-of date in ``features`` at which
    each account was a PQA (NaT if never), for every account in ``features``."""
    evaluated = evaluate_rules(features, rules)
    first = evaluated[evaluated["pqa"]].groupby("account_id")["as_of"].min()
    accounts = pd.Index(evaluated["account_id"].unique(), dtype="str").sort_values()
    result = first.reindex(accounts)
    return pd.DataFrame(
        {
            "account_id": accounts,
            "first_pqa_date": pd.to_datetime(result.to_numpy(), utc=True).as_unit("us"),
        }
    )


def _weekly_history(tables: Tables, as_of: pd.Timestamp) -> list[pd.Timestamp]:
    """Mondays from the first event's week up to ``as_of``, plus ``as_of`` itself."""
    from features.snapshots import as_of_range

    if tables.events.empty:
        return [as_of]
    first = tables.events["timestamp"].min().normalize()
    return sorted({*as_of_range(first.date(), as_of.date(), every="week"), as_of})


def first_pqa_dates(
    tables: Tables, config: Config, as_of: date | datetime | pd.Timestamp, every: str = "week"
) -> pd.DataFrame:
    """The first snapshot date at which each account was a PQA, up to ``as_of``.

    Parameters
    ----------
    tables : Tables
        Normalized tables.
    config : Config
        Supplies the PQA rules.
    as_of : date or Timestamp
        Last snapshot date (inclusive).
    every : {"week"}
        Snapshot grid: every Monday from the first event's week, plus ``as_of``.

    Returns
    -------
    DataFrame
        ``account_id, first_pqa_date`` (NaT if never a PQA) for every account that
        exists at ``as_of``.
    """
    from features.snapshots import as_of_dates, compute_features

    if every != "week":
        raise ValueError(f"every: only 'week' is supported for first PQA dates; got {every!r}")
    day = as_of_dates([as_of])[0]
    features = compute_features(tables, config, _weekly_history(tables, day))
    history = pqa_history(features, config.pqa_rules)
    current = features.loc[features["as_of"] == day, "account_id"]
    return history[history["account_id"].isin(current)].reset_index(drop=True)


def label_accounts(
    tables: Tables, config: Config, as_of: date | datetime | pd.Timestamp, progress=None
) -> pd.DataFrame:
    """Everything ``pqa label`` writes for the accounts existing at ``as_of``.

    Parameters
    ----------
    tables : Tables
        Normalized tables.
    config : Config
        Supplies the PQA rules and the horizon.
    as_of : date or Timestamp
        The as-of date (UTC midnight).
    progress : callable, optional
        ``progress(done, total)`` over the snapshot dates computed.

    Returns
    -------
    DataFrame
        ``account_id, as_of, pqa, fired_rules, first_pqa_date,
        becomes_pqa_within_horizon``, PQAs first then by account. ``first_pqa_date`` is
        the first weekly snapshot (Mondays, and ``as_of``) at which the account was a
        PQA, NaT if never. ``becomes_pqa_within_horizon`` (nullable boolean) is True when
        the account is not a PQA at ``as_of`` but is one at some Monday in
        ``(as_of, as_of + horizon]``; it is missing (``<NA>``) when the events end
        before ``as_of + horizon`` so that the answer is not known yet.
    """
    from features.labels import future_snapshot_dates, horizon_complete
    from features.snapshots import as_of_dates, compute_features

    day = as_of_dates([as_of])[0]
    history = _weekly_history(tables, day)
    future = future_snapshot_dates(day, config.conversion.horizon_days)
    features = compute_features(tables, config, sorted({*history, *future}), progress=progress)
    evaluated = evaluate_rules(features, config.pqa_rules)

    past = features["as_of"] <= day
    first = pqa_history(features[past.to_numpy()], config.pqa_rules)
    current = evaluated[evaluated["as_of"] == day].reset_index(drop=True)
    result = current.merge(first, on="account_id", how="left")

    later = evaluated[evaluated["as_of"] > day]
    became = set(later.loc[later["pqa"], "account_id"])
    becomes = ~result["pqa"] & result["account_id"].isin(became)
    result["becomes_pqa_within_horizon"] = pd.array(becomes.to_numpy(), dtype="boolean")
    if not horizon_complete(tables, day, config.conversion.horizon_days):
        result["becomes_pqa_within_horizon"] = pd.array([pd.NA] * len(result), dtype="boolean")
    return result.sort_values(["pqa", "account_id"], ascending=[False, True], ignore_index=True)
