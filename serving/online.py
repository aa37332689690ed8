"""Online scoring: the request handling behind the HTTP endpoints, without HTTP.

The service's endpoints are thin wrappers over :class:`OnlineScorer`, so that
no endpoint calls another (which would deadlock a one-worker BentoML service) and
the logic can be tested in-process. Raw events are turned into features with the
same normalization and feature code as the batch command, and every score comes
from :func:`serving.scoring.score_frame`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import (
    AUXILIARY_COLUMNS,
    BOOLEAN_FEATURES,
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
)
from pqa.config import Config
from serving.fastpath import compile_model
from serving.model_store import ServedModel
from serving.reasons import MISSING_CATEGORY
from serving.schemas import EventsRequest, FeatureRow
from serving.scoring import model_features, score_columns, score_frame, scores_to_records

logger = logging.getLogger(__name__)


class ClientError(ValueError):
    """A request the service cannot score; answered with HTTP 400.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    field : tuple of str or int
        Where in the request body the problem is (empty for the whole body).
    """

    def __init__(self, message: str, field: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.field = field

    def to_body(self) -> dict[str, Any]:
        """The JSON body: the same shape as BentoML's answer to a validation error."""
        return {
            "error": str(self),
            "detail": [{"type": "value_error", "loc": list(self.field), "msg": str(self)}],
        }


def tomorrow_utc() -> pd.Timestamp:
    """The default as-of date: next UTC midnight, so that today's events count."""
    return pd.Timestamp.now(tz="UTC").normalize() + pd.Timedelta(days=1)


def as_of_timestamp(value: date | None) -> pd.Timestamp:
    if value is None:
        return tomorrow_utc()
    return pd.Timestamp(value.isoformat(), tz="UTC")


def _as_of_index(days: list[date | None]) -> pd.DatetimeIndex:
    default = tomorrow_utc() if None in days else None
    return pd.DatetimeIndex(
        [default if d is None else pd.Timestamp(d.isoformat(), tz="UTC") for d in days]
    ).as_unit("us")


def feature_columns(rows: Sequence[FeatureRow]) -> dict[str, Any]:
    """Turn validated request rows into scoring columns, with the pipeline's dtypes.

    Unknown numbers become NaN, unknown categories ``"unknown"`` and unknown booleans
    False, as the feature pipeline writes them. No DataFrame is built: one account is
    scored in a few milliseconds.
    """
    # One tuple of values per row, transposed in C: far cheaper than a getattr per cell.
    names = list(type(rows[0].features).model_fields) if rows else []
    per_row = (tuple(r.features.__dict__.values()) for r in rows)
    cells = dict(zip(names, zip(*per_row, strict=True), strict=True))
    columns: dict[str, Any] = {
        "account_id": np.array([row.account_id for row in rows], dtype=object),
        "as_of": _as_of_index([row.as_of for row in rows]),
    }
    for name in NUMERIC_FEATURES:
        columns[name] = np.array(cells[name], dtype=float)  # None -> NaN
    for name in CATEGORICAL_FEATURES:
        values = np.array(cells[name], dtype=object)
        values[np.equal(values, None)] = MISSING_CATEGORY
        columns[name] = values
    for name in BOOLEAN_FEATURES:
        columns[name] = np.equal(np.array(cells[name], dtype=object), True)
    for name in AUXILIARY_COLUMNS:
        days = np.array(
            [np.datetime64("NaT") if d is None else np.datetime64(d) for d in cells[name]],
            dtype="datetime64[us]",
        )
        columns[name] = pd.DatetimeIndex(days).tz_localize("UTC")
    return columns


