"""Properties of the feature snapshots that must hold for any events (hypothesis)."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.snapshots import compute_features
from features.tables import tables_from_records
from pqa.config import load_config

D = pd.Timestamp("2025-03-01", tz="UTC")
CONFIG = load_config()
START = pd.Timestamp("2024-11-01", tz="UTC")

TRACK = [
    ("Task Completed", "value"),
    ("Comment Added", "collaboration"),
    ("Invite Sent", "invite"),
    ("Role Changed", "admin_change"),
    ("Account Added User", "user_added"),
    ("Search", None),
]
PAGES = [("/pricing", "page_pricing"), ("/security", "page_security"), ("/docs", None)]

GROUPS = [
    {"workspace_id": "w1", "user_id": "u1", "timestamp": "2024-11-01", "plan": "free"},
    {"workspace_id": "w1", "user_id": "u2", "timestamp": "2024-12-20", "plan": "pro"},
    {"workspace_id": "w2", "user_id": "u3", "timestamp": "2025-01-05", "employees": 80.0},
    {"workspace_id": "w3", "user_id": "u4", "timestamp": "2025-02-10"},
]
IDENTITIES = [
    {
        "user_id": "u1",
        "timestamp": "2024-11-01",
        "email_domain": "acme.io",
        "is_personal_domain": False,
        "title": "CTO",
    },
    {
        "user_id": "u2",
        "timestamp": "2024-12-20",
        "email_domain": "acme.io",
        "is_personal_domain": False,
        "department": "Sales",
        "use_case": "crm",
    },
    {
        "user_id": "u3",
        "timestamp": "2025-01-05",
        "email_domain": "beta.com",
        "is_personal_domain": False,
        "company_size": "11-50",
    },
    {
        "user_id": "u4",
        "timestamp": "2025-02-10",
        "email_domain": "gmail.com",
        "is_personal_domain": True,
    },
]


@st.composite
def events(draw, earliest: int = 0, latest: int = 150, min_size: int = 0):
    """Events between START + earliest and START + latest days (exclusive)."""
    count = draw(st.integers(min_value=min_size, max_value=25))
    rows = []
    for _ in range(count):
        when = START + pd.Timedelta(
            minutes=draw(st.integers(min_value=earliest * 1440, max_value=latest * 1440 - 1))
        )
        delay = pd.Timedelta(days=draw(st.sampled_from([0, 0, 0, 1, 20])))
        user = draw(st.sampled_from(["u1", "u2", "u3", "u4", "u5"]))
        workspace = draw(st.sampled_from(["w1", "w2", "w3", None]))
        if draw(st.booleans()):
            name, role = draw(st.sampled_from(TRACK))
            kind, path = "track", None
        else:
            path, role = draw(st.sampled_from(PAGES))
            kind, name = "page", path.strip("/")
        rows.append(
            {
                "type": kind,
                "timestamp": when,
                "user_id": user,
                "attributed_at": when + delay,
                "workspace_id": workspace,
                "event": name,
                "path": path,
                "role": role,
            }
        )
    return rows


def build(rows: list[dict]):
    numbered = [{"message_id": f"m{i}", **row} for i, row in enumerate(rows)]
    return tables_from_records(events=numbered, groups=GROUPS, identities=IDENTITIES)


DAYS_TO_D = (D - START).days
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(before=events(latest=DAYS_TO_D, min_size=1), after=events(earliest=DAYS_TO_D))
def test_events_dated_at_or_after_as_of_never_change_features(before, after):
    expected = compute_features(build(before), CONFIG, [D])
    actual = compute_features(build(before + after), CONFIG, [D])
    pd.testing.assert_frame_equal(actual, expected)


@SETTINGS
@given(
    rows=events(min_size=1),
    seed=st.randoms(use_true_random=False),
    parts=st.integers(min_value=1, max_value=4),
)
def test_features_do_not_depend_on_row_order_or_splitting(rows, seed, parts):
    dates = [D, D + pd.Timedelta(days=31)]
    expected = compute_features(build(rows), CONFIG, dates)
    shuffled = list(rows)
    seed.shuffle(shuffled)
    tables = build(shuffled)
    pieces = [tables.events.iloc[i::parts] for i in range(parts)]
    split = tables.replace(events=pd.concat(pieces, ignore_index=True))
    actual = compute_features(split, CONFIG, dates)
    pd.testing.assert_frame_equal(actual, expected)


@SETTINGS
@given(rows=events(min_size=1))
def test_counts_are_never_negative_and_windows_are_nested(rows):
    frame = compute_features(build(rows), CONFIG, [D])
    assert (frame["active_users_7d"] <= frame["active_users_28d"]).all()
    assert (frame["active_users_28d"] <= frame["active_users_90d"]).all()
    assert (frame["active_users_90d"] <= frame["total_users"]).all()
    assert (frame["value_events_28d"] <= frame["value_events_90d"]).all()
    assert ((frame["stickiness"] >= 0) & (frame["stickiness"] <= 1)).all()
    assert (frame["active_days_28d"] <= 28).all()
