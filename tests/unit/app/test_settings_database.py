"""Where the data lives: a DuckDB file, or a PostgreSQL URL (--db or FLOWWATCH_DB_URL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import load_settings


def test_a_postgres_url_in_db_or_db_url_is_the_psycopg_url_and_local_files_get_their_own_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for given in ("postgresql://fw:pw@db.internal:5433/flowwatch", "postgres://fw:pw@db.internal:5433/flowwatch",
                  "postgresql+psycopg://fw:pw@db.internal:5433/flowwatch"):  # fmt: skip
        settings = load_settings(db=given)
        assert settings.postgres == "postgresql+psycopg://fw:pw@db.internal:5433/flowwatch"
        assert settings.db == Path("data/pg-db.internal-5433-flowwatch")  # the write-ahead buffer's folder
        assert settings.database_label() == "postgresql+psycopg://fw:***@db.internal:5433/flowwatch"
    monkeypatch.setenv("FLOWWATCH_DB_URL", "postgresql://fw@127.0.0.1/other")
    assert load_settings().postgres == "postgresql+psycopg://fw@127.0.0.1/other"
    assert load_settings(db_url="duckdb:///data/x.duckdb").postgres is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+psycopg2://fw@h/db", "database URL scheme 'postgresql+psycopg2' is not supported"),
        ("postgresql://fw@h", "the PostgreSQL URL names no database"),
        ("mysql://fw@h/db", "database URL scheme 'mysql' is not supported"),
    ],
)
def test_a_url_this_build_cannot_use_is_refused_saying_why(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        load_settings(db=url)
