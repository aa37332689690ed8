"""PQA rules: which accounts qualify, which rules fire and the reasons they give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.pqa_rules import (
    evaluate_rules,
    fire_rules,
    first_pqa_dates,
    label_accounts,
    reason_text,
)
from features.tables import tables_from_records
from pqa.config import PQARules, RuleCondition, parse_config

D = pd.Timestamp("2025-03-01", tz="UTC")


def rules(**groups) -> PQARules:
    return PQARules.model_validate(groups)


def frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(n)],
            "as_of": pd.DatetimeIndex([D] * n),
            **columns,
        }
    )


SEVEN = {
    "name": "seven",
    "feature": "active_users_28d",
    "op": ">=",
    "value": 7,
    "reason": "{value:.0f} active users",
}
SECURITY = {
    "name": "security",
    "feature": "days_since_security_visit",
    "op": "<=",
    "value": 30,
    "reason": "security page {value:.0f} days ago",
}
VOLUME = {"name": "volume", "feature": "value_events_28d", "op": ">=", "value": 400}


def test_all_of_and_at_least_min_any_must_hold():
    data = frame(
        active_users_28d=[7.0, 9.0, 3.0, 8.0],
        days_since_security_visit=[5.0, 60.0, 1.0, 10.0],
        value_events_28d=[0.0, 0.0, 900.0, 500.0],
    )
    result = evaluate_rules(data, rules(all_of=[SEVEN], any_of=[SECURITY, VOLUME], min_any=1))
    assert result["pqa"].tolist() == [True, False, False, True]
    result = evaluate_rules(data, rules(all_of=[SEVEN], any_of=[SECURITY, VOLUME], min_any=2))
    assert result["pqa"].tolist() == [False, False, False, True]


def test_rules_on_plain_arrays_fire_like_on_a_frame():
    # the HTTP service passes numpy columns, with NaN for an unknown value
    columns = {
        "active_users_28d": np.array([7.0, 9.0, np.nan]),
        "days_since_security_visit": np.array([5.0, np.nan, 1.0]),
        "value_events_28d": np.array([0.0, 450.0, 900.0]),
    }

    qualified, fired = fire_rules(columns, rules(all_of=[SEVEN], any_of=[SECURITY, VOLUME]), 3)

    assert qualified.tolist() == [True, True, False]
    assert [[r["name"] for r in f] for f in fired] == [
        ["seven", "security"],
        ["seven", "volume"],
        ["security", "volume"],
    ]
    assert fired[0][1]["reason"] == "security page 5 days ago"


def test_fired_rules_carry_value_and_formatted_reason():
    data = frame(active_users_28d=[12.0], days_since_security_visit=[4.0], value_events_28d=[1.0])
    result = evaluate_rules(data, rules(all_of=[SEVEN], any_of=[SECURITY, VOLUME]))
    assert result.loc[0, "fired_rules"] == [
        {
            "name": "seven",
            "feature": "active_users_28d",
            "value": 12.0,
            "reason": "12 active users",
        },
        {
            "name": "security",
            "feature": "days_since_security_visit",
            "value": 4.0,
            "reason": "security page 4 days ago",
        },
    ]


def test_rules_that_hold_are_listed_for_accounts_that_are_not_pqas():
    data = frame(active_users_28d=[2.0], days_since_security_visit=[3.0], value_events_28d=[0.0])
    result = evaluate_rules(data, rules(all_of=[SEVEN], any_of=[SECURITY]))
    assert not result.loc[0, "pqa"]
    assert [r["name"] for r in result.loc[0, "fired_rules"]] == ["security"]


@pytest.mark.parametrize("op", [">=", ">", "<=", "<", "==", "!="])
def test_missing_value_never_fires_whatever_the_operator(op):
    rule = {"name": "r", "feature": "days_since_security_visit", "op": op, "value": 30}
    result = evaluate_rules(frame(days_since_security_visit=[np.nan]), rules(all_of=[rule]))
    assert not result.loc[0, "pqa"]
    assert result.loc[0, "fired_rules"] == []


def test_categorical_and_boolean_rules_compare_equal():
    data = frame(plan=["pro", "free"], has_decision_maker=[True, False])
    result = evaluate_rules(
        data,
        rules(
            all_of=[
                {"name": "paid", "feature": "plan", "op": "!=", "value": "free"},
                {"name": "dm", "feature": "has_decision_maker", "op": "==", "value": True},
            ]
        ),
    )
    assert result["pqa"].tolist() == [True, False]


def test_no_rules_means_every_account_qualifies():
    result = evaluate_rules(frame(active_users_28d=[1.0, 0.0]), rules())
    assert result["pqa"].tolist() == [True, True]


def test_rule_on_a_missing_column_names_the_feature():
    with pytest.raises(ValueError, match="'active_users_28d'"):
        evaluate_rules(frame(other=[1.0]), rules(all_of=[SEVEN]))


def test_reason_may_show_the_date_carried_beside_the_value():
    rule = RuleCondition(
        name="spike",
        feature="max_users_added_in_day_90d",
        op=">=",
        value=10,
        reason="{value:.0f} users added on {date}",
    )
    assert (
        reason_text(rule, 12.0, pd.Timestamp("2025-02-03", tz="UTC"))
        == "12 users added on 2025-02-03"
    )


def test_reason_that_does_not_fit_the_value_falls_back_to_the_condition():
    rule = RuleCondition(name="p", feature="plan", op="==", value="pro", reason="{value:.0f} plan")
    assert reason_text(rule, "pro") == "plan == pro (pro)"


def test_reason_without_template_states_the_condition():
    rule = RuleCondition(name="v", feature="value_events_28d", op=">=", value=400)
    assert reason_text(rule, 512.0) == "value_events_28d >= 400 (512)"


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


@pytest.fixture(scope="module")
def growing():
    """acme.io: u1 active from 2025-01-06 (a Monday); u2 joins activity on 2025-01-15.

    With the rule "2+ active users in 28 days", acme.io first qualifies at the Monday
    2025-01-20 (u2's first event, 01-15, is before it; the Monday 01-13 sees only u1).
    Events stop on 2025-02-01, so by 2025-03-03 nobody was active for 28 days.
    """
    events = [_event("u1", f"2025-01-{d:02d} 10:00") for d in (6, 7, 8, 20, 21)]
    events += [_event("u2", "2025-01-15 10:00"), _event("u2", "2025-02-01 10:00")]
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
    return tables, config


def test_first_pqa_date_is_the_first_monday_qualifying(growing):
    tables, config = growing
    result = first_pqa_dates(tables, config, "2025-03-03")
    assert result.to_dict("records") == [
        {"account_id": "acme.io", "first_pqa_date": pd.Timestamp("2025-01-20", tz="UTC")}
    ]


def test_first_pqa_date_is_missing_before_the_account_qualifies(growing):
    tables, config = growing
    result = first_pqa_dates(tables, config, "2025-01-13")
    assert result["first_pqa_date"].isna().all()


def test_label_accounts_gives_status_reasons_and_history(growing):
    tables, config = growing
    result = label_accounts(tables, config, "2025-03-03")
    assert list(result.columns) == [
        "account_id",
        "as_of",
        "pqa",
        "fired_rules",
        "first_pqa_date",
        "becomes_pqa_within_horizon",
    ]
    row = result.iloc[0]
    assert not row["pqa"]  # nobody active in the 28 days before 03-03
    assert row["first_pqa_date"] == pd.Timestamp("2025-01-20", tz="UTC")
    assert pd.isna(row["becomes_pqa_within_horizon"])  # events end before the horizon


def test_label_accounts_sees_the_account_becoming_a_pqa_within_the_horizon(growing):
    tables, config = growing
    result = label_accounts(tables, config, "2025-01-13")
    row = result.iloc[0]
    assert not row["pqa"]
    assert bool(row["becomes_pqa_within_horizon"])  # the Monday 01-20 is within 14 days
    assert [r["name"] for r in row["fired_rules"]] == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, "visited the security page 1 day ago"), (4.0, "visited the security page 4 days ago")],
    ids=["singular", "plural"],
)
def test_reason_plural_ending_agrees_with_the_value(value, expected):
    rule = RuleCondition(
        name="security",
        feature="days_since_security_visit",
        op="<=",
        value=30,
        reason="visited the security page {value:.0f} day{s} ago",
    )
    assert reason_text(rule, value) == expected
