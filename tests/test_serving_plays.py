"""Plays: each account on crafted features gets the play the precedence gives it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pqa.config import load_config
from serving.plays import PLAY_ORDER, choose_plays, play_owners

VELOCITY_RULE = {
    "name": "velocity_spike",
    "feature": "max_users_added_in_day_90d",
    "value": 12.0,
    "reason": "12 users added in one day",
}
SECURITY_RULE = {
    "name": "security_interest",
    "feature": "days_since_security_visit",
    "value": 3.0,
    "reason": "visited the security page 3 days ago",
}


def account(**overrides):
    """A mature PQA with a buyer, one workspace, no intent and usual activity."""
    row = {
        "pqa": True,
        "fired_rules": [],
        "tenure_days": 200.0,
        "has_decision_maker": True,
        "days_since_security_visit": math.nan,
        "days_since_legal_visit": math.nan,
        "workspaces": 1.0,
        "activity_spike_score": 1.0,
    }
    row.update(overrides)
    return row


CASES = {
    "young-non-pqa-waits": (account(pqa=False, tenure_days=10.0), "wait"),
    "young-pqa-is-not-left-waiting": (account(tenure_days=10.0), "enterprise_conversation"),
    "mature-non-pqa-nurtured": (account(pqa=False, tenure_days=30.0), "nurture"),
    "unknown-tenure-non-pqa-nurtured": (account(pqa=False, tenure_days=math.nan), "nurture"),
    "pqa-without-decision-maker-find-buyer": (
        account(has_decision_maker=False, workspaces=3.0, days_since_security_visit=2.0),
        "find_buyer",
    ),
    "pqa-unknown-decision-maker-find-buyer": (account(has_decision_maker=None), "find_buyer"),
    "security-visit-and-silos-consolidate": (
        account(
            days_since_security_visit=5.0,
            workspaces=2.0,
            activity_spike_score=9.0,
            fired_rules=[SECURITY_RULE, VELOCITY_RULE],
        ),
        "consolidate_secure",
    ),
    "legal-visit-and-silos-consolidate": (
        account(days_since_legal_visit=30.0, workspaces=4.0),
        "consolidate_secure",
    ),
    "old-security-visit-is-not-interest": (
        account(days_since_security_visit=31.0, workspaces=4.0),
        "enterprise_conversation",
    ),
    "security-visit-one-workspace-no-consolidation": (
        account(days_since_security_visit=1.0, workspaces=1.0),
        "enterprise_conversation",
    ),
    "velocity-rule-value-discovery": (account(fired_rules=[VELOCITY_RULE]), "value_discovery"),
    "activity-spike-value-discovery": (account(activity_spike_score=3.0), "value_discovery"),
    "small-spike-enterprise-conversation": (
        account(activity_spike_score=2.9, fired_rules=[SECURITY_RULE]),
        "enterprise_conversation",
    ),
}


@pytest.mark.parametrize(("row", "expected"), list(CASES.values()), ids=list(CASES))
def test_play_follows_precedence(row, expected):
    frame = pd.DataFrame([row])

    plays = choose_plays(frame, young_account_days=30)

    assert plays.tolist() == [expected]


def test_plays_are_vectorized_over_a_mapping_of_arrays():
    rows = [row for row, _ in CASES.values()]
    columns = {key: [row[key] for row in rows] for key in rows[0]}

    plays = choose_plays(columns, young_account_days=30)

    assert plays.tolist() == [expected for _, expected in CASES.values()]


def test_bool_column_with_numpy_dtype_is_read_as_flags():
    frame = pd.DataFrame([account(), account(pqa=False)])
    frame["pqa"] = frame["pqa"].astype(bool)

    assert choose_plays(frame, 30).tolist() == ["enterprise_conversation", "nurture"]


def test_owners_come_from_the_config():
    scoring = load_config().scoring

    owners = play_owners(np.array(list(PLAY_ORDER)), scoring)

    assert owners.tolist() == ["none", "product", "marketing", "sales", "sales", "sales"]


def test_missing_play_in_config_is_named():
    scoring = load_config().scoring.model_copy(update={"plays": {}})

    with pytest.raises(ValueError, match=r"no entry for play\(s\) \['wait'\]"):
        play_owners(np.array(["wait"]), scoring)
