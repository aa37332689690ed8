"""Validate flat Segment messages and turn them into rows of the contract tables.

Batch ingestion and the HTTP service both call :func:`normalize_flat`, so a message is
judged and shaped the same way wherever it comes from. All work is vectorized with
Arrow compute over a whole chunk of messages.

Rejection reasons (the first that applies, in this order): ``missing_type``,
``unknown_type`` (screen and alias are valid Segment types that the tool counts but does
not use: they are not rejected), ``missing_message_id``, ``bad_timestamp`` (missing or
not ISO-8601), ``future_timestamp`` (later than the ingestion time plus one day),
``missing_user_and_anonymous_id``, ``missing_event_name`` (track), ``missing_page_path``
(page without properties.path or properties.url), ``missing_user_id`` (identify and
group), ``missing_group_id`` (group). Parsing adds ``malformed_json``, ``invalid_utf8``
and ``not_an_object``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pqa.config import PAGE_ROLES, Config
from pqa.contract import (
    EVENTS_SCHEMA,
    GROUPS_SCHEMA,
    IDENTITIES_SCHEMA,
    SEGMENT_TYPES_COUNTED,
    SEGMENT_TYPES_USED,
    TIMESTAMP,
)

FUTURE_TOLERANCE = timedelta(days=1)
"""Messages dated later than the ingestion time plus this are rejected as future."""

IDENTITY_COLUMNS = ("email_domain", "is_personal_domain", "title", "company_size")
IDENTITY_COLUMNS += ("department", "seniority", "use_case")


@dataclass(frozen=True)
class NormalizedChunk:
    """The verdict on one chunk of flat messages.

    Attributes
    ----------
    reasons : pa.Array
        One rejection reason per input row, null for rows that were not rejected.
    unused : pa.Array
        True for valid Segment types the tool counts but does not keep (screen, alias).
    rows : pa.Table
        The kept rows (identify, group, track, page) in the events columns of the
        contract (``user_id`` not yet stitched) plus ``position``, the row's index in
        the input chunk.
    identities, groups : pa.Table
        The kept identify and group rows in the columns of their contract tables, plus
        ``message_id`` and ``position``.
    """

    reasons: pa.Array
    unused: pa.Array
    rows: pa.Table
    identities: pa.Table
    groups: pa.Table


def _blank_to_null(values: pa.ChunkedArray) -> pa.ChunkedArray:
    stripped = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)


def parse_timestamps(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Parse ISO-8601 strings with any UTC offset to UTC microseconds; null when invalid."""
    series = pd.Series(values.to_pandas(), dtype="str")
    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    naive = parsed.dt.tz_convert(None).to_numpy().astype("datetime64[us]")
    return pa.array(naive, type=pa.timestamp("us"), from_pandas=True).cast(TIMESTAMP)


def glob_to_regex(pattern: str) -> str:
    """Translate a shell glob (``*``, ``?``, ``[...]``) to an anchored RE2 expression."""
    out, i = ["^"], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out) + "$"


