"""Reasons: top factors up and down, phrased with the account's own values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.catalog import FEATURES
from serving.reasons import phrase_feature, top_reasons

NAMES = [
    "active_users_28d",
    "days_since_security_visit",
    "max_users_added_in_day_90d",
    "has_decision_maker",
    "plan",
    "stickiness",
]


def columns(**overrides):
    row = {
        "active_users_28d": [14.0],
        "days_since_security_visit": [3.0],
        "max_users_added_in_day_90d": [22.0],
        "max_users_added_day_90d": [pd.Timestamp("2025-05-12", tz="UTC")],
        "has_decision_maker": [False],
        "plan": ["free"],
        "stickiness": [0.25],
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("feature", "value", "date", "expected"),
    [
        ("active_users_28d", 14.0, None, "14 active users in the last 28 days"),
        ("days_since_security_visit", 3.0, None, "visited the security page 3 days ago"),
        ("days_since_security_visit", 1.0, None, "visited the security page 1 day ago"),
        ("security_visits_90d", 1.0, None, "1 security page visit in the last 90 days"),
        ("security_visits_90d", 0.0, None, "0 security page visits in the last 90 days"),
        ("max_users_added_in_day_90d", 22.0, "2025-05-12", "22 users added on 2025-05-12"),
        ("stickiness", 0.25, None, "stickiness (DAU/MAU) of 25%"),
        ("active_users_wow_growth", -0.5, None, "active users changed -50% week over week"),
        ("plan", "team", None, "on the team plan"),
        ("has_decision_maker", True, None, "a decision-maker (director or above) uses the product"),
        (
            "has_decision_maker",
            False,
            None,
            "no sign that a decision-maker (director or above) uses the product",
        ),
        (
            "days_since_pricing_visit",
            math.nan,
            None,
            "no pricing page visit on record",
        ),
        ("industry", "unknown", None, "industry not known"),
        (
            "departments",
            math.nan,
            None,
            "Distinct departments among users' onboarding answers: none recorded",
        ),
    ],
    ids=[
        "count",
        "days-ago",
        "one-day-ago-is-singular",
        "one-visit-is-singular",
        "zero-visits-is-plural",
        "date-column",
        "percent",
        "signed-percent",
        "category",
        "true-flag",
        "false-flag",
        "missing-number",
        "unknown-category",
        "missing-without-own-words",
    ],
)
def test_phrase_uses_the_account_value(feature, value, date, expected):
    assert phrase_feature(FEATURES[feature], value, date) == expected


@pytest.mark.parametrize("spec", list(FEATURES.values()), ids=list(FEATURES))
def test_every_catalog_phrase_formats_a_typical_value(spec):
    value = {"numeric": 2.0, "categorical": "team", "boolean": True}[spec.kind]

    text = phrase_feature(spec, value, "2025-01-02")

    assert "{" not in text and text


def test_top_reasons_split_up_and_down_in_order_of_strength():
    contributions = np.array([[0.8, 1.2, 0.1, -0.9, -0.2, 0.0]])

    [reasons] = top_reasons(contributions, NAMES, columns(), count=2)

    assert [(r["feature"], r["direction"]) for r in reasons] == [
        ("days_since_security_visit", "up"),
        ("active_users_28d", "up"),
        ("has_decision_maker", "down"),
        ("plan", "down"),
    ]
    assert reasons[0] == {
        "feature": "days_since_security_visit",
        "direction": "up",
        "contribution": 1.2,
        "value": 3.0,
        "text": "visited the security page 3 days ago",
    }
    assert reasons[2]["value"] is False
    assert reasons[3]["text"] == "on the free plan"


def test_reason_with_date_column_names_the_day():
    contributions = np.array([[0.0, 0.0, 0.5, 0.0, 0.0, 0.0]])

    [reasons] = top_reasons(contributions, NAMES, columns(), count=3)

    assert [r["text"] for r in reasons] == ["22 users added on 2025-05-12"]


def test_zero_and_nan_contributions_give_no_reason():
    contributions = np.array([[0.0, math.nan, 0.0, 0.0, 0.0, 0.0]])

    assert top_reasons(contributions, NAMES, columns(), count=3) == [[]]


def test_reasons_for_several_accounts_use_each_row_value():
    cols = columns(
        active_users_28d=[14.0, 3.0],
        days_since_security_visit=[3.0, math.nan],
        max_users_added_in_day_90d=[22.0, 1.0],
        max_users_added_day_90d=[None, None],
        has_decision_maker=[False, True],
        plan=["free", "team"],
        stickiness=[0.25, 0.5],
    )
    contributions = np.array([[0.5, 0, 0, 0, 0, 0], [-0.5, -0.1, 0, 0, 0, 0]])

    texts = [[r["text"] for r in rs] for rs in top_reasons(contributions, NAMES, cols, 1)]

    assert texts == [
        ["14 active users in the last 28 days"],
        ["3 active users in the last 28 days"],
    ]


def test_contributions_and_names_must_agree():
    with pytest.raises(ValueError, match="contributions have 2 columns but 6 feature names"):
        top_reasons(np.zeros((1, 2)), NAMES, columns(), count=1)
