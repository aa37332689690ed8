"""Realistic faults in the event files, to exercise ingestion.

Every fault is an extra line beside the company's valid messages, so the valid
messages (and the truth) are the same with and without faults:
``lines written = valid messages + sum of the fault counts``.
"""

from __future__ import annotations

import numpy as np
import orjson

FAULT_KINDS = (
    "duplicate",
    "malformed_json",
    "invalid_utf8",
    "screen",
    "alias",
    "unknown_type",
    "missing_timestamp",
    "future_timestamp",
)
"""Kinds of fault lines, as counted in the simulation summary."""

_RATES = {
    # expected fault lines per company (duplicates: per valid message)
    "duplicate": 0.003,
    "malformed_json": 0.15,
    "invalid_utf8": 0.01,
    "screen": 0.2,
    "alias": 0.1,
    "unknown_type": 0.05,
    "missing_timestamp": 0.1,
    "future_timestamp": 0.1,
}
_FUTURE_YEARS = 30


def fault_lines(
    lines: list[str],
    company_index: int,
    user_ids: list[str],
    anonymous_ids: list[str],
    end_iso: str,
    seed: int,
) -> tuple[list[str], dict[str, int]]:
    """Draw one company's fault lines.

    Parameters
    ----------
    lines : list of str
        The company's valid messages (duplicates and truncated copies come from these).
    company_index : int
        Company number; faults use the stream ``default_rng([seed, company_index, 3])``.
    user_ids, anonymous_ids : list of str
        The company's user ids and anonymous ids, for the extra messages.
    end_iso : str
        End of the history as ``YYYY-MM-DD``; future timestamps lie decades after it.
    seed : int
        World seed.

    Returns
    -------
    tuple of (list of str, dict of str to int)
        The fault lines (non-UTF-8 ones as surrogate-escaped text) and their count per kind.
        Company 0 always gets one line of each kind, so every faulty world has them all.
    """
    rng = np.random.default_rng([seed, company_index, 3])
    counts = {
        kind: int(rng.poisson(rate * (len(lines) if kind == "duplicate" else 1)))
        for kind, rate in _RATES.items()
    }
    if company_index == 0:
        counts = {kind: max(n, 1) for kind, n in counts.items()}
    if not lines or not user_ids:
        counts["duplicate"] = counts["malformed_json"] = 0

    out: list[str] = []
    serial = iter(range(1_000_000))

    def new_id() -> str:
        return f"{company_index:06x}-f{next(serial):x}"

    def pick_user() -> int:
        return int(rng.integers(len(user_ids))) if user_ids else 0

    for _ in range(counts["duplicate"]):
        out.append(lines[rng.integers(len(lines))])
    for _ in range(counts["malformed_json"]):
        line = lines[rng.integers(len(lines))]
        out.append(line[: int(rng.integers(1, max(2, len(line) - 1)))])
    for _ in range(counts["invalid_utf8"]):
        out.append('{"type":"track","event":"\udcff\udcfe\udcfa"}')
    stamp = f"{end_iso}T00:00:00Z"
    for _ in range(counts["screen"]):
        u = pick_user()
        out.append(_dump(new_id(), "screen", stamp, user_ids, u, {"name": "Home"}))
    for _ in range(counts["alias"]):
        u = pick_user()
        out.append(_dump(new_id(), "alias", stamp, user_ids, u, {"previousId": anonymous_ids[u]}))
    for _ in range(counts["unknown_type"]):
        u = pick_user()
        out.append(_dump(new_id(), "foo", stamp, user_ids, u, {"event": "Task Completed"}))
    for _ in range(counts["missing_timestamp"]):
        u = pick_user()
        out.append(_dump(new_id(), "track", None, user_ids, u, {"event": "Signed In"}))
    future = f"{int(end_iso[:4]) + _FUTURE_YEARS}-06-15T12:00:00+02:00"
    for _ in range(counts["future_timestamp"]):
        u = pick_user()
        out.append(_dump(new_id(), "track", future, user_ids, u, {"event": "Signed In"}))
    return out, counts


def _dump(
    message_id: str, kind: str, stamp: str | None, user_ids: list[str], user: int, extra: dict
) -> str:
    message: dict = {"messageId": message_id, "type": kind}
    if stamp is not None:
        message["timestamp"] = stamp
    if user_ids:
        message["userId"] = user_ids[user]
    message.update(extra)
    return orjson.dumps(message).decode()