def url_path(urls: pa.ChunkedArray) -> pa.ChunkedArray:
    """The path part of URLs (``https://x.io/Pricing?a=1`` -> ``/Pricing``); ``/`` if none."""
    without_host = pc.replace_substring_regex(urls, r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*", "")
    path = pc.replace_substring_regex(without_host, r"[?#].*$", "")
    return pc.if_else(pc.equal(path, ""), pa.scalar("/"), path)


def normalize_domain(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Lowercase bare domain of a website (scheme, ``www.``, port and path removed)."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    no_scheme = pc.replace_substring_regex(lowered, r"^[a-z][a-z0-9+.\-]*://", "")
    no_www = pc.replace_substring_regex(no_scheme, r"^www\.", "")
    domain = pc.replace_substring_regex(no_www, r"[/?#:].*$", "")
    return _blank_to_null(domain)


def email_domain(emails: pa.ChunkedArray) -> pa.ChunkedArray:
    """Lowercase part after the last ``@``; null when there is no ``@`` or nothing after."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(emails))
    has_at = pc.match_substring(lowered, "@")
    domain = pc.replace_substring_regex(lowered, r"^.*@", "")
    return _blank_to_null(pc.if_else(has_at, domain, pa.scalar(None, pa.string())))


def _page_roles(paths: pa.ChunkedArray, config: Config) -> pa.ChunkedArray:
    role = pa.nulls(len(paths), pa.string())
    for name in reversed(PAGE_ROLES):  # the first matching role wins, so apply it last
        for pattern in getattr(config.pages, name):
            hit = pc.fill_null(
                pc.match_substring_regex(paths, glob_to_regex(pattern.lower())), False
            )
            role = pc.if_else(hit, pa.scalar(f"page_{name}"), role)
    return role


def _track_roles(events: pa.ChunkedArray, role_values: pa.ChunkedArray, config: Config):
    mapping = config.events.role_of()
    names = pa.array(list(mapping), pa.string())
    roles = pa.array(list(mapping.values()), pa.string())
    role = pc.take(roles, pc.index_in(events, value_set=names))
    admin = pa.array(sorted({v.lower() for v in config.events.role_change.admin_values}))
    is_admin = pc.fill_null(pc.is_in(pc.utf8_lower(role_values), value_set=admin), False)
    is_change = pc.fill_null(pc.equal(role, "role_change"), False)
    return pc.if_else(pc.and_(is_change, is_admin), pa.scalar("admin_change"), role)


class _Verdict:
    """Accumulates the first rejection reason per row."""

    def __init__(self, size: int) -> None:
        self.reasons = pa.nulls(size, pa.string())

    def reject(self, condition, reason: str) -> None:
        hit = pc.and_(pc.fill_null(condition, False), pc.is_null(self.reasons))
        self.reasons = pc.if_else(hit, pa.scalar(reason), self.reasons)


def normalize_flat(flat: pa.Table, config: Config, now: datetime) -> NormalizedChunk:
    """Validate a flat message table and shape its kept rows.

    Parameters
    ----------
    flat : pa.Table
        Messages in :data:`features.ingest.messages.FLAT_SCHEMA`.
    config : Config
        Supplies the event and page vocabulary and the personal email domains.
    now : datetime
        Ingestion time (tz-aware); messages later than ``now`` plus one day are rejected.

    Returns
    -------
    NormalizedChunk
    """
    ids = {c: _blank_to_null(flat.column(c)) for c in ("message_id", "user_id", "anonymous_id")}
    ids |= {c: _blank_to_null(flat.column(c)) for c in ("group_id", "context_group_id", "event")}
    kind = pc.utf8_lower(_blank_to_null(flat.column("type")))
    timestamp = parse_timestamps(flat.column("timestamp"))
    path_value = _blank_to_null(flat.column("path"))
    url_value = _blank_to_null(flat.column("url"))
    path = pc.utf8_lower(pc.coalesce(path_value, url_path(url_value)))

    verdict = _Verdict(flat.num_rows)
    used = pc.is_in(kind, value_set=pa.array(SEGMENT_TYPES_USED))
    unused = pc.fill_null(pc.is_in(kind, value_set=pa.array(SEGMENT_TYPES_COUNTED)), False)
    verdict.reject(pc.is_null(kind), "missing_type")
    verdict.reject(pc.invert(pc.or_(used, unused)), "unknown_type")
    verdict.reject(pc.and_(unused, pc.is_null(verdict.reasons)), "_unused")
    verdict.reject(pc.is_null(ids["message_id"]), "missing_message_id")
    verdict.reject(pc.is_null(timestamp), "bad_timestamp")
    limit = pa.scalar(pd.Timestamp(now + FUTURE_TOLERANCE).tz_convert("UTC"), TIMESTAMP)
    verdict.reject(pc.greater(timestamp, limit), "future_timestamp")
    no_one = pc.and_(pc.is_null(ids["user_id"]), pc.is_null(ids["anonymous_id"]))
    verdict.reject(no_one, "missing_user_and_anonymous_id")
    verdict.reject(pc.and_(pc.equal(kind, "track"), pc.is_null(ids["event"])), "missing_event_name")
    verdict.reject(pc.and_(pc.equal(kind, "page"), pc.is_null(path)), "missing_page_path")
    needs_user = pc.is_in(kind, value_set=pa.array(["identify", "group"]))
    verdict.reject(pc.and_(needs_user, pc.is_null(ids["user_id"])), "missing_user_id")
    verdict.reject(
        pc.and_(pc.equal(kind, "group"), pc.is_null(ids["group_id"])), "missing_group_id"
    )

    is_unused = pc.fill_null(pc.equal(verdict.reasons, "_unused"), False)
    reasons = pc.if_else(is_unused, pa.scalar(None, pa.string()), verdict.reasons)
    keep = pc.is_null(verdict.reasons)

    kept = flat.append_column("position", pa.array(np.arange(flat.num_rows)))
    kept = kept.append_column("_type", kind).append_column("_timestamp", timestamp)
    kept = kept.append_column("_path", path)
    for name, values in ids.items():
        kept = kept.set_column(kept.schema.get_field_index(name), name, values)
    kept = kept.filter(keep)
    return NormalizedChunk(
        reasons=_single(reasons),
        unused=_single(is_unused),
        rows=_event_rows(kept, config),
        identities=_identity_rows(kept, config),
        groups=_group_rows(kept),
    )


def _single(values) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _event_rows(kept: pa.Table, config: Config) -> pa.Table:
    kind = kept.column("_type")
    is_track = pc.equal(kind, "track")
    is_page = pc.equal(kind, "page")
    null_text = pa.scalar(None, pa.string())
    workspace = pc.if_else(
        pc.equal(kind, "group"),
        kept.column("group_id"),
        pc.if_else(pc.or_(is_track, is_page), kept.column("context_group_id"), null_text),
    )
    event = pc.if_else(
        is_track,
        kept.column("event"),
        pc.if_else(is_page, _blank_to_null(kept.column("name")), null_text),
    )
    path = pc.if_else(is_page, kept.column("_path"), null_text)
    role = pc.if_else(
        is_track,
        _track_roles(kept.column("event"), kept.column("role_value"), config),
        pc.if_else(is_page, _page_roles(path, config), null_text),
    )
    user = kept.column("user_id")
    timestamp = kept.column("_timestamp")
    columns = {
        "message_id": kept.column("message_id"),
        "type": kind,
        "timestamp": timestamp,
        "user_id": user,
        "anonymous_id": kept.column("anonymous_id"),
        "attributed_at": pc.if_else(pc.is_valid(user), timestamp, pa.scalar(None, TIMESTAMP)),
        "workspace_id": workspace,
        "event": event,
        "path": path,
        "role": role,
    }
    table = pa.table({name: _single(values) for name, values in columns.items()})
    table = table.cast(EVENTS_SCHEMA)
    return table.append_column("position", kept.column("position"))


def _identity_rows(kept: pa.Table, config: Config) -> pa.Table:
    """identities columns (contract order) plus message_id and position."""
    rows = kept.filter(pc.equal(kept.column("_type"), "identify"))
    domain = email_domain(rows.column("email"))
    personal = pc.fill_null(
        pc.is_in(domain, value_set=pa.array(config.personal_domains, pa.string())), False
    )
    columns = {
        "user_id": rows.column("user_id"),
        "timestamp": rows.column("_timestamp"),
        "email_domain": domain,
        "is_personal_domain": personal,
        **{c: _blank_to_null(rows.column(c)) for c in IDENTITY_COLUMNS[2:]},
    }
    table = pa.table({name: _single(values) for name, values in columns.items()})
    table = table.cast(IDENTITIES_SCHEMA)
    return table.append_column("message_id", rows.column("message_id")).append_column(
        "position", rows.column("position")
    )


def _group_rows(kept: pa.Table) -> pa.Table:
    """groups columns (contract order) plus message_id and position."""
    rows = kept.filter(pc.equal(kept.column("_type"), "group"))
    columns = {
        "workspace_id": rows.column("group_id"),
        "user_id": rows.column("user_id"),
        "timestamp": rows.column("_timestamp"),
        "name": _blank_to_null(rows.column("group_name")),
        "plan": _blank_to_null(rows.column("plan")),
        "employees": rows.column("employees"),
        "industry": _blank_to_null(rows.column("industry")),
        "website_domain": normalize_domain(rows.column("website")),
    }
    table = pa.table({name: _single(values) for name, values in columns.items()})
    table = table.cast(GROUPS_SCHEMA)
    return table.append_column("message_id", rows.column("message_id")).append_column(
        "position", rows.column("position")
    )
