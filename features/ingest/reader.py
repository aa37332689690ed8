"""Read raw Segment exports in chunks: JSON Lines (plain or gzipped) and Parquet.

Files are read in a fixed order (sorted relative path) and in chunks of about
``chunk_bytes`` of decompressed text, so memory stays flat whatever the input size.
A JSON Lines chunk is parsed by Arrow in one go; when that fails (a malformed line,
bytes that are not UTF-8, a field of an unexpected type) the chunk's lines are checked
one by one with orjson, the bad ones rejected with their line number, and the rest
parsed again. Blank lines are not records: they are skipped and not counted.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from features.ingest.messages import flat_from_messages, flatten_nested, json_schema
from features.ingest.privacy import mask_emails

logger = logging.getLogger(__name__)

EVENT_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
RAW_TEXT_LIMIT = 300
"""Characters of a rejected record's text kept in the quarantine file."""

_ARROW_BLOCK = 4 * 1024 * 1024


@dataclass
class Rejection:
    """A record that could not be read: where it is and why."""

    line: int
    reason: str
    raw: str


@dataclass
class RawChunk:
    """One chunk of one input file, flattened.

    Attributes
    ----------
    file : str
        Path relative to the data directory, with ``/`` separators.
    flat : pa.Table
        Parsed messages, one row per record, in FLAT_SCHEMA.
    lines : np.ndarray
        1-based line (or Parquet row) number of each row of ``flat``.
    rejections : list of Rejection
        Records that could not be parsed at all.
    source : bytes or None
        The chunk's text (JSON Lines), to quote rejected records.
    first_line : int
        Line number of the first line of ``source``.
    """

    file: str
    flat: pa.Table
    lines: np.ndarray
    rejections: list[Rejection] = field(default_factory=list)
    source: bytes | None = None
    first_line: int = 1

    @property
    def records(self) -> int:
        return self.flat.num_rows + len(self.rejections)

    def raw_text(self, positions: np.ndarray) -> list[str]:
        """Return the (truncated, email-masked) text of the rows at ``positions``."""
        if self.source is not None:
            split = self.source.split(b"\n")
            texts = [split[self.lines[p] - self.first_line] for p in positions]
            return [_quote(t) for t in texts]
        rows = self.flat.take(pa.array(positions, pa.int64())).to_pylist()
        return [_quote(json.dumps(r, default=str).encode()) for r in rows]


def _quote(raw: bytes) -> str:
    return mask_emails(raw[: RAW_TEXT_LIMIT * 4].decode("utf-8", errors="replace"))[:RAW_TEXT_LIMIT]


def event_files(events_dir: Path) -> list[Path]:
    """Every ``*.jsonl``, ``*.jsonl.gz`` and ``*.parquet`` under ``events_dir``, sorted."""
    found = [p for p in events_dir.rglob("*") if p.is_file() and p.name.endswith(EVENT_SUFFIXES)]
    return sorted(found, key=lambda p: p.relative_to(events_dir).as_posix())


