"""Batch ingestion: raw exports in a data directory -> normalized Parquet tables.

The events are streamed chunk by chunk (see :mod:`features.ingest.reader`); each chunk
is validated and normalized (:mod:`features.ingest.normalize`), made unique by messageId
within itself, and its identified events written at once as their own part
``events/part-NNNNN.parquet``. What needs the whole input waits for the end, and is
small: the message-id hashes (16 bytes per message) to find copies across chunks, the
identify and group rows, and the anonymous events, kept aside on disk until the
identify calls that stitch them are all known. At the end, parts holding a copy that
lost to an earlier one are rewritten without it, and the stitched anonymous events are
written as the last part.

Everything is built in a staging folder renamed into place at the end, so a crash never
leaves a half-written output. Every output is sorted by a total order, so the same input
gives byte-identical Parquet files.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.accounts import resolve_accounts
from features.ingest.crm import read_crm
from features.ingest.dedupe import DuplicateTracker, drop_losers, first_of_each, message_hashes
from features.ingest.normalize import normalize_flat
from features.ingest.reader import (
    DEFAULT_CHUNK_BYTES,
    RawChunk,
    event_files,
    prefetch,
    read_file,
)
from features.ingest.report import REPORT_FILE, IngestReport
from features.ingest.stitching import LINK_COLUMNS, stitch
from features.tables import Tables
from pqa.config import Config
from pqa.contract import EVENTS_SCHEMA, GROUPS_SCHEMA, IDENTITIES_SCHEMA
from pqa.io import atomic_path

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
QUARANTINE_FILE = "quarantine.jsonl"
_PENDING = "_pending"


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` with fixed settings so equal tables give equal bytes."""
    pq.write_table(table, path, compression="snappy", row_group_size=1_000_000)


def _tagged(table: pa.Table, kept_positions: np.ndarray, chunk: int) -> pa.Table:
    """Rows of ``table`` that survived in-chunk dedupe, with their ``_chunk`` and ``_hash``."""
    table = table.filter(pa.array(np.isin(table.column("position").to_numpy(), kept_positions)))
    table = table.append_column("_hash", pa.array(message_hashes(table.column("message_id"))))
    chunks = np.full(table.num_rows, chunk, np.int32)
    return table.append_column("_chunk", pa.array(chunks))


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


