"""The ingest writer's append on PostgreSQL: COPY into the table, or for business events into a
staging table, then one ``INSERT ... ON CONFLICT (event_id) DO NOTHING`` that keeps the first of
each id and skips those stored already (the unique index does the dedup, so no retry path), and
the same rollups as on DuckDB (order_facts, flow_steps, step_starts, key aliases) from the rows
that were new. Runs inside the caller's transaction, like :meth:`IngestWriter.append_in`.
"""

from __future__ import annotations

import io
import itertools
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy.engine import Connection

from models.ingest.key_aliases import fold_aliases_pg
from models.ingest.step_rollup import fold_steps

if TYPE_CHECKING:
    from models.ingest.writer import WriteResult

_names = itertools.count()


def append_postgres(conn: Connection, table: str, arrow: pa.Table) -> WriteResult:
    """Append the (validated, column-selected) batch ``arrow`` to ``table``."""
    from models.ingest.writer import WriteResult, facts_merge

    raw: Any = conn.connection.driver_connection  # the psycopg connection: COPY
    columns = arrow.column_names
    col_list = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cur:
        if table != "business_events":
            _copy(cur, table, col_list, arrow)
            return WriteResult(arrow.num_rows)
        stage, fresh = f"_batch_{next(_names)}", f"_fresh_{next(_names)}"
        # Staging tables take the table's columns (types, not constraints) and vanish at commit.
        cur.execute(f"CREATE TEMP TABLE {stage} (LIKE business_events, _pos bigserial) ON COMMIT DROP")
        cur.execute(f"CREATE TEMP TABLE {fresh} (LIKE business_events) ON COMMIT DROP")
        _copy(cur, stage, col_list, arrow)
        fold_aliases_pg(cur, stage)
        cur.execute(
            f"""
            WITH new AS (
                INSERT INTO business_events ({col_list})
                SELECT DISTINCT ON (event_id) {col_list} FROM {stage} ORDER BY event_id, _pos
                ON CONFLICT (event_id) DO NOTHING
                RETURNING {col_list}
            )
            INSERT INTO {fresh} ({col_list}) SELECT {col_list} FROM new
            """
        )
        written = cur.rowcount
        if written:
            # The rollups look events of the batch up by key: index it and give the planner its size.
            cur.execute(f"CREATE INDEX ON {fresh} (correlation_id, event_type, occurred_at)")
            cur.execute(f"ANALYZE {fresh}")
            cur.execute(facts_merge("postgresql").format(source=fresh))
            fold_steps(cur, fresh, postgres=True)
        cur.execute(f"DROP TABLE {stage}, {fresh}")
    return WriteResult(written, arrow.num_rows - written)


def _copy(cur: Any, table: str, col_list: str, arrow: pa.Table) -> None:
    """COPY the batch into ``table`` as CSV written by Arrow's C++ writer (~10x psycopg's per-row
    adaptation): an unquoted empty field is NULL, a quoted one the empty string, as PostgreSQL reads them."""
    body = io.BytesIO()
    pa_csv.write_csv(arrow, body, pa_csv.WriteOptions(include_header=False))
    with cur.copy(f"COPY {table} ({col_list}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(body.getbuffer())
