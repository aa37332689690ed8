"""Plays: the next step for an account and the team that owns it.

A play is chosen from the account's features and the PQA rules that fired, by the
first matching line of this precedence (names and owners come from
``cfg.scoring.plays``):

1. ``wait`` - not a PQA and young (``tenure_days`` below ``young_account_days``):
   no outreach, let the account find its value.
2. ``nurture`` - not a PQA: rising but below the bar; the product team shows paid
   features in the product.
3. ``find_buyer`` - a PQA with no decision-maker among its users: marketing works
   toward the executive buyer.
4. ``consolidate_secure`` - a PQA with security or legal interest (a security or
   legal page visit in the last ``RECENT_INTEREST_DAYS`` days) and several silos
   (``workspaces`` >= ``MIN_SILOS``): sales offers one secure workspace.
5. ``value_discovery`` - a PQA driven by a usage spike (a rule over a velocity
   feature fired, or ``activity_spike_score`` >= ``SPIKE_SCORE``): sales runs a
   pilot rather than asking for budget.
6. ``enterprise_conversation`` - any other PQA: a buyer is present, sales opens the
   enterprise conversation.

The functions accept a DataFrame or any mapping of column name to array-like, so
the HTTP service can call them on one account without building a DataFrame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from features.catalog import FEATURES
from pqa.config import Scoring

PLAY_ORDER = (
    "wait",
    "nurture",
    "find_buyer",
    "consolidate_secure",
    "value_discovery",
    "enterprise_conversation",
)
"""Every play, in order of precedence: the first whose condition holds is chosen."""

RECENT_INTEREST_DAYS = 30
"""A security or legal page visit at most this many days before the as-of date is recent."""

MIN_SILOS = 2
"""Workspaces under one domain from which the account counts as several silos."""

SPIKE_SCORE = 3.0
"""``activity_spike_score`` (last week against the usual week) that counts as a spike."""

Columns = Mapping[str, Any]


def _numeric(columns: Columns, name: str) -> np.ndarray:
    return np.asarray(columns[name], dtype=float)


def _flag(columns: Columns, name: str) -> np.ndarray:
    """Read a boolean column; missing values (None, NaN) count as False."""
    values = np.asarray(columns[name])
    if values.dtype == bool:
        return values
    return np.array([v is True or v is np.True_ for v in values.tolist()], dtype=bool)


def _velocity_rule_fired(fired_rules: Sequence[Sequence[Mapping[str, Any]] | None]) -> np.ndarray:
    velocity = {name for name, spec in FEATURES.items() if spec.family == "velocity"}
    return np.array(
        [
            fired is not None and any(rule["feature"] in velocity for rule in fired)
            for fired in fired_rules
        ],
        dtype=bool,
    )


def choose_plays(columns: Columns, young_account_days: int) -> np.ndarray:
    """Pick the play of every account by the precedence in the module docstring.

    Parameters
    ----------
    columns : DataFrame or mapping of str to array-like
        One entry per account, with at least ``pqa``, ``fired_rules``,
        ``tenure_days``, ``has_decision_maker``, ``days_since_security_visit``,
        ``days_since_legal_visit``, ``workspaces`` and ``activity_spike_score``.
    young_account_days : int
        Accounts younger than this many days are left alone unless they are PQAs.

    Returns
    -------
    ndarray of str of shape (n_accounts,)
        The play names from :data:`PLAY_ORDER`.
    """
    pqa = _flag(columns, "pqa")
    with np.errstate(invalid="ignore"):
        young = _numeric(columns, "tenure_days") < young_account_days
        security_or_legal = (
            _numeric(columns, "days_since_security_visit") <= RECENT_INTEREST_DAYS
        ) | (_numeric(columns, "days_since_legal_visit") <= RECENT_INTEREST_DAYS)
        silos = _numeric(columns, "workspaces") >= MIN_SILOS
        spike = _numeric(columns, "activity_spike_score") >= SPIKE_SCORE
    spike |= _velocity_rule_fired(columns["fired_rules"])
    buyer = _flag(columns, "has_decision_maker")

    conditions = [
        ~pqa & young,
        ~pqa,
        ~buyer,
        security_or_legal & silos,
        spike,
    ]
    return np.select(conditions, list(PLAY_ORDER[:-1]), default=PLAY_ORDER[-1])


def play_owners(plays: np.ndarray, scoring: Scoring) -> np.ndarray:
    """Look up the owner of each play in ``scoring.plays``.

    Raises
    ------
    ValueError
        If the config names no entry for a play that was chosen.
    """
    missing = sorted(set(plays.tolist()) - set(scoring.plays))
    if missing:
        raise ValueError(
            f"scoring.plays in the config has no entry for play(s) {missing}; "
            f"give an owner and description for each of {list(PLAY_ORDER)}"
        )
    owners = {name: play.owner for name, play in scoring.plays.items()}
    return np.array([owners[p] for p in plays.tolist()], dtype=object)