class _Run:
    """The state of one ingestion run while chunks stream through."""

    def __init__(self, staged: Path, config: Config, now: datetime) -> None:
        self.staged = staged
        self.config = config
        self.now = now
        self.report = IngestReport()
        self.tracker = DuplicateTracker()
        self.parts: dict[int, Path] = {}
        self.identities: list[pa.Table] = []
        self.groups: list[pa.Table] = []
        self.links: list[pa.Table] = []
        self.workspaces: set[str] = set()
        self.users: set[str] = set()
        self.chunks = 0
        (staged / "events").mkdir(parents=True)
        (staged / _PENDING).mkdir()
        self.quarantine = open(staged / QUARANTINE_FILE, "w", encoding="utf-8")  # noqa: SIM115 - closed in finish()

    # -------------------------------------------------------------- streaming
    def add(self, chunk: RawChunk) -> None:
        normalized = normalize_flat(chunk.flat, self.config, self.now)
        self.report.input_records += chunk.records
        self.report.event_records += chunk.records
        self._quarantine(chunk, normalized.reasons)
        unused = pc.utf8_lower(chunk.flat.column("type")).filter(normalized.unused)
        self.report.counted_unused.update(unused.to_pylist())

        rows = normalized.rows
        hashes = message_hashes(rows.column("message_id"))
        stamps = rows.column("timestamp").cast(pa.int64()).to_numpy()
        unique = first_of_each(hashes, stamps)
        self.report.duplicates += int((~unique).sum())
        rows, hashes, stamps = rows.filter(pa.array(unique)), hashes[unique], stamps[unique]

        number = self.chunks
        self.chunks += 1
        self.tracker.add(number, hashes, stamps)
        rows = rows.append_column("_hash", pa.array(hashes, pa.uint64()))
        rows = rows.append_column("_chunk", pa.array(np.full(len(hashes), number, np.int32)))
        positions = rows.column("position").to_numpy()
        self.identities.append(_tagged(normalized.identities, positions, number))
        self.groups.append(_tagged(normalized.groups, positions, number))
        self._keep(number, rows)

    def _quarantine(self, chunk: RawChunk, reasons: pa.Array) -> None:
        rejected = np.flatnonzero(pc.is_valid(reasons).to_numpy(zero_copy_only=False))
        entries = [(r.line, r.reason, r.raw) for r in chunk.rejections]
        if len(rejected):
            texts = chunk.raw_text(rejected)
            labels = reasons.take(pa.array(rejected)).to_pylist()
            lines = chunk.lines[rejected].tolist()
            entries += list(zip(lines, labels, texts, strict=True))
        for line, reason, raw in sorted(entries):
            self.report.by_reason[reason] += 1
            record = {"file": chunk.file, "line": line, "reason": reason, "raw": raw}
            self.quarantine.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _keep(self, number: int, rows: pa.Table) -> None:
        kind = rows.column("type")
        counts = pc.value_counts(kind).flatten() if rows.num_rows else [[], []]
        self.report.accepted_by_type.update(
            dict(zip(counts[0].to_pylist(), counts[1].to_pylist(), strict=True))
            if rows.num_rows
            else {}
        )
        self.workspaces.update(pc.unique(rows.column("workspace_id").drop_null()).to_pylist())
        self.links.append(
            rows.filter(
                pc.and_(pc.equal(kind, "identify"), pc.is_valid(rows.column("anonymous_id")))
            ).select([*LINK_COLUMNS, "_chunk", "_hash"])
        )
        anonymous = pc.is_null(rows.column("user_id"))
        pending = rows.filter(anonymous).select([*EVENTS_SCHEMA.names, "_chunk", "_hash"])
        if pending.num_rows:
            write_parquet(pending, self.staged / _PENDING / f"anonymous-{number:05d}.parquet")
        identified = rows.filter(pc.invert(anonymous))
        if identified.num_rows:
            self.users.update(pc.unique(identified.column("user_id")).to_pylist())
            part = self.staged / "events" / f"part-{number:05d}.parquet"
            events = _sorted(identified.select(EVENTS_SCHEMA.names), ["timestamp", "message_id"])
            write_parquet(events.cast(EVENTS_SCHEMA), part)
            self.parts[number] = part

    # -------------------------------------------------------------- finishing
    def finish(self, crm) -> None:
        self.quarantine.close()
        losers = self.tracker.losers()
        self.report.duplicates += len(losers)
        self._drop_cross_chunk_copies(losers)
        links = pa.concat_tables(self.links)
        links = drop_losers(links, losers)
        self._write_anonymous(losers, links)
        identities = drop_losers(pa.concat_tables(self.identities), losers)
        groups = drop_losers(pa.concat_tables(self.groups), losers)
        self._write_table(identities, IDENTITIES_SCHEMA, "identities")
        self._write_table(groups, GROUPS_SCHEMA, "groups")
        write_parquet(crm.accounts, self.staged / "crm_accounts.parquet")
        write_parquet(crm.opportunities, self.staged / "opportunities.parquet")
        self._count_accounts(identities, groups)
        shutil.rmtree(self.staged / _PENDING)

    def _drop_cross_chunk_copies(self, losers: pd.DataFrame) -> None:
        for number, lost in losers.groupby("chunk"):
            lost_types = Counter()
            part = self.parts.get(int(number))
            if part is None:
                continue
            events = pq.read_table(part, schema=EVENTS_SCHEMA)
            drop = np.isin(message_hashes(events.column("message_id")), lost["hash"].to_numpy())
            if not drop.any():
                continue
            lost_types.update(events.column("type").filter(pa.array(drop)).to_pylist())
            if drop.all():
                part.unlink()
            else:
                write_parquet(events.filter(pa.array(~drop)), part)
            self.report.accepted_by_type.subtract(lost_types)
        # losers among anonymous rows are subtracted in _write_anonymous

    def _write_anonymous(self, losers: pd.DataFrame, links: pa.Table) -> None:
        pending = sorted((self.staged / _PENDING).glob("anonymous-*.parquet"))
        if not pending:
            return
        rows = pa.concat_tables([pq.read_table(p) for p in pending])
        kept = drop_losers(rows, losers)
        self.report.accepted_by_type.subtract(
            Counter(rows.column("type").to_pylist()) - Counter(kept.column("type").to_pylist())
        )
        stitched = stitch(kept.select(EVENTS_SCHEMA.names), links)
        self.users.update(pc.unique(stitched.column("user_id").drop_null()).to_pylist())
        part = self.staged / "events" / f"part-{self.chunks:05d}.parquet"
        write_parquet(_sorted(stitched, ["timestamp", "message_id"]).cast(EVENTS_SCHEMA), part)

    def _write_table(self, rows: pa.Table, schema: pa.Schema, name: str) -> None:
        ordered = _sorted(rows, ["timestamp", "user_id", "message_id"])
        write_parquet(ordered.select(schema.names), self.staged / f"{name}.parquet")

    def _count_accounts(self, identities: pa.Table, groups: pa.Table) -> None:
        tables = Tables(
            events=pd.DataFrame({"workspace_id": sorted(self.workspaces)}, dtype="str"),
            identities=identities.select(IDENTITIES_SCHEMA.names).to_pandas(),
            groups=groups.select(GROUPS_SCHEMA.names).to_pandas(),
            crm_accounts=pd.DataFrame(),
            opportunities=pd.DataFrame(),
        )
        resolved = resolve_accounts(tables)
        self.report.workspaces = len(resolved)
        self.report.accounts = int(resolved["account_id"].nunique())
        self.report.users = len(self.users)