def _text_blocks(path: Path, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Yield ``(buffer of whole lines, bytes of the file consumed so far)``."""
    with (
        open(path, "rb") as raw,
        gzip.GzipFile(fileobj=raw) if path.name.endswith(".gz") else raw as f,
    ):
        rest = b""
        while True:
            data = f.read(chunk_bytes)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            rest = data[cut:]
            yield data[:cut], raw.tell()
        if rest:
            yield rest + b"\n", raw.tell()


def prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """Iterate ``items`` in a background thread, ``depth`` items ahead of the consumer.

    Decompression and Arrow parsing release the GIL, so reading and parsing the next
    chunk overlaps with the work on the current one. An exception raised while
    producing is raised in the consumer.
    """
    queue: Queue = Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as err:  # handed to the consumer, raised there
            put(err)

    worker = threading.Thread(target=produce, name="ingest-reader", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _arrow_parse(buffer: bytes, schema: pa.Schema, role_property: str) -> pa.Table:
    table = pa_json.read_json(
        io.BytesIO(buffer),
        read_options=pa_json.ReadOptions(block_size=_ARROW_BLOCK, use_threads=True),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        ),
    )
    return flatten_nested(table, role_property)


def _fast_chunk(buffer: bytes, schema, role_property: str) -> pa.Table | None:
    """Parse a whole buffer with Arrow; None when any line needs individual attention."""
    try:
        buffer.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        table = _arrow_parse(buffer, schema, role_property)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    # Arrow skips blank lines; then rows no longer match line numbers.
    return table if table.num_rows == buffer.count(b"\n") else None


def flat_from_dicts(messages: list[dict], role_property: str) -> pa.Table:
    """Flatten parsed Segment messages to FLAT_SCHEMA, the way a JSON Lines chunk is.

    The messages go through Arrow's JSON reader, as a file's lines do, and only when
    Arrow refuses one of them (a field of an unexpected type) through the slower
    per-message path; a few thousand messages flatten in milliseconds either way.
    """
    try:
        buffer = b"\n".join(map(orjson.dumps, messages)) + b"\n"
    except (TypeError, orjson.JSONEncodeError):
        return flat_from_messages(messages, role_property)
    flat = _fast_chunk(buffer, json_schema(role_property), role_property) if messages else None
    return flat if flat is not None else flat_from_messages(messages, role_property)


def _slow_chunk(
    buffer: bytes, first_line: int, schema, role_property: str
) -> tuple[pa.Table, np.ndarray, list[Rejection]]:
    """Check each line, reject bad ones with their number, parse the rest."""
    good_lines: list[bytes] = []
    numbers: list[int] = []
    messages: list[dict] = []
    rejections: list[Rejection] = []
    for offset, line in enumerate(buffer.split(b"\n")[:-1]):
        number = first_line + offset
        if not line.strip():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            rejections.append(Rejection(number, "invalid_utf8", _quote(line)))
            continue
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            rejections.append(Rejection(number, "malformed_json", _quote(line)))
            continue
        if not isinstance(message, dict):
            rejections.append(Rejection(number, "not_an_object", _quote(line)))
            continue
        good_lines.append(line)
        numbers.append(number)
        messages.append(message)
    try:
        flat = _arrow_parse(b"\n".join(good_lines) + b"\n", schema, role_property)
        if flat.num_rows != len(good_lines):
            raise pa.ArrowInvalid("row count differs from line count")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        flat = flat_from_messages(messages, role_property)
    return flat, np.asarray(numbers, dtype=np.int64), rejections


def read_jsonl(
    path: Path, relative: str, role_property: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[tuple[RawChunk, int]]:
    """Yield ``(chunk, bytes of the file consumed)`` for a JSON Lines file."""
    schema = json_schema(role_property)
    first_line = 1
    for buffer, consumed in _text_blocks(path, chunk_bytes):
        count = buffer.count(b"\n")
        flat = _fast_chunk(buffer, schema, role_property)
        if flat is not None:
            lines = np.arange(first_line, first_line + count, dtype=np.int64)
            chunk = RawChunk(relative, flat, lines, [], buffer, first_line)
        else:
            flat, lines, rejections = _slow_chunk(buffer, first_line, schema, role_property)
            logger.debug("%s: %d lines checked one by one", relative, count)
            chunk = RawChunk(relative, flat, lines, rejections, buffer, first_line)
        yield chunk, consumed
        first_line += count


def read_parquet(
    path: Path, relative: str, role_property: str, batch_rows: int = 200_000
) -> Iterator[tuple[RawChunk, int]]:
    """Yield ``(chunk, bytes of the file consumed)`` for a Parquet file of messages."""
    parquet = pq.ParquetFile(path)
    size = path.stat().st_size
    total = max(parquet.metadata.num_rows, 1)
    first = 1
    for batch in parquet.iter_batches(batch_size=batch_rows):
        table = pa.Table.from_batches([batch])
        try:
            flat = flatten_nested(table, role_property)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            flat = flat_from_messages(table.to_pylist(), role_property)
        lines = np.arange(first, first + table.num_rows, dtype=np.int64)
        first += table.num_rows
        yield RawChunk(relative, flat, lines), int(size * (first - 1) / total)


def read_file(
    path: Path, relative: str, role_property: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[tuple[RawChunk, int]]:
    """Chunks of any supported event file."""
    if path.name.endswith(".parquet"):
        return read_parquet(path, relative, role_property)
    return read_jsonl(path, relative, role_property, chunk_bytes)
