"""Velocity features: how fast usage grows, and bursts of new users or activity.

Growth is the relative change ``(current - previous) / max(previous, 1)``: from 4 to 6
active users is +50 %, and from 0 to 3 is +300 % rather than an infinite value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.activity import timestamps

if TYPE_CHECKING:
    from features.snapshots import Snapshot

WEEK, PREVIOUS_WEEK = (0, 7), (7, 14)
MONTH, PREVIOUS_MONTH, MONTH_BEFORE_PREVIOUS = (0, 28), (28, 56), (56, 84)
BASELINE_WEEKS = 12
BASELINE = (7, 7 + 7 * BASELINE_WEEKS)


def growth(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Relative change from ``previous`` to ``current``; the base is at least 1."""
    return (current - previous) / np.maximum(previous, 1.0)


def users_added(snapshot: Snapshot) -> dict[str, np.ndarray]:
    """Users first seen in the last 28 days, and the busiest day of the last 90 days.

    A user is first seen in an account on the day of their first group call to one of
    its workspaces or of their first activity there, whichever is earlier. Among days
    tied for the most users added, the latest is reported.
    """
    members = snapshot.members
    ago = snapshot.day - members["first_day"].to_numpy()
    account = members["account"].to_numpy()
    recent = ago <= 28
    added_28 = np.bincount(account[recent], minlength=snapshot.size).astype(np.float64)

    in_90 = ago <= 90
    per_day = (
        pd.DataFrame({"account": account[in_90], "day": members["first_day"].to_numpy()[in_90]})
        .groupby(["account", "day"], as_index=False, sort=False)
        .size()
        .sort_values(["account", "size", "day"], ascending=[True, False, False], kind="stable")
        .drop_duplicates("account")
    )
    most = np.zeros(snapshot.size)
    busiest = np.full(snapshot.size, np.nan)
    most[per_day["account"].to_numpy()] = per_day["size"].to_numpy()
    busiest[per_day["account"].to_numpy()] = per_day["day"].to_numpy()
    return {
        "users_added_28d": added_28,
        "max_users_added_in_day_90d": most,
        "max_users_added_day_90d": timestamps(busiest),
    }


def activity_spike(snapshot: Snapshot) -> np.ndarray:
    """Events of the last 7 days over the mean weekly events of the 12 weeks before.

    The mean is taken over the weeks the account existed in those 12 weeks, so a young
    account is compared with its own short history. NaN when the account has no
    earlier week or no event in it.
    """
    recent = snapshot.window_sum("events", WEEK)
    earlier = snapshot.window_sum("events", BASELINE)
    history_days = snapshot.day - WEEK[1] - snapshot.first_day
    weeks = np.clip(np.ceil(history_days / 7.0), 0, BASELINE_WEEKS)
    weekly = np.where(weeks > 0, earlier / np.maximum(weeks, 1), 0.0)
    return np.where(weekly > 0, recent / np.where(weekly > 0, weekly, 1.0), np.nan)


def compute(snapshot: Snapshot, columns: dict[str, object]) -> dict[str, np.ndarray]:
    """Return the velocity columns for every account of ``snapshot``."""
    users = {
        days: snapshot.distinct_users(days)
        for days in (WEEK, PREVIOUS_WEEK, MONTH, PREVIOUS_MONTH, MONTH_BEFORE_PREVIOUS)
    }
    values = {
        days: snapshot.window_sum("value", days)
        for days in (WEEK, PREVIOUS_WEEK, MONTH, PREVIOUS_MONTH)
    }
    month_growth = growth(users[MONTH], users[PREVIOUS_MONTH])
    previous_month_growth = growth(users[PREVIOUS_MONTH], users[MONTH_BEFORE_PREVIOUS])
    return {
        "active_users_wow_growth": growth(users[WEEK], users[PREVIOUS_WEEK]),
        "active_users_mom_growth": month_growth,
        "value_events_wow_growth": growth(values[WEEK], values[PREVIOUS_WEEK]),
        "value_events_mom_growth": growth(values[MONTH], values[PREVIOUS_MONTH]),
        **users_added(snapshot),
        "activity_spike_score": activity_spike(snapshot),
        "active_users_acceleration": month_growth - previous_month_growth,
    }
