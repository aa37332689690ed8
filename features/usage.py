"""Usage features: how many people use the product, how often, how deeply and how broadly.

Windows are the N days before the as-of date D (``[D - N, D)``). Ratios whose
denominator is zero (no active user in 28 days) are 0: an account nobody uses has
no stickiness and no depth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from features.snapshots import Snapshot

LAST_7, LAST_28, LAST_90 = (0, 7), (0, 28), (0, 90)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def compute(snapshot: Snapshot, columns: dict[str, object]) -> dict[str, np.ndarray]:
    """Return the usage columns for every account of ``snapshot``."""
    active_28 = snapshot.distinct_users(LAST_28)
    value_28 = snapshot.window_sum("value", LAST_28)
    total = np.bincount(snapshot.members["account"].to_numpy(), minlength=snapshot.size)
    return {
        "active_users_7d": snapshot.distinct_users(LAST_7),
        "active_users_28d": active_28,
        "active_users_90d": snapshot.distinct_users(LAST_90),
        "total_users": total.astype(np.float64),
        "stickiness": ratio(snapshot.user_days(LAST_28) / 28.0, active_28),
        "active_days_28d": snapshot.active_days(LAST_28),
        "value_events_28d": value_28,
        "value_events_90d": snapshot.window_sum("value", LAST_90),
        "value_events_per_user_28d": ratio(value_28, active_28),
        "breadth_28d": snapshot.breadth(LAST_28),
        "collaboration_events_28d": snapshot.window_sum("collaboration", LAST_28),
        "invites_28d": snapshot.window_sum("invite", LAST_28),
        "tenure_days": (snapshot.day - snapshot.first_day).astype(np.float64),
    }
