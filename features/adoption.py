"""Adoption stage: how far the product has spread inside the account.

- ``organization``: 7 or more active users in 28 days, or users from 3 or more
  departments;
- ``team``: at least 2 active users in 28 days who collaborate (at least one
  collaboration event in 28 days);
- ``individual``: anything else, including accounts with no active user in 28 days.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from features.snapshots import Snapshot

ORGANIZATION_USERS = 7
ORGANIZATION_DEPARTMENTS = 3
TEAM_USERS = 2


def adoption_stage(
    active_users: np.ndarray, departments: np.ndarray, collaboration_events: np.ndarray
) -> np.ndarray:
    """Stage of each account from its 28-day active users, departments and collaboration."""
    organization = (active_users >= ORGANIZATION_USERS) | (departments >= ORGANIZATION_DEPARTMENTS)
    team = (active_users >= TEAM_USERS) & (collaboration_events > 0)
    return np.where(organization, "organization", np.where(team, "team", "individual")).astype(
        object
    )


def compute(snapshot: Snapshot, columns: dict[str, object]) -> dict[str, np.ndarray]:
    """Return the adoption column; needs the usage and profile columns computed first."""
    return {
        "adoption_stage": adoption_stage(
            np.asarray(columns["active_users_28d"]),
            np.asarray(columns["departments"]),
            np.asarray(columns["collaboration_events_28d"]),
        )
    }
