"""Which account (company) each workspace and each user belongs to, at an as-of date.

An account is a company, named by the lowercase corporate email domain of its users
(``acme.io``). Users join workspaces through Segment ``group`` calls. At as-of date D a
workspace belongs to the most common corporate email domain among its members known
before D (ties broken alphabetically); a workspace without any member with a corporate
domain is an account of its own, ``workspace:<workspace_id>``. Several workspaces of one
domain form one account.

Point in time: only ``group`` and ``identify`` rows with a timestamp strictly before D are
used. A user's email domain at D is the one of their latest identify call before D that
carried an email.

A user with events but no group call belongs to no workspace, so their events without a
workspace have no account (the feature pipeline drops them). Events without a workspace
from a user who is a member of a workspace belong to the user's first workspace (the
membership with the earliest ``joined_at``; see :func:`user_accounts`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import pandas as pd

from features.tables import Tables

logger = logging.getLogger(__name__)

WORKSPACE_ACCOUNT_PREFIX = "workspace:"
"""Prefix of the account id of a workspace that has no corporate-domain member."""


def _as_of_timestamp(as_of: date | datetime | pd.Timestamp | str | None) -> pd.Timestamp | None:
    """Return ``as_of`` as a tz-aware UTC Timestamp (a naive value is read as UTC)."""
    if as_of is None:
        return None
    try:
        stamp = pd.Timestamp(as_of)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"as_of must be a date, datetime or ISO date string; got {as_of!r}"
        ) from err
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _before(frame: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
    if as_of is None:
        return frame
    return frame[frame["timestamp"] < as_of]


def _memberships(tables: Tables, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Return one row per (workspace_id, user_id) with the first join time before as_of."""
    groups = _before(tables.groups, as_of)
    groups = groups[groups["workspace_id"].notna() & groups["user_id"].notna()]
    members = groups.groupby(["workspace_id", "user_id"], as_index=False, sort=False)[
        "timestamp"
    ].min()
    return members.rename(columns={"timestamp": "joined_at"})


def _corporate_domains(tables: Tables, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Return ``user_id, email_domain`` for users whose latest known email is corporate."""
    identities = _before(tables.identities, as_of)
    identities = identities[identities["user_id"].notna() & identities["email_domain"].notna()]
    latest = identities.sort_values(["user_id", "timestamp"], kind="stable").drop_duplicates(
        "user_id", keep="last"
    )
    personal = latest["is_personal_domain"].fillna(False).astype(bool)
    return latest.loc[~personal, ["user_id", "email_domain"]]


def _workspace_ids(tables: Tables, members: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Index:
    """Every workspace known before as_of: from memberships and from events' workspace."""
    events = _before(tables.events, as_of)
    seen = pd.concat(
        [members["workspace_id"], events["workspace_id"].dropna()], ignore_index=True
    ).astype("str")
    return pd.Index(seen.unique(), name="workspace_id").sort_values()


def _resolve(tables: Tables, as_of: pd.Timestamp | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    members = _memberships(tables, as_of)
    domains = _corporate_domains(tables, as_of)

    votes = members.merge(domains, on="user_id", how="inner")
    counts = votes.groupby(["workspace_id", "email_domain"], as_index=False).size()
    winners = counts.sort_values(
        ["workspace_id", "size", "email_domain"], ascending=[True, False, True], kind="stable"
    ).drop_duplicates("workspace_id")

    workspaces = _workspace_ids(tables, members, as_of)
    domain = winners.set_index("workspace_id")["email_domain"].reindex(workspaces)
    account = domain.where(domain.notna(), WORKSPACE_ACCOUNT_PREFIX + workspaces.to_series())
    resolved = pd.DataFrame(
        {"workspace_id": workspaces.astype("str"), "account_id": account.astype("str").values}
    )
    return resolved, members


def resolve_accounts(
    tables: Tables, as_of: date | datetime | pd.Timestamp | str | None = None
) -> pd.DataFrame:
    """Map every workspace known before ``as_of`` to its account.

    Parameters
    ----------
    tables : Tables
        Normalized tables; ``groups``, ``identities`` and ``events`` are read.
    as_of : date, datetime, Timestamp, str or None, default None
        Only rows timestamped strictly before this moment are used (a naive value is
        read as UTC). None uses all data.

    Returns
    -------
    DataFrame
        Columns ``workspace_id, account_id``, one row per workspace, sorted by
        ``workspace_id``. Workspaces are those with a group call or an event before
        ``as_of``; one without a corporate-domain member is ``workspace:<workspace_id>``.
    """
    resolved, _ = _resolve(tables, _as_of_timestamp(as_of))
    logger.debug(
        "Resolved %d workspaces to %d accounts", len(resolved), resolved["account_id"].nunique()
    )
    return resolved


def user_accounts(
    tables: Tables, as_of: date | datetime | pd.Timestamp | str | None = None
) -> pd.DataFrame:
    """Map every user to the workspaces they joined before ``as_of`` and their accounts.

    Parameters
    ----------
    tables : Tables
        Normalized tables; ``groups``, ``identities`` and ``events`` are read.
    as_of : date, datetime, Timestamp, str or None, default None
        Only rows timestamped strictly before this moment are used. None uses all data.

    Returns
    -------
    DataFrame
        Columns ``user_id, workspace_id, account_id, joined_at``: one row per membership
        (a user in several workspaces has several rows), ``joined_at`` being the user's
        first group call to that workspace. Sorted by ``user_id, joined_at,
        workspace_id``, so the first row of a user is the user's first workspace, the one
        their events without a workspace belong to. Users without a group call before
        ``as_of`` are absent.
    """
    resolved, members = _resolve(tables, _as_of_timestamp(as_of))
    joined = members.merge(resolved, on="workspace_id", how="left")
    joined = joined.sort_values(["user_id", "joined_at", "workspace_id"], kind="stable")
    columns = ["user_id", "workspace_id", "account_id", "joined_at"]
    return joined[columns].reset_index(drop=True)
