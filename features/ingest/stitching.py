"""Tie anonymous events to the user that later identified with the same anonymousId.

An identify call that carries both an anonymousId and a userId links them. An event
without a userId gets the userId of the earliest such identify (ties: smallest message
id) and becomes attributable at the later of its own time and that identify's time;
an anonymousId never identified leaves the event without a user.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

LINK_COLUMNS = ["anonymous_id", "user_id", "timestamp", "message_id"]


def first_links(links: pa.Table) -> pa.Table:
    """One row per anonymous id: its earliest identify (``anonymous_id, user_id, timestamp``)."""
    links = links.select(LINK_COLUMNS).filter(
        pc.and_(pc.is_valid(links.column("anonymous_id")), pc.is_valid(links.column("user_id")))
    )
    ordered = links.sort_by(
        [("anonymous_id", "ascending"), ("timestamp", "ascending"), ("message_id", "ascending")]
    )
    anon = ordered.column("anonymous_id").combine_chunks()
    if len(anon) == 0:
        return ordered.select(LINK_COLUMNS[:3])
    changed = pc.not_equal(anon[1:], anon[:-1])
    mask = pa.concat_arrays([pa.array([True]), changed])
    return ordered.filter(mask).select(LINK_COLUMNS[:3])


def stitch(events: pa.Table, links: pa.Table) -> pa.Table:
    """Fill ``user_id`` and ``attributed_at`` of events that have none, from ``links``.

    Parameters
    ----------
    events : pa.Table
        Rows with at least ``anonymous_id, user_id, timestamp, attributed_at``.
    links : pa.Table
        Identify rows with ``anonymous_id, user_id, timestamp, message_id``.

    Returns
    -------
    pa.Table
        ``events`` with the same columns and row order.
    """
    first = first_links(links)
    position = pc.index_in(events.column("anonymous_id"), value_set=first.column("anonymous_id"))
    linked_user = pc.take(first.column("user_id"), position)
    linked_at = pc.take(first.column("timestamp"), position)
    missing = pc.is_null(events.column("user_id"))
    user = pc.if_else(missing, linked_user, events.column("user_id"))
    own = events.column("timestamp")
    later = pc.if_else(pc.greater(own, linked_at), own, linked_at)  # null when never linked
    attributed = pc.if_else(missing, later, events.column("attributed_at"))
    events = events.set_column(events.schema.get_field_index("user_id"), "user_id", user)
    index = events.schema.get_field_index("attributed_at")
    return events.set_column(index, "attributed_at", attributed)
