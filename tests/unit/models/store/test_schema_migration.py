"""A database created by an older version gains the columns a newer one declares."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from models.store.db import make_engine
from models.store.schema import create_schema, is_current


def test_missing_nullable_columns_are_added_and_rows_kept(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "old.duckdb")
    with engine.begin() as conn:  # the flows table as schema version 2 created it
        conn.exec_driver_sql(
            "CREATE TABLE flows (flow_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, source_system VARCHAR NOT NULL,"
            " target_system VARCHAR NOT NULL, start_event VARCHAR NOT NULL, end_event VARCHAR NOT NULL,"
            " sla_seconds INTEGER NOT NULL, lag_threshold_seconds INTEGER NOT NULL, queue VARCHAR,"
            " replay_kind VARCHAR, replay_target VARCHAR, category VARCHAR NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO flows VALUES ('f', 'F', 'a', 'b', 'x.y', 'y.z', 60, 60, NULL, 'http', '/sim/x', 'orders')"
        )

    create_schema(engine)

    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT flow_id, replay_rate_per_second, replay_four_eyes FROM flows")).one()
        assert tuple(row) == ("f", None, None)
        assert conn.execute(sa.text("SELECT last_error FROM exceptions")).all() == []
        assert is_current(conn)
    engine.dispose()
