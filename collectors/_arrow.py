"""Arrow schemas derived from the canonical tables, so codecs cannot drift from models/."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

_TYPES: tuple[tuple[type[sa.types.TypeEngine[Any]], pa.DataType], ...] = (
    # Most specific first: SmallInteger and BigInteger are Integer subclasses.
    (sa.SmallInteger, pa.int16()),
    (sa.BigInteger, pa.int64()),
    (sa.Integer, pa.int32()),
    (sa.Float, pa.float64()),
    (sa.Boolean, pa.bool_()),
    (sa.DateTime, pa.timestamp("us")),  # naive UTC, as the tables store it
    (sa.String, pa.string()),
)


def arrow_schema(table: sa.Table) -> pa.Schema:
    """The Arrow schema of ``table``: same columns, same order, same nullability."""
    return pa.schema([pa.field(c.name, _arrow_type(c.type), nullable=c.nullable) for c in table.columns])


def _arrow_type(sql_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    for sql_class, arrow_type in _TYPES:
        if isinstance(sql_type, sql_class):
            return arrow_type
    raise TypeError(f"no Arrow type for {sql_type!r}")


def table_from_rows(schema: pa.Schema, rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Build a table from row tuples in schema order (codecs collect rows, Arrow wants columns)."""
    columns = zip(*rows, strict=True) if rows else ([] for _ in schema)
    return pa.Table.from_arrays(
        [pa.array(list(values), type=field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )
