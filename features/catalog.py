"""The catalog of account features: one entry per column of a snapshot table.

Every feature is computed for an (account, as-of date) snapshot from events dated
strictly before the as-of date. ``phrase`` turns an account's value into the plain
words a salesperson reads; ``{value}`` stands for the value, ``{date}`` for a date
that a feature carries alongside (see ``date_column``) and ``{s}`` for the plural ending
that agrees with the value ("1 day", "3 days"); :func:`fill_phrase` fills them.
``missing`` is what to say instead when the value is unknown.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal

Kind = Literal["numeric", "categorical", "boolean"]
Family = Literal["usage", "velocity", "profile", "intent", "adoption"]


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    family: Family
    kind: Kind
    description: str
    phrase: str
    date_column: str | None = None
    missing: str | None = None
    """What to say when the value is unknown (no visit ever, no earlier period...)."""
    direction: Literal[-1, 0, 1] = 0
    """How the feature is expected to move the propensity, all else equal: +1 more
    means likelier to buy (active users, security visits), -1 more means less likely
    (days since the last pricing visit), 0 no prior. Training can hold models to it."""


def fill_phrase(template: str, value: object, date: str = "") -> str:
    """Fill a phrase or reason template with a value, its date and its plural ending.

    ``{s}`` becomes "" when the value is a number that shows as 1 and "s" otherwise.
    """
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    singular = number and round(float(value)) == 1
    return template.format(value=value, date=date, s="" if singular else "s")


def _spec(
    name, family, kind, description, phrase, date_column=None, missing=None, direction=0
) -> FeatureSpec:
    return FeatureSpec(name, family, kind, description, phrase, date_column, missing, direction)


_SPECS = [
    # usage
    _spec(
        "active_users_7d",
        "usage",
        "numeric",
        "Distinct users with any event in the 7 days before the as-of date.",
        "{value:.0f} active user{s} in the last 7 days",
        direction=1,
    ),
    _spec(
        "active_users_28d",
        "usage",
        "numeric",
        "Distinct users with any event in the 28 days before the as-of date.",
        "{value:.0f} active user{s} in the last 28 days",
        direction=1,
    ),
    _spec(
        "active_users_90d",
        "usage",
        "numeric",
        "Distinct users with any event in the 90 days before the as-of date.",
        "{value:.0f} active user{s} in the last 90 days",
        direction=1,
    ),
    _spec(
        "total_users",
        "usage",
        "numeric",
        "Distinct users seen in the account at any time before the as-of date.",
        "{value:.0f} user{s} in total",
        direction=1,
    ),
    _spec(
        "stickiness",
        "usage",
        "numeric",
        "Mean daily active users over 28 days divided by 28-day active users (DAU/MAU).",
        "stickiness (DAU/MAU) of {value:.0%}",
        missing="no active users in the last 28 days",
    ),
    _spec(
        "active_days_28d",
        "usage",
        "numeric",
        "Days with any event among the 28 days before the as-of date.",
        "active on {value:.0f} of the last 28 days",
        direction=1,
    ),
    _spec(
        "value_events_28d",
        "usage",
        "numeric",
        "Value-metric events in the last 28 days.",
        "{value:.0f} value action{s} in the last 28 days",
        direction=1,
    ),
    _spec(
        "value_events_90d",
        "usage",
        "numeric",
        "Value-metric events in the last 90 days.",
        "{value:.0f} value action{s} in the last 90 days",
        direction=1,
    ),
    _spec(
        "value_events_per_user_28d",
        "usage",
        "numeric",
        "Value-metric events in 28 days per 28-day active user (depth).",
        "{value:.1f} value actions per active user in the last 28 days",
        missing="no active users in the last 28 days",
        direction=1,
    ),
    _spec(
        "breadth_28d",
        "usage",
        "numeric",
        "Distinct track event names used in the last 28 days (features used).",
        "{value:.0f} different product feature{s} used in the last 28 days",
        direction=1,
    ),
    _spec(
        "collaboration_events_28d",
        "usage",
        "numeric",
        "Collaboration events (shares, comments, ...) in the last 28 days.",
        "{value:.0f} collaboration action{s} in the last 28 days",
        direction=1,
    ),
    _spec(
        "invites_28d",
        "usage",
        "numeric",
        "Invite events in the last 28 days.",
        "{value:.0f} invitation{s} sent in the last 28 days",
        direction=1,
    ),
    _spec(
        "tenure_days",
        "usage",
        "numeric",
        "Days from the account's first event to the as-of date.",
        "account is {value:.0f} day{s} old",
    ),
    # velocity
    _spec(
        "active_users_wow_growth",
        "velocity",
        "numeric",
        "Relative change of 7-day active users against the 7 days before.",
        "active users changed {value:+.0%} week over week",
        missing="no activity the week before to compare with",
    ),
    _spec(
        "active_users_mom_growth",
        "velocity",
        "numeric",
        "Relative change of 28-day active users against the 28 days before.",
        "active users changed {value:+.0%} month over month",
        missing="no activity the month before to compare with",
    ),
    _spec(
        "value_events_wow_growth",
        "velocity",
        "numeric",
        "Relative change of 7-day value events against the 7 days before.",
        "value actions changed {value:+.0%} week over week",
        missing="no value actions the week before to compare with",
    ),
    _spec(
        "value_events_mom_growth",
        "velocity",
        "numeric",
        "Relative change of 28-day value events against the 28 days before.",
        "value actions changed {value:+.0%} month over month",
        missing="no value actions the month before to compare with",
    ),
    _spec(
        "users_added_28d",
        "velocity",
        "numeric",
        "Users first seen in the account in the last 28 days.",
        "{value:.0f} user{s} added in the last 28 days",
        direction=1,
    ),
    _spec(
        "max_users_added_in_day_90d",
        "velocity",
        "numeric",
        "Largest number of users first seen in the account on one day in the last 90 days.",
        "{value:.0f} user{s} added on {date}",
        date_column="max_users_added_day_90d",
        direction=1,
    ),
    _spec(
        "activity_spike_score",
        "velocity",
        "numeric",
        "Events in the last 7 days against the account's mean weekly events over the "
        "12 weeks before (1 = as usual).",
        "activity at {value:.1f}x its usual weekly level",
        missing="no usual weekly activity to compare with yet",
    ),
    _spec(
        "active_users_acceleration",
        "velocity",
        "numeric",
        "Month-over-month growth of active users now minus the same growth 28 days ago.",
        "user growth accelerating by {value:+.0%}",
        missing="too little history to measure acceleration",
    ),
    # profile
    _spec(
        "employees",
        "profile",
        "numeric",
        "Best known company size: CRM NumberOfEmployees, else workspace 'employees' "
        "trait, else the midpoint of the most common onboarding answer.",
        "company of about {value:,.0f} employees",
        missing="company size not known",
        direction=1,
    ),
    _spec(
        "company_size_band",
        "profile",
        "categorical",
        "Company size band from 'employees': 1-10, 11-50, 51-200, 201-1000, 1001+ or unknown.",
        "a {value} employee company",
        missing="company size not known",
    ),
    _spec(
        "seniority_rank",
        "profile",
        "numeric",
        "Highest seniority among users: 0 unknown, 1 individual contributor, 2 manager, "
        "3 director, 4 vp, 5 c-level. Inferred from the job title when not answered.",
        "most senior user at level {value:.0f} of 5",
        direction=1,
    ),
    _spec(
        "has_decision_maker",
        "profile",
        "boolean",
        "Whether a director, VP or C-level user uses the product.",
        "a decision-maker (director or above) uses the product",
        direction=1,
    ),
    _spec(
        "departments",
        "profile",
        "numeric",
        "Distinct departments among users' onboarding answers.",
        "users from {value:.0f} department{s}",
        direction=1,
    ),
    _spec(
        "dominant_use_case",
        "profile",
        "categorical",
        "Most common onboarding use case among users (unknown when none answered).",
        "mostly used for {value}",
        missing="no use case given in onboarding",
    ),
    _spec(
        "onboarding_answer_rate",
        "profile",
        "numeric",
        "Share of users who answered at least one onboarding question.",
        "{value:.0%} of users answered onboarding",
    ),
    _spec(
        "industry",
        "profile",
        "categorical",
        "Industry from the CRM account, else the workspace 'industry' trait.",
        "in the {value} industry",
        missing="industry not known",
    ),
    # intent and structure
    _spec(
        "pricing_visits_90d",
        "intent",
        "numeric",
        "Pricing page views in the last 90 days, anonymous views stitched to users included.",
        "{value:.0f} pricing page visit{s} in the last 90 days",
        direction=1,
    ),
    _spec(
        "days_since_pricing_visit",
        "intent",
        "numeric",
        "Days since the latest pricing page view (empty when none).",
        "visited the pricing page {value:.0f} day{s} ago",
        missing="no pricing page visit on record",
        direction=-1,
    ),
    _spec(
        "security_visits_90d",
        "intent",
        "numeric",
        "Security or trust page views in the last 90 days.",
        "{value:.0f} security page visit{s} in the last 90 days",
        direction=1,
    ),
    _spec(
        "days_since_security_visit",
        "intent",
        "numeric",
        "Days since the latest security or trust page view (empty when none).",
        "visited the security page {value:.0f} day{s} ago",
        missing="no security page visit on record",
        direction=-1,
    ),
    _spec(
        "legal_visits_90d",
        "intent",
        "numeric",
        "Terms, privacy or other legal page views in the last 90 days.",
        "{value:.0f} terms or privacy page visit{s} in the last 90 days",
        direction=1,
    ),
    _spec(
        "days_since_legal_visit",
        "intent",
        "numeric",
        "Days since the latest legal page view (empty when none).",
        "visited the terms or privacy page {value:.0f} day{s} ago",
        missing="no terms or privacy page visit on record",
        direction=-1,
    ),
    _spec(
        "enterprise_visits_90d",
        "intent",
        "numeric",
        "Enterprise page views in the last 90 days.",
        "{value:.0f} enterprise page visit{s} in the last 90 days",
        direction=1,
    ),
    _spec(
        "days_since_enterprise_visit",
        "intent",
        "numeric",
        "Days since the latest enterprise page view (empty when none).",
        "visited the enterprise page {value:.0f} day{s} ago",
        missing="no enterprise page visit on record",
        direction=-1,
    ),
    _spec(
        "admin_changes_90d",
        "intent",
        "numeric",
        "Role changes granting an admin value in the last 90 days.",
        "{value:.0f} admin role change{s} in the last 90 days",
        direction=1,
    ),
    _spec(
        "days_since_admin_change",
        "intent",
        "numeric",
        "Days since the latest admin role change (empty when none).",
        "made a user admin {value:.0f} day{s} ago",
        missing="no admin role change on record",
        direction=-1,
    ),
    _spec(
        "workspaces",
        "intent",
        "numeric",
        "Separate workspaces (silos) under the account's domain.",
        "{value:.0f} separate workspace{s} under one domain",
        direction=1,
    ),
    _spec(
        "personal_email_share",
        "intent",
        "numeric",
        "Share of the account's users on personal email domains.",
        "{value:.0%} of users on personal email",
        direction=-1,
    ),
    _spec(
        "plan",
        "intent",
        "categorical",
        "Latest plan trait of the account's workspaces (the highest when several).",
        "on the {value} plan",
        missing="no plan on record",
    ),
    # adoption
    _spec(
        "adoption_stage",
        "adoption",
        "categorical",
        "individual (one active user in 28 days), team (collaboration among several), "
        "organization (7+ active users or 3+ departments).",
        "adopted at {value} level",
    ),
]

FEATURES: dict[str, FeatureSpec] = {spec.name: spec for spec in _SPECS}

KEY_COLUMNS = ("account_id", "as_of")
"""Every snapshot table is keyed by the account and the as-of date (UTC midnight)."""

AUXILIARY_COLUMNS = ("max_users_added_day_90d",)
"""Columns carried beside the features for phrasing reasons; never model inputs."""

NUMERIC_FEATURES = [s.name for s in _SPECS if s.kind == "numeric"]
CATEGORICAL_FEATURES = [s.name for s in _SPECS if s.kind == "categorical"]
BOOLEAN_FEATURES = [s.name for s in _SPECS if s.kind == "boolean"]
