"""Segment messages as a flat Arrow table: the one shape every input is turned into.

Three readers feed normalization: JSON Lines parsed by Arrow (fast path), Parquet files
with the same nested fields, and Python dictionaries (the HTTP service's in-memory
messages, and JSON lines that Arrow could not parse as a block). Each produces the flat
table :data:`FLAT_SCHEMA` so that one normalization serves them all.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# flat column -> (path in the Segment message, type)
_STRING_FIELDS: dict[str, tuple[str, ...]] = {
    "message_id": ("messageId",),
    "type": ("type",),
    "timestamp": ("timestamp",),
    "user_id": ("userId",),
    "anonymous_id": ("anonymousId",),
    "event": ("event",),
    "name": ("name",),
    "group_id": ("groupId",),
    "context_group_id": ("context", "groupId"),
    "path": ("properties", "path"),
    "url": ("properties", "url"),
    "email": ("traits", "email"),
    "title": ("traits", "title"),
    "company_size": ("traits", "company_size"),
    "department": ("traits", "department"),
    "seniority": ("traits", "seniority"),
    "use_case": ("traits", "use_case"),
    "group_name": ("traits", "name"),
    "plan": ("traits", "plan"),
    "industry": ("traits", "industry"),
    "website": ("traits", "website"),
}
_FLOAT_FIELDS: dict[str, tuple[str, ...]] = {"employees": ("traits", "employees")}


def field_paths(role_property: str) -> dict[str, tuple[str, ...]]:
    """Return ``{flat column: path}`` including the configured role-change property."""
    return {
        **_STRING_FIELDS,
        "role_value": ("properties", role_property),
        **_FLOAT_FIELDS,
    }


FLAT_SCHEMA = pa.schema(
    [(name, pa.string()) for name in [*_STRING_FIELDS, "role_value"]]
    + [(name, pa.float64()) for name in _FLOAT_FIELDS]
)
"""Columns of a flat message table, before normalization."""


def json_schema(role_property: str) -> pa.Schema:
    """The nested Arrow schema to parse Segment JSON lines with, unused fields ignored."""
    nested: dict[str, dict[str, pa.DataType]] = {}
    top: dict[str, pa.DataType] = {}
    for column, path in field_paths(role_property).items():
        kind = FLAT_SCHEMA.field(column).type
        if len(path) == 1:
            top[path[0]] = kind
        else:
            nested.setdefault(path[0], {})[path[1]] = kind
    fields = [pa.field(name, kind) for name, kind in top.items()]
    fields += [
        pa.field(name, pa.struct(list(children.items()))) for name, children in nested.items()
    ]
    return pa.schema(fields)


def _child(table: pa.Table, path: tuple[str, ...]) -> pa.ChunkedArray | None:
    if path[0] not in table.column_names:
        return None
    column = table.column(path[0])
    for name in path[1:]:
        if not pa.types.is_struct(column.type) or column.type.get_field_index(name) < 0:
            return None
        column = pc.struct_field(column, name)
    return column


def flatten_nested(table: pa.Table, role_property: str) -> pa.Table:
    """Flatten a nested message table (from JSON or Parquet) to :data:`FLAT_SCHEMA`.

    Raises
    ------
    pa.ArrowInvalid, pa.ArrowNotImplementedError
        When a field holds values of a type that cannot be cast (e.g. an object where a
        string is expected); callers then fall back to :func:`flat_from_messages`.
    """
    columns = []
    for column, path in field_paths(role_property).items():
        kind = FLAT_SCHEMA.field(column).type
        values = _child(table, path)
        if values is None:
            columns.append(pa.nulls(table.num_rows, kind))
            continue
        if pa.types.is_timestamp(values.type):
            # a typed Parquet timestamp; naive ones are read as UTC
            if values.type.tz is None:
                values = values.cast(pa.timestamp(values.type.unit, "UTC"))
            values = pc.strftime(values, "%Y-%m-%dT%H:%M:%S%z")
        if pa.types.is_string(kind) and not (
            pa.types.is_string(values.type)
            or pa.types.is_large_string(values.type)
            or pa.types.is_null(values.type)
        ):
            raise pa.ArrowInvalid(f"field {'.'.join(path)} holds {values.type}, not strings")
        columns.append(pc.cast(values, kind))
    return pa.Table.from_arrays(columns, schema=FLAT_SCHEMA)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _children(parents: list, name: str) -> list:
    """The value under ``name`` of each parent; None where a parent is not an object."""
    return [value.get(name) if type(value) is dict else None for value in parents]


def flat_from_messages(messages: list[dict], role_property: str) -> pa.Table:
    """Flatten Segment message dictionaries to :data:`FLAT_SCHEMA`.

    Numbers where text is expected become text (``"userId": 42`` -> ``"42"``); values of
    any other wrong type become null, so that validation reports them by field. Works
    column by column, reading each nested object (``context``, ``traits``, ...) once.
    """
    levels: dict[tuple[str, ...], list] = {(): messages}
    columns: dict[str, list] = {}
    for column, path in field_paths(role_property).items():
        for depth in range(1, len(path) + 1):
            if path[:depth] not in levels:
                levels[path[:depth]] = _children(levels[path[: depth - 1]], path[depth - 1])
        raw = levels[path]
        if column in _FLOAT_FIELDS:
            columns[column] = [_number(value) for value in raw]
        else:
            columns[column] = [value if type(value) is str else _text(value) for value in raw]
    return pa.Table.from_pydict(columns, schema=FLAT_SCHEMA)
