"""Hot-path write statements as bound ``text()``.

duckdb-engine turns SQLAlchemy's statement cache off, so every Core statement is compiled
anew (~0.7 ms, as much as DuckDB takes to run it); a replay writes about ten rows, so its
statements are text. Column names come from code and are checked against the table;
values are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa


def columns(table: sa.Table, values: Mapping[str, Any]) -> list[str]:
    """The keys of ``values``, refused unless every one is a column of ``table``."""
    unknown = sorted(set(values) - set(table.c.keys()))
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
    return list(values)


def set_clause(table: sa.Table, values: Mapping[str, Any]) -> str:
    """``"a" = :a, "b" = :b`` for the columns in ``values``."""
    return ", ".join(f'"{name}" = :{name}' for name in columns(table, values))


def insert_sql(
    table: sa.Table, values: Mapping[str, Any], *, sequence: str | None = None, returning: str | None = None
) -> sa.TextClause:
    """``INSERT`` of one row of ``values`` (the primary key from ``sequence``), optionally ``RETURNING``."""
    names = columns(table, values)
    key = [table.primary_key.columns[0].name] if sequence else []
    cols = ", ".join(f'"{name}"' for name in key + names)
    params = ", ".join([f"nextval('{sequence}')"] * bool(sequence) + [f":{name}" for name in names])
    tail = f" RETURNING {returning}" if returning else ""
    return sa.text(f"INSERT INTO {table.name} ({cols}) VALUES ({params}){tail}")
