"""The compact activity stage: product events folded into one row per user, workspace and day.

Every snapshot feature is computed from this table, never from raw events, so that
fifteen as-of dates over ten million events cost little more than one pass over them.

Schema of :func:`daily_activity` (one row per distinct key):

================  ====================  ===============================================
column            dtype                 meaning
================  ====================  ===============================================
user_id           str                   the event's user (stitched anonymous ids included)
workspace_id      str, null             ``context.groupId``; null when the event had none
day               datetime64[UTC]       UTC date of the event's timestamp (midnight)
available_day     datetime64[UTC]       ``max(day, date(attributed_at))``: the first day on
                                        which the event is known to belong to the user
events            int32                 track and page events
value ...         int32                 events of each role in :data:`ROLE_COLUMNS`
event_mask        uint64                bit ``i`` set when track event name
                                        ``attrs["event_names"][i]`` occurred that key
================  ====================  ===============================================

The key is ``(user_id, workspace_id, day, available_day)``; counts are sums and
``event_mask`` is a bitwise OR, so the table is a pure group-by aggregation that a
distributed engine computes as it is (``SUM`` and ``BIT_OR``). The bits cover the 64
most frequent track event names, which is what ``breadth_28d`` counts; rarer names are
left out of breadth (a warning says how many).

A snapshot at as-of date D uses a row iff ``day < D`` and ``available_day < D``: an
anonymous page view stitched to its user by a later identify call counts only from the
day of that call.

Left out: events that never got a ``user_id`` (anonymous visitors who never identified
have no account), and ``identify`` and ``group`` calls (they describe users and
memberships, which :mod:`features.accounts` and :mod:`features.profile` read from their own
tables; they are not product usage).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.tables import Tables
from pqa.config import Config

logger = logging.getLogger(__name__)

ROLE_COLUMNS = (
    "value",
    "collaboration",
    "invite",
    "user_added",
    "admin_change",
    "page_pricing",
    "page_security",
    "page_legal",
    "page_enterprise",
)
"""Event roles counted per key; names match the ``role`` column of the events table."""

COUNT_COLUMNS = ("events", *ROLE_COLUMNS)
KEY_COLUMNS = ("user_id", "workspace_id", "day", "available_day")
MASK_BITS = 64
ACTIVITY_TYPES = ("track", "page")
CHUNK_EVENTS = 1_000_000
"""Events folded at once; bounds the memory of the activity stage."""


def epoch_days(values: pd.Series) -> np.ndarray:
    """Return UTC timestamps as whole days since 1970-01-01 (int64); NaT becomes the minimum."""
    naive = values.dt.tz_convert("UTC").dt.tz_localize(None)
    days = naive.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    return days.astype(np.int64)


def days_to_timestamps(days: np.ndarray) -> pd.DatetimeIndex:
    """Inverse of :func:`epoch_days`: UTC midnights."""
    return pd.DatetimeIndex(
        np.asarray(days, dtype="datetime64[D]").astype("datetime64[s]"), tz="UTC"
    )


def _group_ids(columns: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Dense group ids for rows keyed by several non-negative int64 columns."""
    sizes = [int(c.max()) + 1 if len(c) else 1 for c in columns]
    if float(np.prod([float(s) for s in sizes])) < 2.0**62:
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for column, size in zip(columns, sizes, strict=True):
            key = key * size + column
        ids, uniques = pd.factorize(key)
        return ids.astype(np.int64), len(uniques)
    frame = pd.DataFrame({str(i): c for i, c in enumerate(columns)})
    ids = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy(np.int64)
    return ids, int(ids.max()) + 1 if len(ids) else 0


def _vocabulary(column: pd.Series) -> pd.Index:
    """Sorted distinct non-null values of a string column."""
    values = np.asarray(column.dropna().unique(), dtype=object)
    return pd.Index(np.sort(values.astype(str)), dtype="str")


def _bit_positions(events: pd.DataFrame, names: pd.Index) -> tuple[np.ndarray, tuple[str, ...]]:
    """Bit of each event name (-1 for none; index -1 is the null name) and the bit names.

    The :data:`MASK_BITS` most frequent track event names get a bit, the most frequent
    first (ties by name).
    """
    counts = np.zeros(len(names), dtype=np.int64)
    for start in range(0, len(events), CHUNK_EVENTS):
        chunk = events.iloc[start : start + CHUNK_EVENTS]
        code = names.get_indexer(chunk["event"])
        track = (chunk["type"] == "track").to_numpy(dtype=bool, na_value=False)
        counts += np.bincount(code[track & (code >= 0)], minlength=len(names))
    used = np.flatnonzero(counts)
    ranked = used[np.lexsort((used, -counts[used]))]
    kept = ranked[:MASK_BITS]
    if len(ranked) > MASK_BITS:
        logger.warning(
            "%d track event names are rarer than the %d most frequent and are left out of "
            "breadth_28d",
            len(ranked) - MASK_BITS,
            MASK_BITS,
        )
    position = np.full(len(names) + 1, -1, dtype=np.int64)
    position[kept] = np.arange(len(kept))
    return position, tuple(str(names[code]) for code in kept)


def _aggregate(keys: list[np.ndarray], counts: np.ndarray, masks: np.ndarray):
    """Sum ``counts`` and OR ``masks`` over rows with equal ``keys``; return the groups."""
    group, n_groups = _group_ids(keys)
    summed = np.empty((n_groups, counts.shape[1]), dtype=np.int32)
    for column in range(counts.shape[1]):
        summed[:, column] = np.bincount(group, weights=counts[:, column], minlength=n_groups)
    combined = np.zeros(n_groups, dtype=np.uint64)
    nonzero = masks != 0
    np.bitwise_or.at(combined, group[nonzero], masks[nonzero])
    first = np.empty(n_groups, dtype=np.int64)
    first[group[::-1]] = np.arange(len(group) - 1, -1, -1)
    return [key[first] for key in keys], summed, combined


def _fold_chunk(
    chunk: pd.DataFrame, vocabularies: dict[str, pd.Index], bit_of: np.ndarray, role_of: np.ndarray
):
    """Fold one slice of events into partial per-key counts and masks."""
    user = vocabularies["user_id"].get_indexer(chunk["user_id"]).astype(np.int64)
    is_activity = chunk["type"].isin(ACTIVITY_TYPES).to_numpy(dtype=bool, na_value=False)
    keep = is_activity & (user >= 0)
    track = (chunk["type"] == "track").to_numpy(dtype=bool, na_value=False)[keep]
    workspace = vocabularies["workspace_id"].get_indexer(chunk["workspace_id"])[keep]
    day = epoch_days(chunk["timestamp"])[keep]
    attributed = epoch_days(chunk["attributed_at"].fillna(chunk["timestamp"]))[keep]
    role = role_of[vocabularies["role"].get_indexer(chunk["role"])[keep]]
    bit = np.where(track, bit_of[vocabularies["event"].get_indexer(chunk["event"])[keep]], -1)

    n = len(day)
    counts = np.zeros((n, len(COUNT_COLUMNS)), dtype=np.int32)
    counts[:, 0] = 1
    has_role = role >= 0
    counts[np.flatnonzero(has_role), 1 + role[has_role]] = 1
    masks = np.where(
        bit >= 0, np.left_shift(np.uint64(1), np.maximum(bit, 0).astype(np.uint64)), np.uint64(0)
    ).astype(np.uint64)
    keys = [user[keep], workspace.astype(np.int64) + 1, day, np.maximum(day, attributed)]
    return _aggregate(keys, counts, masks), int((is_activity & (user < 0)).sum())


def daily_activity(tables: Tables, config: Config) -> pd.DataFrame:
    """Fold product events into one row per (user, workspace, day, available day).

    The events are folded in slices of :data:`CHUNK_EVENTS` and the partial rows folded
    again, so memory stays bounded however many events there are.

    Parameters
    ----------
    tables : Tables
        Normalized tables; only ``events`` is read.
    config : Config
        The product's configuration. Event roles were assigned from its vocabulary at
        ingestion (the ``role`` column), so it is not read again here.

    Returns
    -------
    DataFrame
        The schema in the module docstring, sorted by ``available_day, day, user_id,
        workspace_id``; ``attrs["event_names"]`` names the bits of ``event_mask``.
    """
    del config  # roles were applied at ingestion under the same config
    events = tables.events
    vocabularies = {
        name: _vocabulary(events[name]) for name in ("user_id", "workspace_id", "role", "event")
    }
    bit_of, names = _bit_positions(events, vocabularies["event"])
    role_of = np.array(
        [ROLE_COLUMNS.index(r) if r in ROLE_COLUMNS else -1 for r in vocabularies["role"]] + [-1],
        dtype=np.int64,
    )

    parts, dropped = [], 0
    for start in range(0, len(events), CHUNK_EVENTS):
        part, anonymous = _fold_chunk(
            events.iloc[start : start + CHUNK_EVENTS], vocabularies, bit_of, role_of
        )
        parts.append(part)
        dropped += anonymous
    if dropped:
        logger.info("Left out %d anonymous events that were never tied to a user", dropped)
    if parts:
        keys = [np.concatenate([p[0][i] for p in parts]) for i in range(4)]
        counts = np.concatenate([p[1] for p in parts])
        masks = np.concatenate([p[2] for p in parts])
    else:
        keys = [np.zeros(0, dtype=np.int64) for _ in range(4)]
        counts = np.zeros((0, len(COUNT_COLUMNS)), dtype=np.int32)
        masks = np.zeros(0, dtype=np.uint64)
    n_events = int(counts[:, 0].sum())
    (user, workspace, day, available), counts, masks = _aggregate(keys, counts, masks)

    order = np.lexsort((workspace, user, day, available))
    users = np.asarray(vocabularies["user_id"], dtype=object)
    workspaces = np.append(np.asarray(vocabularies["workspace_id"], dtype=object), None)
    # workspace codes were shifted by one so that "no workspace" (-1) became 0
    frame = pd.DataFrame(
        {
            "user_id": pd.array(users[user[order]], dtype="str"),
            "workspace_id": pd.array(workspaces[workspace[order] - 1], dtype="str"),
            "day": days_to_timestamps(day[order]),
            "available_day": days_to_timestamps(available[order]),
        }
    )
    for position, name in enumerate(COUNT_COLUMNS):
        frame[name] = counts[order, position]
    frame["event_mask"] = masks[order]
    frame.attrs["event_names"] = names
    logger.info("Folded %d events into %d daily activity rows", n_events, len(frame))
    return frame


