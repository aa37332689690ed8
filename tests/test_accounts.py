"""Account resolution: workspaces and users to companies, point in time."""

from __future__ import annotations

import pandas as pd
import pytest

from features.accounts import resolve_accounts, user_accounts
from features.tables import tables_from_records


def ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def identity(user: str, domain: str, day: str, personal: bool = False) -> dict:
    return {
        "user_id": user,
        "timestamp": ts(day),
        "email_domain": domain,
        "is_personal_domain": personal,
    }


def member(workspace: str, user: str, day: str) -> dict:
    return {"workspace_id": workspace, "user_id": user, "timestamp": ts(day)}


def mapping(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["workspace_id"], frame["account_id"], strict=True))


@pytest.fixture
def world():
    """Four workspaces.

    w1: u1, u2 at acme.io            -> acme.io
    w2: u3 at acme.io                -> acme.io (second silo of the same company)
    w3: u4, u5 at gmail.com          -> workspace:w3 (no corporate member)
    w4: u6 beta.com, u7 beta.com, u8 acme.io, u9 gmail.com -> beta.com (2 votes to 1)
    """
    identities = [
        identity("u1", "acme.io", "2025-01-01"),
        identity("u2", "acme.io", "2025-01-01"),
        identity("u3", "acme.io", "2025-01-02"),
        identity("u4", "gmail.com", "2025-01-01", personal=True),
        identity("u5", "gmail.com", "2025-01-01", personal=True),
        identity("u6", "beta.com", "2025-01-01"),
        identity("u7", "beta.com", "2025-01-01"),
        identity("u8", "acme.io", "2025-01-01"),
        identity("u9", "gmail.com", "2025-01-01", personal=True),
    ]
    groups = [
        member("w1", "u1", "2025-01-01"),
        member("w1", "u2", "2025-01-02"),
        member("w2", "u3", "2025-01-03"),
        member("w3", "u4", "2025-01-01"),
        member("w3", "u5", "2025-01-01"),
        member("w4", "u6", "2025-01-01"),
        member("w4", "u7", "2025-01-01"),
        member("w4", "u8", "2025-01-01"),
        member("w4", "u9", "2025-01-01"),
    ]
    return tables_from_records(identities=identities, groups=groups)


def test_two_workspaces_of_one_domain_are_one_account(world):
    accounts = mapping(resolve_accounts(world))

    assert accounts["w1"] == "acme.io"
    assert accounts["w2"] == "acme.io"


def test_workspace_of_personal_emails_only_is_its_own_account(world):
    assert mapping(resolve_accounts(world))["w3"] == "workspace:w3"


def test_mixed_workspace_takes_the_majority_corporate_domain(world):
    assert mapping(resolve_accounts(world))["w4"] == "beta.com"


def test_resolution_returns_one_row_per_workspace_sorted(world):
    resolved = resolve_accounts(world)

    assert list(resolved.columns) == ["workspace_id", "account_id"]
    assert list(resolved["workspace_id"]) == ["w1", "w2", "w3", "w4"]


def test_tied_domains_resolve_alphabetically():
    tables = tables_from_records(
        identities=[
            identity("a", "zeta.com", "2025-01-01"),
            identity("b", "alpha.com", "2025-01-01"),
        ],
        groups=[member("w", "a", "2025-01-01"), member("w", "b", "2025-01-01")],
    )

    assert mapping(resolve_accounts(tables)) == {"w": "alpha.com"}


def test_member_identified_after_as_of_is_not_used():
    # At 2025-02-01 only u1 (beta.com) is known: u2 and u3 (acme.io) identify on 02-05.
    tables = tables_from_records(
        identities=[
            identity("u1", "beta.com", "2025-01-10"),
            identity("u2", "acme.io", "2025-02-05"),
            identity("u3", "acme.io", "2025-02-05"),
        ],
        groups=[
            member("w", "u1", "2025-01-10"),
            member("w", "u2", "2025-01-11"),
            member("w", "u3", "2025-01-12"),
        ],
    )

    assert mapping(resolve_accounts(tables, as_of=ts("2025-02-01"))) == {"w": "beta.com"}
    assert mapping(resolve_accounts(tables, as_of=ts("2025-02-06"))) == {"w": "acme.io"}
    assert mapping(resolve_accounts(tables)) == {"w": "acme.io"}


def test_workspace_joined_after_as_of_is_absent():
    tables = tables_from_records(
        identities=[identity("u1", "acme.io", "2025-01-01")],
        groups=[member("w1", "u1", "2025-01-01"), member("w2", "u1", "2025-03-01")],
    )

    assert mapping(resolve_accounts(tables, as_of="2025-02-01")) == {"w1": "acme.io"}


def test_latest_email_before_as_of_decides_the_domain():
    # u1 moves from a personal address to acme.io on 01-20.
    tables = tables_from_records(
        identities=[
            identity("u1", "gmail.com", "2025-01-01", personal=True),
            identity("u1", "acme.io", "2025-01-20"),
        ],
        groups=[member("w", "u1", "2025-01-01")],
    )

    assert mapping(resolve_accounts(tables, as_of="2025-01-10")) == {"w": "workspace:w"}
    assert mapping(resolve_accounts(tables, as_of="2025-01-21")) == {"w": "acme.io"}


def test_workspace_seen_only_in_events_is_its_own_account():
    tables = tables_from_records(
        events=[
            {
                "message_id": "m1",
                "type": "track",
                "timestamp": ts("2025-01-01"),
                "workspace_id": "w9",
            }
        ]
    )

    assert mapping(resolve_accounts(tables)) == {"w9": "workspace:w9"}


def test_user_accounts_list_memberships_first_workspace_first(world):
    tables = world.replace(
        groups=pd.concat(
            [world.groups, tables_from_records(groups=[member("w1", "u4", "2024-12-01")]).groups],
            ignore_index=True,
        )
    )

    # u4 (gmail.com) joined w1 on 2024-12-01, before w3 on 2025-01-01; w1 stays acme.io.
    users = user_accounts(tables)
    u4 = users[users["user_id"] == "u4"]

    assert list(users.columns) == ["user_id", "workspace_id", "account_id", "joined_at"]
    assert list(u4["workspace_id"]) == ["w1", "w3"]
    assert list(u4["account_id"]) == ["acme.io", "workspace:w3"]
    assert list(u4["joined_at"]) == [ts("2024-12-01"), ts("2025-01-01")]


def test_user_accounts_omit_users_without_group_call_before_as_of(world):
    users = user_accounts(world, as_of="2025-01-02")

    # Group calls on 2025-01-01 only: u1, u4, u5, u6, u7, u8, u9.
    assert sorted(users["user_id"]) == ["u1", "u4", "u5", "u6", "u7", "u8", "u9"]
    assert dict(zip(users["user_id"], users["account_id"], strict=True))["u1"] == "acme.io"


def test_empty_tables_resolve_to_empty_frames():
    tables = tables_from_records()

    assert resolve_accounts(tables).empty
    assert list(user_accounts(tables).columns) == [
        "user_id",
        "workspace_id",
        "account_id",
        "joined_at",
    ]


def test_bad_as_of_names_the_parameter(world):
    with pytest.raises(ValueError, match="as_of must be a date"):
        resolve_accounts(world, as_of="not a date")