def _chunks(
    data_dir: Path, files: list[Path], role_property: str, chunk_bytes: int
) -> Iterator[tuple[RawChunk, int]]:
    """Every chunk of every file, with the input bytes consumed so far."""
    done = 0
    for path in files:
        relative = path.relative_to(data_dir).as_posix()
        for chunk, consumed in read_file(path, relative, role_property, chunk_bytes):
            yield chunk, done + consumed
        done += path.stat().st_size


def _events_dir(data_dir: Path) -> Path:
    events = data_dir / "events"
    if not events.is_dir():
        raise FileNotFoundError(
            f"{data_dir} has no events/ folder; put the Segment exports (*.jsonl, *.jsonl.gz "
            "or *.parquet) in DATA_DIR/events/ (and the CRM export in DATA_DIR/crm/)"
        )
    return events


def ingest(
    data_dir: str | Path,
    config: Config,
    out: str | Path,
    progress: Progress | None = None,
    *,
    now: datetime | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> IngestReport:
    """Validate, deduplicate and normalize a data directory into Parquet tables at ``out``.

    Parameters
    ----------
    data_dir : str or Path
        Folder with ``events/**/*.jsonl[.gz]`` or ``*.parquet`` and optionally
        ``crm/accounts.csv`` and ``crm/opportunities.csv``.
    config : Config
        Event and page vocabulary, personal email domains.
    out : str or Path
        Output folder; replaced whole, atomically, when ingestion succeeds.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)`` after each chunk.
    now : datetime, optional
        Ingestion time for the future-timestamp check; the current time by default.
    chunk_bytes : int, default 32 MiB
        Decompressed text read per chunk; bounds memory and sets the part size.

    Returns
    -------
    IngestReport
        Also written to ``out/ingest_report.json``.

    Raises
    ------
    FileNotFoundError
        When ``data_dir/events`` does not exist.
    ValueError
        When there are no event records, or a CRM file lacks a required column.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir)
    events_dir = _events_dir(data_dir)
    files = event_files(events_dir)
    if not files:
        raise ValueError(
            f"{events_dir} holds no event files; expected *.jsonl, *.jsonl.gz or *.parquet"
        )
    crm = read_crm(data_dir)  # validates CRM columns before anything is written
    now = now or datetime.now(UTC)
    total = sum(p.stat().st_size for p in files)
    role_property = config.events.role_change.property

    with atomic_path(out) as staged:
        run = _Run(staged, config, now)
        try:
            for chunk, done in prefetch(_chunks(data_dir, files, role_property, chunk_bytes)):
                run.add(chunk)
                if progress is not None:
                    progress(done, total)
            if run.report.event_records == 0:
                raise ValueError(f"the event files in {events_dir} hold no records (all empty)")
            _add_crm(run, crm)
            run.finish(crm)
        finally:
            run.quarantine.close()
        report = run.report
        report.files = len(files)
        report.seconds = time.perf_counter() - started
        report.write(staged / REPORT_FILE)
    logger.info(
        "Ingested %d records from %d files in %.1f s: %d accepted, %d duplicates, %d quarantined",
        report.input_records,
        report.files,
        report.seconds,
        report.accepted,
        report.duplicates,
        report.quarantined,
    )
    return report


def _add_crm(run: _Run, crm) -> None:
    run.report.input_records += crm.records
    run.report.crm_accepted.update(
        {"accounts": crm.accounts.num_rows, "opportunities": crm.opportunities.num_rows}
    )
    for r in crm.rejections:
        run.report.by_reason[r.reason] += 1
        record = {"file": r.file, "line": r.line, "reason": r.reason, "raw": r.raw}
        run.quarantine.write(json.dumps(record, ensure_ascii=False) + "\n")
