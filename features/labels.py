"""Training labels: CRM conversions and future PQA status, per (account, as-of date).

A conversion is a won CRM opportunity with ``amount >= config.conversion.min_amount``
(and a type in ``config.conversion.opportunity_types`` when that list is not empty),
matched to the account whose id is the CRM account's website domain, on its close date.
At as-of date D an account ``converted`` when such a close falls in
``[D, D + horizon_days)`` and ``converted_before`` when one falls before D (training
drops those: the account is already a customer).

Both label frames carry ``horizon_complete``: whether the events reach the end of the
horizon (the last event is on or after day ``D + horizon_days - 1``). A label whose
horizon is not complete may still turn True; training should not treat it as negative.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime

import numpy as np
import pandas as pd

from features.tables import Tables
from pqa.config import Config

logger = logging.getLogger(__name__)


def future_snapshot_dates(as_of: pd.Timestamp, horizon_days: int) -> list[pd.Timestamp]:
    """The weekly snapshot dates (Mondays) in ``(as_of, as_of + horizon_days]``."""
    first = as_of + pd.Timedelta(days=1)
    last = as_of + pd.Timedelta(days=horizon_days)
    return list(pd.date_range(first, last, freq="W-MON"))


def horizon_complete(tables: Tables, as_of: pd.Timestamp, horizon_days: int) -> bool:
    """Whether the events cover the whole horizon after ``as_of``."""
    if tables.events.empty:
        return False
    last_day = tables.events["timestamp"].max().normalize()
    return bool(last_day >= as_of + pd.Timedelta(days=horizon_days - 1))


def conversions(tables: Tables, config: Config) -> pd.DataFrame:
    """``account_id, close_date`` of every qualifying won opportunity."""
    opportunities = tables.opportunities
    rule = config.conversion
    won = opportunities["is_won"].fillna(False).astype(bool)
    qualifies = (
        won
        & (opportunities["amount"] >= rule.min_amount).fillna(False).astype(bool)
        & opportunities["domain"].notna()
        & opportunities["close_date"].notna()
    )
    if rule.opportunity_types:
        qualifies &= opportunities["type"].isin(rule.opportunity_types)
    chosen = opportunities.loc[qualifies, ["domain", "close_date"]]
    return chosen.rename(columns={"domain": "account_id"}).reset_index(drop=True)


def _accounts_at(tables: Tables, dates: list[pd.Timestamp]) -> pd.DataFrame:
    """``account_id, as_of`` for every account with a workspace before each date."""
    from features.accounts import resolve_accounts
    from features.snapshots import workspace_first_events

    light = tables.replace(events=workspace_first_events(tables.events))
    frames = []
    for day in dates:
        accounts = resolve_accounts(light, day)["account_id"].drop_duplicates()
        frames.append(pd.DataFrame({"account_id": accounts.to_numpy(), "as_of": day}))
    if not frames:
        return pd.DataFrame(
            {"account_id": pd.Series([], dtype="str"), "as_of": pd.DatetimeIndex([], tz="UTC")}
        )
    return pd.concat(frames, ignore_index=True)


def conversion_labels(
    tables: Tables,
    config: Config,
    dates: Iterable[date | datetime | pd.Timestamp],
    accounts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Label each (account, as-of date) with its CRM conversion outcome.

    Parameters
    ----------
    tables : Tables
        Normalized tables; ``opportunities`` (and, without ``accounts``, the tables
        account resolution reads).
    config : Config
        Supplies ``conversion.min_amount``, ``horizon_days`` and ``opportunity_types``.
    dates : iterable of date or Timestamp
        As-of dates (UTC midnights).
    accounts : DataFrame, optional
        ``account_id, as_of`` rows to label, e.g. the keys of a feature table. By
        default, every account with a workspace before each date.

    Returns
    -------
    DataFrame
        ``account_id, as_of, converted, converted_before, horizon_complete``, sorted by
        ``as_of, account_id``.
    """
    from features.snapshots import as_of_dates

    days = as_of_dates(dates)
    if accounts is None:
        keys = _accounts_at(tables, days)
    else:
        keys = accounts[["account_id", "as_of"]].drop_duplicates()
        keys = keys[keys["as_of"].isin(days)]
    keys = keys.sort_values(["as_of", "account_id"], ignore_index=True)
    horizon = pd.Timedelta(days=config.conversion.horizon_days)

    closes = conversions(tables, config)
    pairs = keys.reset_index().merge(closes, on="account_id", how="inner")
    within = (pairs["close_date"] >= pairs["as_of"]) & (
        pairs["close_date"] < pairs["as_of"] + horizon
    )
    before = pairs["close_date"] < pairs["as_of"]
    converted = np.zeros(len(keys), dtype=bool)
    converted_before = np.zeros(len(keys), dtype=bool)
    converted[pairs.loc[within, "index"].to_numpy()] = True
    converted_before[pairs.loc[before, "index"].to_numpy()] = True

    complete = {day: horizon_complete(tables, day, config.conversion.horizon_days) for day in days}
    result = keys.assign(
        converted=converted,
        converted_before=converted_before,
        horizon_complete=keys["as_of"].map(complete).astype(bool),
    )
    logger.info("%d conversions within the horizon among %d labels", converted.sum(), len(result))
    return result


def future_pqa_labels(
    tables: Tables,
    config: Config,
    dates: Iterable[date | datetime | pd.Timestamp],
    progress=None,
) -> pd.DataFrame:
    """Label each account existing at each as-of date with its future PQA status.

    Parameters
    ----------
    tables : Tables
        Normalized tables.
    config : Config
        Supplies the PQA rules and ``conversion.horizon_days``.
    dates : iterable of date or Timestamp
        As-of dates (UTC midnights).
    progress : callable, optional
        ``progress(done, total)`` over the snapshot dates computed.

    Returns
    -------
    DataFrame
        ``account_id, as_of, is_pqa, becomes_pqa_within_horizon, horizon_complete``:
        ``becomes_pqa_within_horizon`` is True when the account is not a PQA at D and is
        one at some weekly snapshot (Monday) in ``(D, D + horizon_days]``. Those
        snapshots use only events before them, so nothing after ``D + horizon_days``.
    """
    from features.pqa_rules import evaluate_rules
    from features.snapshots import as_of_dates, compute_features

    days = as_of_dates(dates)
    horizon = config.conversion.horizon_days
    future = {day: future_snapshot_dates(day, horizon) for day in days}
    every_date = sorted({*days, *(d for later in future.values() for d in later)})
    features = compute_features(tables, config, every_date, progress=progress)
    evaluated = evaluate_rules(features, config.pqa_rules)
    qualified = evaluated.loc[evaluated["pqa"], ["account_id", "as_of"]]

    frames = []
    for day in days:
        current = evaluated.loc[evaluated["as_of"] == day, ["account_id", "as_of", "pqa"]]
        later = qualified[qualified["as_of"].isin(future[day])]["account_id"]
        becomes = ~current["pqa"] & current["account_id"].isin(set(later))
        frames.append(
            current.rename(columns={"pqa": "is_pqa"}).assign(
                becomes_pqa_within_horizon=becomes.to_numpy(),
                horizon_complete=horizon_complete(tables, day, horizon),
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(
        ["as_of", "account_id"], ignore_index=True
    )
