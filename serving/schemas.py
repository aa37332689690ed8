"""Request and response bodies of the HTTP service (strict pydantic models).

Every request model forbids unknown fields and takes values in their own JSON type
(no "3" for 3); a mistake is answered with HTTP 400 naming the field. The feature
model is generated from the catalog, so the OpenAPI spec (``/docs.json``) documents
every feature with its meaning.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Required

from pydantic import BaseModel, ConfigDict, Field, create_model
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from features.catalog import AUXILIARY_COLUMNS, FEATURES

MAX_FEATURE_ROWS = 5_000
"""Feature rows accepted in one ``score_features_batch`` request."""

MAX_EVENTS = 50_000
"""Segment messages accepted in one ``score_events`` or ``score_events_batch`` request."""

MAX_CRM_ACCOUNTS = 5_000
"""CRM account rows accepted in one events request."""

MAX_TEXT = 1_000
"""Longest accepted text value (ids, categories, event names)."""

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, hide_input_in_errors=True)
"""Unknown fields rejected, no type coercion, and no request values (which may hold
personal data) in error messages or logs."""

Text = Annotated[str, Field(max_length=MAX_TEXT)]
AccountId = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class _Strict(BaseModel):
    model_config = STRICT


def _feature_field(name: str) -> tuple[Any, Any]:
    spec = FEATURES[name]
    kind = {"numeric": float, "categorical": Text, "boolean": bool}[spec.kind]
    unknown = {
        "numeric": "null = unknown",
        "categorical": "null = unknown",
        "boolean": "null = false",
    }[spec.kind]
    return kind | None, Field(None, description=f"{spec.description} ({unknown}).")


FeatureValues = create_model(
    "FeatureValues",
    __config__=STRICT,
    __doc__="One account's feature values at the as-of date; see 'pqa features --list'.",
    **{name: _feature_field(name) for name in FEATURES},
    **{
        name: (
            date | None,
            Field(None, description="Day of the largest one-day user addition (90 days)."),
        )
        for name in AUXILIARY_COLUMNS
    },
)


class FeatureRow(_Strict):
    """One account's features, as a row of ``pqa features`` output."""

    account_id: AccountId
    as_of: date | None = Field(
        None, description="As-of date (YYYY-MM-DD) of the features; default tomorrow (UTC)."
    )
    features: FeatureValues  # type: ignore[valid-type]  # generated from the catalog above


class FeatureBatch(_Strict):
    """Several accounts' feature rows."""

    rows: list[FeatureRow] = Field(min_length=1, max_length=MAX_FEATURE_ROWS)


class SegmentMessage(TypedDict, total=False):
    """One Segment message (identify, group, track or page; others are rejected or counted).

    Only the Segment spec's common fields are accepted; ``context``, ``properties``
    and ``traits`` are free-form objects. Validated into a plain dict, which is what
    normalization reads (no model-to-dict copy of thousands of messages).
    """

    __pydantic_config__ = STRICT  # type: ignore[misc]  # pydantic's TypedDict config hook

    type: Required[Text]
    messageId: Text | None
    timestamp: Text | None
    originalTimestamp: Text | None
    sentAt: Text | None
    receivedAt: Text | None
    userId: Text | None
    anonymousId: Text | None
    groupId: Text | None
    previousId: Text | None
    event: Text | None
    name: Text | None
    category: Text | None
    channel: Text | None
    version: int | Text | None
    properties: dict[str, Any] | None
    traits: dict[str, Any] | None
    context: dict[str, Any] | None
    integrations: dict[str, Any] | None


class CrmAccount(_Strict):
    """A CRM account row as in the Salesforce export (only the fields scoring uses)."""

    Id: Text | None = None
    Name: Text | None = None
    Website: Text
    NumberOfEmployees: float | None = None
    Industry: Text | None = None


class EventsRequest(_Strict):
    """Raw product events of one or more accounts, scored with the batch feature code."""

    messages: list[SegmentMessage] = Field(min_length=1, max_length=MAX_EVENTS)
    crm_accounts: list[CrmAccount] | None = Field(None, max_length=MAX_CRM_ACCOUNTS)
    as_of: date | None = Field(
        None, description="Score at this date's UTC midnight; default tomorrow (UTC)."
    )
    account_id: AccountId | None = Field(
        None,
        description="score_events only: which account to score when the messages "
        "resolve to several.",
    )


class FiredRule(BaseModel):
    name: str
    reason: str


class Reason(BaseModel):
    feature: str
    direction: Literal["up", "down"]
    contribution: float
    value: float | bool | str | None
    text: str


class Score(BaseModel):
    """One account's score: the same fields as a row of ``pqa score`` output."""

    account_id: str
    as_of: date
    propensity: float = Field(description="Calibrated probability of converting.")
    tier: str
    pqa: bool
    pqa_rules: list[FiredRule]
    stage: str | None
    play: str
    owner: str
    reasons: list[Reason]
    model_version: str


class ScoreList(BaseModel):
    scores: list[Score]


class EventsScoreList(BaseModel):
    scores: list[Score]
    rejected: list[dict[str, Any]] = Field(
        description="Messages that normalization rejected: their index and reason."
    )


class Metadata(BaseModel):
    model_version: str
    model_tag: str
    model_type: str | None
    target: str | None
    horizon_days: int | None
    features: list[str]
    tier_cutoffs: dict[str, float]
    training_window: dict[str, Any] | None
    metrics: dict[str, Any] | None
