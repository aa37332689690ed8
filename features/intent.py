"""Intent and structure features: buying signals and how the account is organised.

Page visits include anonymous views that an identify call later tied to a user (they
count from the day of that call). ``days_since_*`` are NaN when there was no such event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from features.activity import days_ago
from features.profile import user_traits, workspace_traits

if TYPE_CHECKING:
    from features.snapshots import Snapshot

LAST_90 = (0, 90)
PAGES = ("pricing", "security", "legal", "enterprise")

PLAN_ORDER = (
    "free",
    "trial",
    "personal",
    "starter",
    "basic",
    "plus",
    "standard",
    "pro",
    "professional",
    "team",
    "premium",
    "business",
    "growth",
    "scale",
    "enterprise",
)
"""Plans from lowest to highest; a plan not listed ranks below all of these."""


def plan_rank(plan: str) -> int:
    """Rank of a plan name in :data:`PLAN_ORDER` (case-insensitive); -1 when not listed."""
    lowered = str(plan).strip().lower()
    return PLAN_ORDER.index(lowered) if lowered in PLAN_ORDER else -1


def highest_plan(snapshot: Snapshot) -> np.ndarray:
    """Per account, the highest of its workspaces' latest plans ("unknown" when none)."""
    traits = workspace_traits(snapshot)[["account", "plan"]].dropna()
    traits = traits.assign(rank=traits["plan"].map(plan_rank))
    best = traits.sort_values(
        ["account", "rank", "plan"], ascending=[True, False, True], kind="stable"
    ).drop_duplicates("account")
    plans = np.full(snapshot.size, "unknown", dtype=object)
    plans[best["account"].to_numpy()] = best["plan"].to_numpy(dtype=object)
    return plans


def personal_email_share(snapshot: Snapshot) -> np.ndarray:
    """Share of members whose latest email is on a personal domain, among those with one."""
    members = snapshot.members[["account", "user"]].join(
        user_traits(snapshot)[["email_domain", "is_personal_domain"]], on="user"
    )
    known = members[members["email_domain"].notna()]
    personal = known["is_personal_domain"].fillna(False).astype(np.float64)
    share = personal.groupby(known["account"]).mean()
    return share.reindex(np.arange(snapshot.size)).to_numpy(np.float64)


def compute(snapshot: Snapshot, columns: dict[str, object]) -> dict[str, np.ndarray]:
    """Return the intent columns for every account of ``snapshot``."""
    result: dict[str, np.ndarray] = {}
    for page in PAGES:
        role = f"page_{page}"
        result[f"{page}_visits_90d"] = snapshot.window_sum(role, LAST_90)
        result[f"days_since_{page}_visit"] = days_ago(snapshot.day, snapshot.last_day[role])
    result["admin_changes_90d"] = snapshot.window_sum("admin_change", LAST_90)
    result["days_since_admin_change"] = days_ago(snapshot.day, snapshot.last_day["admin_change"])
    workspaces = np.bincount(
        snapshot.workspace_accounts["account"].to_numpy(), minlength=snapshot.size
    )
    result["workspaces"] = workspaces.astype(np.float64)
    result["personal_email_share"] = personal_email_share(snapshot)
    result["plan"] = highest_plan(snapshot)
    return result