class ActivityArrays:
    """The activity table as integer arrays sorted by available day, for fast snapshots.

    Users and workspaces are integer codes into :attr:`users` and :attr:`workspaces`
    (``-1`` for a row without workspace). Days are whole days since 1970-01-01.
    """

    def __init__(self, activity: pd.DataFrame, users: pd.Index, workspaces: pd.Index) -> None:
        self.users = users
        self.workspaces = workspaces
        self.event_names: tuple[str, ...] = tuple(activity.attrs.get("event_names", ()))
        self.user = users.get_indexer(activity["user_id"]).astype(np.int64)
        has_workspace = activity["workspace_id"].notna().to_numpy()
        self.workspace = np.full(len(activity), -1, dtype=np.int64)
        self.workspace[has_workspace] = workspaces.get_indexer(
            activity["workspace_id"][has_workspace]
        )
        self.day = epoch_days(activity["day"])
        self.available = epoch_days(activity["available_day"])
        order = np.argsort(self.available, kind="stable")
        if not np.array_equal(order, np.arange(len(order))):
            self.user, self.workspace = self.user[order], self.workspace[order]
            self.day, self.available = self.day[order], self.available[order]
            activity = activity.iloc[order]
        self.counts = {name: activity[name].to_numpy(np.int32) for name in COUNT_COLUMNS}
        self.mask = activity["event_mask"].to_numpy(np.uint64)
        self.firsts = self._first_rows()
        self.role_rows = {
            name: np.flatnonzero(self.counts[name] > 0)
            for name in (
                "admin_change",
                "page_pricing",
                "page_security",
                "page_legal",
                "page_enterprise",
            )
        }

    def __len__(self) -> int:
        return len(self.day)

    def _first_rows(self) -> dict[str, np.ndarray]:
        """Rows that can be the earliest day of their (user, workspace) at some as-of date.

        A row is needed only if no other row of the same pair is both available earlier
        (or as early) and dated earlier (or as early); this keeps about one row per pair.
        """
        pair = self.user * (len(self.workspaces) + 1) + (self.workspace + 1)
        order = np.lexsort((self.day, self.available, pair))
        pair_s, day_s = pair[order], self.day[order]
        running = pd.Series(day_s).groupby(pair_s).cummin().to_numpy()
        previous = np.concatenate([[np.iinfo(np.int64).max], running[:-1]])
        starts = np.concatenate([[True], pair_s[1:] != pair_s[:-1]]) if len(pair_s) else []
        keep = np.asarray(starts, dtype=bool) | (day_s < previous)
        rows = order[keep]
        return {
            "user": self.user[rows],
            "workspace": self.workspace[rows],
            "day": self.day[rows],
            "available": self.available[rows],
        }

    def before(self, as_of_day: int, since_day: int | None = None) -> slice:
        """Slice of rows available before ``as_of_day`` (and, optionally, from ``since_day``)."""
        stop = int(np.searchsorted(self.available, as_of_day, side="left"))
        start = 0 if since_day is None else int(np.searchsorted(self.available, since_day))
        return slice(start, stop)


def days_ago(as_of_day: int, days: np.ndarray) -> np.ndarray:
    """Days from ``days`` (epoch days, NaN for none) to the as-of day, as float."""
    return as_of_day - np.asarray(days, dtype=np.float64)


def timestamps(days: np.ndarray) -> pd.DatetimeIndex:
    """Epoch days (float, NaN for none) as UTC midnights (NaT for none)."""
    days = np.asarray(days, dtype=np.float64)
    known = np.isfinite(days)
    result = pd.DatetimeIndex([pd.NaT] * len(days), tz="UTC").as_unit("s")
    if known.any():
        stamps = days_to_timestamps(days[known].astype(np.int64))
        values = result.to_numpy(copy=True)
        values[known] = stamps.tz_localize(None).to_numpy()
        result = pd.DatetimeIndex(values).tz_localize("UTC")
    return result