class OnlineScorer:
    """Scores requests with one loaded model and config.

    Parameters
    ----------
    served : ServedModel
        The model, its BentoML tag and the version string scores carry.
    cfg : Config
        Vocabulary, PQA rules and scoring settings.
    """

    def __init__(self, served: ServedModel, cfg: Config) -> None:
        self.served = served
        self.cfg = cfg
        self.model = compile_model(served.model)
        self.features = model_features(served.model)
        unknown = [name for name in self.features if name not in FEATURES]
        if unknown:
            raise ValueError(
                f"the model reads feature(s) {unknown} that the catalog does not define; "
                "retrain it with this version of pqa"
            )

    def score_rows(self, rows: Sequence[FeatureRow]) -> list[dict[str, Any]]:
        """Score validated feature rows; return one score dict per row, in order."""
        scores = score_columns(
            self.model, feature_columns(rows), self.cfg, self.served.model_version
        )
        return scores_to_records(scores)

    def score_events(self, request: EventsRequest) -> tuple[list[dict[str, Any]], list[dict]]:
        """Score every account found in raw Segment messages.

        Returns
        -------
        scores : list of dict
            One score per account, highest propensity first.
        rejected : list of dict
            ``{index, reason}`` of each message normalization rejected.

        Raises
        ------
        ClientError
            When no message is usable or no account can be resolved from them.
        """
        from features.ingest import normalize_messages
        from features.snapshots import compute_features

        messages = list(request.messages)
        crm = (
            [a.model_dump(exclude_none=True) for a in request.crm_accounts]
            if request.crm_accounts
            else None
        )
        try:
            tables, rejected = normalize_messages(messages, self.cfg, crm_accounts=crm)
        except ValueError as err:
            raise ClientError(f"the messages cannot be normalized: {err}", ("messages",)) from err
        if len(rejected) == len(messages):
            reasons = sorted({r["reason"] for r in rejected})
            raise ClientError(
                f"all {len(messages)} messages were rejected (reasons: {reasons}); "
                "send Segment identify, group, track or page messages",
                ("messages",),
            )
        as_of = as_of_timestamp(request.as_of)
        frame = compute_features(tables, self.cfg, [as_of])
        if frame.empty:
            raise ClientError(
                "no account could be resolved from the messages before "
                f"{as_of.date().isoformat()}: an account needs events from users who joined "
                "a workspace (group call) before the as-of date",
                ("messages",),
            )
        scores = score_frame(self.model, frame, self.cfg, self.served.model_version)
        scores = scores.sort_values("propensity", ascending=False, kind="stable")
        logger.debug("Scored %d account(s) from %d messages", len(scores), len(messages))
        return scores_to_records(scores), [dict(r) for r in rejected]

    def score_one_from_events(self, request: EventsRequest) -> dict[str, Any]:
        """Score the one account of the messages (or ``request.account_id`` among several)."""
        scores, _ = self.score_events(request)
        if request.account_id is not None:
            chosen = [s for s in scores if s["account_id"] == request.account_id]
            if not chosen:
                raise ClientError(
                    f"account_id {request.account_id!r} is not among the accounts found in "
                    f"the messages: {sorted(s['account_id'] for s in scores)[:20]}",
                    ("account_id",),
                )
            return chosen[0]
        if len(scores) > 1:
            raise ClientError(
                f"the messages hold {len(scores)} accounts "
                f"({sorted(s['account_id'] for s in scores)[:20]}); give account_id, or "
                "use score_events_batch to score them all",
                ("account_id",),
            )
        return scores[0]

    def metadata(self) -> dict[str, Any]:
        """What the model is: version, features, tier cut-offs, training window, metrics."""
        meta = self.served.model.metadata_
        window = meta.get("training_window")
        return {
            "model_version": self.served.model_version,
            "model_tag": self.served.tag,
            "model_type": meta.get("model_type"),
            "target": meta.get("target"),
            "horizon_days": meta.get("horizon_days"),
            "features": list(self.features),
            "tier_cutoffs": {k: float(v) for k, v in meta.get("tier_cutoffs", {}).items()},
            "training_window": _jsonable(window),
            "metrics": _jsonable(meta.get("metrics")),
        }


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp | date):
        return value.isoformat()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
