"""Training labels: CRM conversions within the horizon and future PQA status."""

from __future__ import annotations

import pandas as pd
import pytest

from features.labels import conversion_labels, future_pqa_labels, future_snapshot_dates
from features.tables import tables_from_records
from pqa.config import parse_config

D = pd.Timestamp("2025-03-01", tz="UTC")


def opportunity(oid, domain, close, amount=20000.0, won=True, kind="New Business"):
    return {
        "opportunity_id": oid,
        "crm_account_id": f"c-{domain}",
        "domain": domain,
        "stage": "Closed Won" if won else "Closed Lost",
        "amount": amount,
        "close_date": close,
        "is_closed": True,
        "is_won": won,
        "type": kind,
    }


KEYS = pd.DataFrame(
    {
        "account_id": ["acme.io", "beta.com", "gamma.dev", "delta.org", "eps.net", "zeta.io"],
        "as_of": [D] * 6,
    }
)
OPPORTUNITIES = [
    opportunity("o1", "acme.io", "2025-03-01"),  # on D: within [D, D+90)
    opportunity("o2", "beta.com", "2025-05-30"),  # D + 90: just outside
    opportunity("o3", "gamma.dev", "2025-02-28"),  # the day before D: converted before
    opportunity("o4", "delta.org", "2025-04-01", amount=14999.0),  # too small
    opportunity("o5", "eps.net", "2025-04-01", won=False),  # lost
    opportunity("o6", "zeta.io", "2025-04-01", kind="Renewal"),
]


@pytest.fixture
def tables():
    events = [
        {
            "message_id": "m1",
            "type": "track",
            "timestamp": "2025-06-30",
            "user_id": "u1",
            "attributed_at": "2025-06-30",
            "workspace_id": "w1",
            "event": "Task Completed",
            "role": "value",
        }
    ]
    return tables_from_records(opportunities=OPPORTUNITIES, events=events)


def labels(tables, **conversion):
    config = parse_config({"conversion": {"min_amount": 15000, "horizon_days": 90, **conversion}})
    result = conversion_labels(tables, config, [D], accounts=KEYS)
    return result.set_index("account_id")


def test_won_opportunity_closing_within_the_horizon_converts(tables):
    result = labels(tables)
    assert result["converted"].to_dict() == {
        "acme.io": True,
        "beta.com": False,
        "delta.org": False,
        "eps.net": False,
        "gamma.dev": False,
        "zeta.io": True,
    }


def test_close_before_the_as_of_date_marks_converted_before(tables):
    result = labels(tables)
    assert result.index[result["converted_before"]].tolist() == ["gamma.dev"]


def test_opportunity_types_filter_when_given(tables):
    result = labels(tables, opportunity_types=["New Business"])
    assert not result.loc["zeta.io", "converted"]
    assert result.loc["acme.io", "converted"]


def test_horizon_complete_when_events_reach_its_last_day(tables):
    assert labels(tables)["horizon_complete"].all()  # events reach 06-30 >= 05-29
    short = tables.replace(
        events=tables.events.assign(timestamp=pd.Timestamp("2025-04-01", tz="UTC"))
    )
    assert not labels(short)["horizon_complete"].any()


def test_without_keys_labels_every_account_with_a_workspace(tables):
    groups = tables_from_records(
        groups=[{"workspace_id": "w1", "user_id": "u1", "timestamp": "2025-01-01"}]
    ).groups
    identities = tables_from_records(
        identities=[
            {
                "user_id": "u1",
                "timestamp": "2025-01-01",
                "email_domain": "acme.io",
                "is_personal_domain": False,
            }
        ]
    ).identities
    config = parse_config({})
    result = conversion_labels(tables.replace(groups=groups, identities=identities), config, [D])
    assert result[["account_id", "converted"]].to_dict("records") == [
        {"account_id": "acme.io", "converted": True}
    ]


def test_future_snapshots_are_the_mondays_after_as_of_within_the_horizon():
    dates = future_snapshot_dates(pd.Timestamp("2025-03-03", tz="UTC"), 14)  # a Monday
    assert [d.strftime("%m-%d") for d in dates] == ["03-10", "03-17"]


def _event(user, when):
    return {
        "message_id": f"{user}-{when}",
        "type": "track",
        "timestamp": when,
        "user_id": user,
        "attributed_at": when,
        "workspace_id": "w1",
        "event": "Task Completed",
        "role": "value",
    }


def test_account_becoming_a_pqa_within_the_horizon_is_labelled():
    """u1 active from 01-06; u2's first event on 01-15 makes 2 active users.

    Rule: 2+ active users in 28 days. At 01-13 acme.io is not a PQA, and at the
    Monday 01-20 it is: becomes_pqa_within_horizon. At 01-20 it already is one.
    """
    events = [
        _event("u1", "2025-01-06 10:00"),
        _event("u2", "2025-01-15 10:00"),
        _event("u1", "2025-03-01 10:00"),
    ]
    groups = [{"workspace_id": "w1", "user_id": u, "timestamp": "2025-01-01"} for u in ("u1", "u2")]
    identities = [
        {
            "user_id": u,
            "timestamp": "2025-01-01",
            "email_domain": "acme.io",
            "is_personal_domain": False,
        }
        for u in ("u1", "u2")
    ]
    tables = tables_from_records(events=events, groups=groups, identities=identities)
    config = parse_config(
        {
            "pqa_rules": {
                "all_of": [{"name": "two", "feature": "active_users_28d", "op": ">=", "value": 2}],
                "any_of": [],
            },
            "conversion": {"horizon_days": 14},
        }
    )
    result = future_pqa_labels(tables, config, ["2025-01-13", "2025-01-20"])
    assert result[["as_of", "is_pqa", "becomes_pqa_within_horizon", "horizon_complete"]].to_dict(
        "records"
    ) == [
        {
            "as_of": pd.Timestamp("2025-01-13", tz="UTC"),
            "is_pqa": False,
            "becomes_pqa_within_horizon": True,
            "horizon_complete": True,
        },
        {
            "as_of": pd.Timestamp("2025-01-20", tz="UTC"),
            "is_pqa": True,
            "becomes_pqa_within_horizon": False,
            "horizon_complete": True,
        },
    ]
