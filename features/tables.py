"""The normalized tables that ingestion writes and every later step reads.

The schemas live in :mod:`pqa.contract`. In memory the tables are pandas frames with
UTC timestamps; on disk ``events`` is a folder of Parquet parts and the other tables
are single Parquet files.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pqa.contract import TABLES


@dataclass(frozen=True)
class Tables:
    """One data set in normalized form: product events, identities, groups and CRM."""

    events: pd.DataFrame
    identities: pd.DataFrame
    groups: pd.DataFrame
    crm_accounts: pd.DataFrame
    opportunities: pd.DataFrame

    def replace(self, **frames: pd.DataFrame) -> Tables:
        """Return a copy with some tables swapped for others."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        return Tables(**{**current, **frames})


def empty_frame(name: str) -> pd.DataFrame:
    """Return an empty frame with the columns and dtypes of table ``name``."""
    return TABLES[name].empty_table().to_pandas()


def frame_from_records(name: str, records: list[dict]) -> pd.DataFrame:
    """Build table ``name`` from row dictionaries, coercing to its schema.

    Missing columns are filled with nulls; unknown keys are an error, so that tests
    and callers cannot silently misspell a column.
    """
    schema = TABLES[name]
    unknown = {key for record in records for key in record} - set(schema.names)
    if unknown:
        raise ValueError(
            f"table '{name}' has no column(s) {sorted(unknown)}; its columns are {schema.names}"
        )
    arrays = {}
    for field in schema:
        values = [record.get(field.name) for record in records]
        if pa.types.is_timestamp(field.type):
            values = [_utc(value) for value in values]
        arrays[field.name] = pa.array(values, type=field.type, from_pandas=True)
    table = pa.Table.from_pydict(arrays, schema=schema)
    return table.to_pandas()


def _utc(value) -> pd.Timestamp | None:
    """Read a timestamp given as text, date or Timestamp; naive values are taken as UTC."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def tables_from_records(**records: list[dict]) -> Tables:
    """Build a :class:`Tables` from lists of row dictionaries; absent tables are empty."""
    return Tables(**{name: frame_from_records(name, records.get(name, [])) for name in TABLES})


def load_tables(directory: str | Path) -> Tables:
    """Read the normalized tables that ``pqa ingest`` wrote to ``directory``."""
    directory = Path(directory)
    if not (directory / "events").is_dir():
        raise FileNotFoundError(
            f"{directory} holds no normalized tables (no events/ folder); "
            "run 'pqa ingest DATA_DIR --out DIR' first"
        )
    frames = {}
    for name, schema in TABLES.items():
        path = directory / name if name == "events" else directory / f"{name}.parquet"
        if name == "events":
            parts = sorted(path.glob("*.parquet"))
            table = (
                pa.concat_tables([pq.read_table(p, schema=schema) for p in parts])
                if parts
                else schema.empty_table()
            )
        elif path.exists():
            table = pq.read_table(path, schema=schema)
        else:
            table = schema.empty_table()
        frames[name] = table.to_pandas()
    return Tables(**frames)
