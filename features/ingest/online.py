"""Normalize in-memory Segment messages, the same way as batch ingestion.

The HTTP service receives raw messages and scores them with the feature code; this
module runs them through the same flattening, validation, normalization, de-duplication
and stitching as :func:`features.ingest.ingest`, without any file.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.ingest.crm import crm_from_records
from features.ingest.dedupe import first_of_each, message_hashes
from features.ingest.normalize import normalize_flat
from features.ingest.reader import flat_from_dicts
from features.ingest.stitching import LINK_COLUMNS, stitch
from features.tables import Tables, empty_frame
from pqa.config import Config
from pqa.contract import CRM_ACCOUNTS_SCHEMA, EVENTS_SCHEMA, GROUPS_SCHEMA, IDENTITIES_SCHEMA


def normalize_messages(
    messages: list[dict],
    config: Config,
    crm_accounts: list[dict] | None = None,
    *,
    now: datetime | None = None,
) -> tuple[Tables, list[dict]]:
    """Turn Segment messages into normalized tables.

    Parameters
    ----------
    messages : list of dict
        Segment messages (identify, group, track, page; screen and alias are accepted
        and ignored).
    config : Config
        Event and page vocabulary, personal email domains.
    crm_accounts : list of dict, optional
        CRM accounts, Salesforce-shaped (``Id, Website, NumberOfEmployees, Industry``)
        or in the contract's columns (``crm_account_id, domain, employees, industry``).
    now : datetime, optional
        Reference time for the future-timestamp check; the current time by default.

    Returns
    -------
    tables : Tables
        Events (deduplicated by messageId, anonymous events stitched), identities,
        groups, crm_accounts; no opportunities.
    rejections : list of dict
        ``{"index": position in messages, "reason": ...}`` for each rejected message,
        and ``reason="duplicate"`` for resent copies.
    """
    role_property = config.events.role_change.property
    dicts = [m if isinstance(m, dict) else {} for m in messages]
    flat = flat_from_dicts(dicts, role_property)
    normalized = normalize_flat(flat, config, now or datetime.now(UTC))
    reasons = normalized.reasons.to_pylist()
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            reasons[index] = "not_an_object"

    rows = normalized.rows  # non-dict messages have no type, so none of them is here
    stamps = rows.column("timestamp").cast(pa.int64()).to_numpy()
    keep = first_of_each(message_hashes(rows.column("message_id")), stamps)
    positions = rows.column("position").to_numpy()
    for position in positions[~keep]:
        reasons[int(position)] = "duplicate"
    rows = rows.filter(pa.array(keep)) if rows.num_rows else rows

    kept = pa.array(np.isin(normalized.identities.column("position").to_numpy(), positions[keep]))
    identities = normalized.identities.filter(kept)
    kept = pa.array(np.isin(normalized.groups.column("position").to_numpy(), positions[keep]))
    groups = normalized.groups.filter(kept)
    identified = pc.and_(
        pc.equal(rows.column("type"), "identify"), pc.is_valid(rows.column("anonymous_id"))
    )
    links = rows.filter(identified).select(LINK_COLUMNS)
    events = stitch(rows.select(EVENTS_SCHEMA.names), links).cast(EVENTS_SCHEMA)
    events = events.sort_by([("timestamp", "ascending"), ("message_id", "ascending")])
    identities = identities.sort_by(
        [(k, "ascending") for k in ("timestamp", "user_id", "message_id")]
    )
    groups = groups.sort_by([(k, "ascending") for k in ("timestamp", "user_id", "message_id")])
    crm = crm_from_records(crm_accounts) if crm_accounts else CRM_ACCOUNTS_SCHEMA.empty_table()
    tables = Tables(
        events=events.to_pandas(),
        identities=identities.select(IDENTITIES_SCHEMA.names).to_pandas(),
        groups=groups.select(GROUPS_SCHEMA.names).to_pandas(),
        crm_accounts=crm.to_pandas(),
        opportunities=empty_frame("opportunities"),
    )
    rejections = [{"index": i, "reason": r} for i, r in enumerate(reasons) if r is not None]
    return tables, rejections


__all__ = ["normalize_messages"]
