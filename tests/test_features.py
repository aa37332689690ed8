"""Snapshot features on a small hand-built world; expected values worked out by hand.

The world at as-of date D = 2025-03-01:

acme.io (workspaces w1, w2)
  u1 (VP Engineering)  joined w1 2024-12-01; value 02-28, comment 02-27, invite 02-10,
                       pricing page 02-20 without workspace (goes to w1, u1's first)
  u2 (manager, Engineering, planning, 51-200) joined w1 2025-01-10; value 02-25, 01-15
  u3 (Sales, planning) joined w1 2024-12-01; value 2024-12-15
  u4 (reporting)       joined w2 2025-02-26; "Project Created" 02-26
beta.com (workspace w3)
  u5 (Engineer)        joined w3 2025-01-01; value 02-28; security page 02-01 stitched on
                       02-05; pricing page 02-20 stitched only on 03-02 (after D)
  u6 (gmail.com)       joined w3 2025-02-27; one event at D itself (ignored)
delta.org (workspace w4): u7 joined, never active -> no row
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.activity import daily_activity
from features.catalog import AUXILIARY_COLUMNS, FEATURES, KEY_COLUMNS
from features.profile import seniority_of, size_band, size_midpoint
from features.snapshots import as_of_range, compute_features
from features.tables import tables_from_records
from pqa.config import load_config

D = pd.Timestamp("2025-03-01", tz="UTC")


def event(
    user,
    workspace,
    when,
    name="Task Completed",
    role="value",
    kind="track",
    attributed=None,
    path=None,
    anonymous=None,
):
    return {
        "message_id": f"{user}-{when}-{name}-{attributed}",
        "type": kind,
        "timestamp": when,
        "user_id": user,
        "anonymous_id": anonymous,
        "attributed_at": attributed or when,
        "workspace_id": workspace,
        "event": name,
        "path": path,
        "role": role,
    }


def page(user, workspace, when, role, path, attributed=None):
    return event(
        user,
        workspace,
        when,
        name=path.strip("/").title(),
        role=role,
        kind="page",
        attributed=attributed,
        path=path,
    )


def member(workspace, user, when, **traits):
    return {"workspace_id": workspace, "user_id": user, "timestamp": when, **traits}


def identity(user, domain, personal=False, **traits):
    return {
        "user_id": user,
        "timestamp": "2024-11-30",
        "email_domain": domain,
        "is_personal_domain": personal,
        **traits,
    }


EVENTS = [
    event("u1", "w1", "2025-02-28 09:00"),
    event("u1", "w1", "2025-02-27 10:00", "Comment Added", "collaboration"),
    event("u1", "w1", "2025-02-10 11:00", "Invite Sent", "invite"),
    page("u1", None, "2025-02-20 12:00", "page_pricing", "/pricing"),
    event("u2", "w1", "2025-02-25 09:00"),
    event("u2", "w1", "2025-01-15 09:00"),
    event("u3", "w1", "2024-12-15 09:00"),
    event("u4", "w2", "2025-02-26 09:00", "Project Created"),
    event("u5", "w3", "2025-02-28 15:00"),
    page(
        "u5", None, "2025-02-01 08:00", "page_security", "/security", attributed="2025-02-05 08:00"
    ),
    page("u5", None, "2025-02-20 08:00", "page_pricing", "/pricing", attributed="2025-03-02 08:00"),
    event("u6", "w3", "2025-03-01 00:00"),
    event(None, None, "2025-02-20 08:00", anonymous="a1"),
]
GROUPS = [
    member("w1", "u1", "2024-12-01"),
    member("w1", "u2", "2025-01-10"),
    member("w1", "u3", "2024-12-01"),
    member("w2", "u4", "2025-02-26"),
    member("w3", "u5", "2025-01-01", plan="free"),
    member("w3", "u6", "2025-02-27", plan="pro"),
    member("w4", "u7", "2025-01-01"),
]
IDENTITIES = [
    identity("u1", "acme.io", title="VP Engineering"),
    identity(
        "u2",
        "acme.io",
        seniority="manager",
        department="Engineering",
        use_case="planning",
        company_size="51-200",
    ),
    identity("u3", "acme.io", department="Sales ", use_case="planning"),
    identity("u4", "acme.io", use_case="reporting"),
    identity("u5", "beta.com", title="Engineer"),
    identity("u6", "gmail.com", personal=True),
    identity("u7", "delta.org"),
]


@pytest.fixture(scope="module")
def tables():
    return tables_from_records(events=EVENTS, groups=GROUPS, identities=IDENTITIES)


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def snapshot(tables, config):
    frame = compute_features(tables, config, [D])
    return frame.set_index("account_id")


ACME_EXPECTED = {
    "active_users_7d": 3,  # u1, u2, u4
    "active_users_28d": 3,
    "active_users_90d": 4,  # + u3 on 12-15
    "total_users": 4,
    "stickiness": 6 / 28 / 3,  # user-days: u1 x4, u2 x1, u4 x1
    "active_days_28d": 6,
    "value_events_28d": 3,
    "value_events_90d": 5,
    "value_events_per_user_28d": 1.0,
    "breadth_28d": 4,  # Task Completed, Comment Added, Invite Sent, Project Created
    "collaboration_events_28d": 1,
    "invites_28d": 1,
    "tenure_days": 76,  # 2024-12-15 -> 2025-03-01
    "active_users_wow_growth": 2.0,  # 3 against 1 (u1's page on 02-20)
    "active_users_mom_growth": 2.0,  # 3 against 1 (u2 on 01-15)
    "value_events_wow_growth": 3.0,  # 3 against 0: base of 1
    "value_events_mom_growth": 2.0,  # 3 against 1
    "users_added_28d": 1,  # u4
    "max_users_added_in_day_90d": 2,  # u1 and u3 on 2024-12-01
    "activity_spike_score": 10.0,  # 4 events / (4 events over 10 weeks)
    "active_users_acceleration": 2.0,  # 2.0 now minus 0.0 (1 against 1) a month ago
    "employees": 125.5,
    "company_size_band": "51-200",
    "seniority_rank": 4,
    "has_decision_maker": True,
    "departments": 2,
    "dominant_use_case": "planning",
    "onboarding_answer_rate": 0.75,
    "industry": "unknown",
    "pricing_visits_90d": 1,
    "days_since_pricing_visit": 9,
    "security_visits_90d": 0,
    "days_since_security_visit": np.nan,
    "admin_changes_90d": 0,
    "days_since_admin_change": np.nan,
    "workspaces": 2,
    "personal_email_share": 0.0,
    "plan": "unknown",
    "adoption_stage": "team",
}

BETA_EXPECTED = {
    "active_users_7d": 1,
    "total_users": 2,  # u6 joined, not yet active
    "tenure_days": 28,
    "users_added_28d": 1,
    "security_visits_90d": 1,
    "days_since_security_visit": 28,
    "pricing_visits_90d": 0,  # stitched after D
    "days_since_pricing_visit": np.nan,
    "personal_email_share": 0.5,
    "seniority_rank": 1,
    "has_decision_maker": False,
    "plan": "pro",
    "workspaces": 1,
    "adoption_stage": "individual",
    "activity_spike_score": 3.0,  # 1 event against 1 event over the 3 weeks since 02-01
}


@pytest.mark.parametrize("feature", sorted(ACME_EXPECTED))
def test_acme_feature_matches_hand_computed_value(snapshot, feature):
    actual = snapshot.loc["acme.io", feature]
    expected = ACME_EXPECTED[feature]
    if isinstance(expected, str | bool):
        assert actual == expected
    else:
        np.testing.assert_allclose(actual, expected, equal_nan=True)


@pytest.mark.parametrize("feature", sorted(BETA_EXPECTED))
def test_beta_feature_matches_hand_computed_value(snapshot, feature):
    actual = snapshot.loc["beta.com", feature]
    expected = BETA_EXPECTED[feature]
    if isinstance(expected, str | bool):
        assert actual == expected
    else:
        np.testing.assert_allclose(actual, expected, equal_nan=True)


def test_busiest_day_is_carried_beside_users_added(snapshot):
    assert snapshot.loc["acme.io", "max_users_added_day_90d"] == pd.Timestamp(
        "2024-12-01", tz="UTC"
    )


def test_only_accounts_with_activity_get_a_row(snapshot):
    assert sorted(snapshot.index) == ["acme.io", "beta.com"]


def test_columns_and_dtypes_follow_the_catalog(tables, config):
    frame = compute_features(tables, config, [D])
    assert list(frame.columns) == [*KEY_COLUMNS, *FEATURES, *AUXILIARY_COLUMNS]
    for name, spec in FEATURES.items():
        dtype = frame[name].dtype
        if spec.kind == "numeric":
            assert dtype == np.float64, name
        elif spec.kind == "boolean":
            assert pd.api.types.is_bool_dtype(dtype), name
        else:
            assert pd.api.types.is_string_dtype(dtype), name
    assert str(frame["as_of"].dtype) == "datetime64[us, UTC]"


def test_events_stitched_after_as_of_count_from_the_stitching_day(tables, config):
    frame = compute_features(tables, config, [D, date(2025, 3, 3)]).set_index(
        ["account_id", "as_of"]
    )
    assert frame.loc[("beta.com", D), "pricing_visits_90d"] == 0
    later = pd.Timestamp("2025-03-03", tz="UTC")
    assert frame.loc[("beta.com", later), "pricing_visits_90d"] == 1
    assert frame.loc[("beta.com", later), "days_since_pricing_visit"] == 11


def test_events_at_or_after_as_of_are_ignored(tables, config):
    later_events = [
        event("u1", "w1", "2025-03-01 00:00"),
        event("u3", "w1", "2025-03-05 00:00", "Comment Added", "collaboration"),
    ]
    more = tables.replace(events=tables_from_records(events=EVENTS + later_events).events)
    pd.testing.assert_frame_equal(
        compute_features(tables, config, [D]), compute_features(more, config, [D])
    )


def test_rows_are_sorted_by_as_of_then_account(tables, config):
    frame = compute_features(tables, config, [date(2025, 3, 3), D])
    keys = list(zip(frame["as_of"], frame["account_id"], strict=True))
    assert keys == sorted(keys)


def test_account_before_its_first_activity_has_no_row(tables, config):
    frame = compute_features(tables, config, [date(2024, 12, 10)])
    assert frame.empty
    assert list(frame.columns) == [*KEY_COLUMNS, *FEATURES, *AUXILIARY_COLUMNS]


def test_non_midnight_as_of_is_rejected(tables, config):
    with pytest.raises(ValueError, match="UTC midnights"):
        compute_features(tables, config, [pd.Timestamp("2025-03-01 12:00", tz="UTC")])


def test_no_dates_is_rejected(tables, config):
    with pytest.raises(ValueError, match="at least one as-of date"):
        compute_features(tables, config, [])


def test_daily_activity_folds_events_per_user_workspace_and_day(tables, config):
    activity = daily_activity(tables, config)
    u1 = activity[(activity["user_id"] == "u1") & (activity["workspace_id"] == "w1")]
    assert len(u1) == 3  # 02-10, 02-27, 02-28
    assert activity["events"].sum() == 12  # every track/page event with a user
    names = activity.attrs["event_names"]
    assert names[0] == "Task Completed"  # the most frequent name gets bit 0
    stitched = activity[activity["available_day"] > activity["day"]]
    assert sorted(stitched["available_day"].dt.strftime("%m-%d")) == ["02-05", "03-02"]


def test_anonymous_events_never_stitched_are_left_out(tables, config):
    activity = daily_activity(tables, config)
    assert activity["user_id"].notna().all()


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("VP Engineering", "vp"),
        ("Vice President, Sales", "vp"),
        ("Head of Data", "director"),
        ("Director of Operations", "director"),
        ("CTO", "c-level"),
        ("Co-Founder", "c-level"),
        ("Chief Revenue Officer", "c-level"),
        ("Engineering Manager", "manager"),
        ("Tech Lead", "manager"),
        ("Data Analyst", "ic"),
        ("manager", "manager"),
        (None, "unknown"),
        ("", "unknown"),
    ],
    ids=lambda v: str(v),
)
def test_seniority_is_read_from_answer_or_title(text, level):
    assert seniority_of(text) == level


@pytest.mark.parametrize(
    ("answer", "employees"),
    [
        ("1-10", 5.5),
        ("51-200", 125.5),
        ("1001+", 1501.5),
        ("1,001-5,000", 3000.5),
        ("many", np.nan),
        (None, np.nan),
    ],
)
def test_company_size_answer_gives_its_midpoint(answer, employees):
    np.testing.assert_allclose(size_midpoint(answer), employees, equal_nan=True)


def test_size_bands_have_inclusive_upper_bounds():
    bands = size_band(np.array([1, 10, 11, 50, 51, 200, 201, 1000, 1001, np.nan]))
    assert list(bands) == [
        "1-10",
        "1-10",
        "11-50",
        "11-50",
        "51-200",
        "51-200",
        "201-1000",
        "201-1000",
        "1001+",
        "unknown",
    ]


def test_crm_employees_and_industry_win_over_answers(tables, config):
    crm = tables_from_records(
        crm_accounts=[
            {"crm_account_id": "c1", "domain": "acme.io", "employees": 2500, "industry": "Software"}
        ]
    ).crm_accounts
    frame = compute_features(tables.replace(crm_accounts=crm), config, [D])
    acme = frame.set_index("account_id").loc["acme.io"]
    assert acme["employees"] == 2500
    assert acme["company_size_band"] == "1001+"
    assert acme["industry"] == "Software"


def test_monthly_range_gives_month_starts():
    dates = as_of_range(date(2025, 1, 15), date(2025, 4, 1), every="month")
    assert [d.strftime("%Y-%m-%d") for d in dates] == ["2025-02-01", "2025-03-01", "2025-04-01"]
    assert all(str(d.tz) == "UTC" for d in dates)


def test_weekly_range_gives_mondays():
    dates = as_of_range(date(2025, 3, 1), date(2025, 3, 17), every="week")
    assert [d.strftime("%Y-%m-%d") for d in dates] == ["2025-03-03", "2025-03-10", "2025-03-17"]


def test_range_rejects_other_periods():
    with pytest.raises(ValueError, match="'month' or 'week'"):
        as_of_range(date(2025, 1, 1), date(2025, 2, 1), every="day")


def test_folding_in_slices_gives_the_same_activity(tables, config, monkeypatch):
    whole = daily_activity(tables, config)
    monkeypatch.setattr("features.activity.CHUNK_EVENTS", 3)
    sliced = daily_activity(tables, config)
    pd.testing.assert_frame_equal(sliced, whole)
    assert sliced.attrs == whole.attrs
