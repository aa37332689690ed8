"""Drop resent messages: one row per messageId, chosen the same way whatever the file order.

Among copies of a messageId the kept one is the first by (timestamp, file, line). Files
are read in sorted order and lines in order, so "file, line" is the order in which rows
arrive. Message ids are kept as 64-bit hashes with their timestamps (16 bytes per
message), so memory grows with the number of messages but stays small; two different
ids sharing a hash (chance about n^2 / 2^65, i.e. under 1e-5 for 10 million messages)
would be taken for duplicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def message_hashes(message_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Stable 64-bit hashes of message ids (the same across runs and machines)."""
    values = message_ids.to_numpy(zero_copy_only=False)
    return pd.util.hash_array(np.asarray(values, dtype=object), categorize=False)


def first_of_each(hashes: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Boolean mask keeping, per hash, the row with the smallest (timestamp, position)."""
    ordered = np.sort(hashes)
    if not (ordered[1:] == ordered[:-1]).any():
        return np.ones(len(hashes), dtype=bool)
    order = np.lexsort((np.arange(len(hashes)), timestamps, hashes))
    sorted_hashes = hashes[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_hashes[1:] != sorted_hashes[:-1]
    keep = np.zeros(len(order), dtype=bool)
    keep[order[first]] = True
    return keep


class DuplicateTracker:
    """Collects every kept message of a run, chunk by chunk, to find cross-chunk copies."""

    def __init__(self) -> None:
        self._hashes: list[np.ndarray] = []
        self._timestamps: list[np.ndarray] = []
        self._chunks: list[np.ndarray] = []

    def add(self, chunk: int, hashes: np.ndarray, timestamps: np.ndarray) -> None:
        """Record a chunk's messages (already unique within the chunk) in arrival order."""
        self._hashes.append(hashes)
        self._timestamps.append(timestamps)
        self._chunks.append(np.full(len(hashes), chunk, dtype=np.int32))

    def losers(self) -> pd.DataFrame:
        """Return ``chunk, hash`` of every row that a copy elsewhere wins over."""
        if not self._hashes:
            return pd.DataFrame({"chunk": np.array([], np.int32), "hash": np.array([], np.uint64)})
        hashes = np.concatenate(self._hashes)
        keep = first_of_each(hashes, np.concatenate(self._timestamps))
        chunks = np.concatenate(self._chunks)
        return pd.DataFrame({"chunk": chunks[~keep], "hash": hashes[~keep]})


def drop_losers(
    table: pa.Table, losers: pd.DataFrame, chunk_column: str = "_chunk", hash_column: str = "_hash"
) -> pa.Table:
    """Remove the rows of ``table`` whose (chunk, hash) is among ``losers``."""
    if losers.empty or table.num_rows == 0:
        return table
    keys = pd.MultiIndex.from_arrays(
        [table.column(chunk_column).to_numpy(), table.column(hash_column).to_numpy()]
    )
    lost = keys.isin(pd.MultiIndex.from_frame(losers[["chunk", "hash"]]))
    return table.filter(pa.array(~lost))
