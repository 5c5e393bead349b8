"""The error catalog as stored: its classes in match order, and the known class of one error."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.store.error_catalog import Matcher, definition_of, match_error
from models.store.tables import error_classes

#: What an exception's detail says about its known error class.
KNOWN_ERROR_FIELDS = ("class_id", "name", "explanation", "runbook", "action", "suggested_patch", "resolve_reason")


def list_error_classes(conn: Connection) -> list[dict[str, Any]]:
    """Every class in match order, with where it comes from (file or admin) and who last edited it."""
    rows = conn.execute(sa.select(error_classes).order_by(error_classes.c.position, error_classes.c.class_id))
    return [{**definition_of(dict(r)).model_dump(mode="json"), "position": r["position"], "origin": r["origin"],
             "updated_by": r["updated_by"], "updated_at": r["updated_at"]} for r in rows.mappings()]  # fmt: skip


def matchers(conn: Connection) -> list[Matcher]:
    """The stored classes compiled for matching, in match order."""
    rows = conn.execute(sa.select(error_classes).order_by(error_classes.c.position, error_classes.c.class_id))
    return [Matcher.of(definition_of(dict(r))) for r in rows.mappings()]


def known_error(conn: Connection, errors: list[tuple[str | None, str | None]]) -> dict[str, Any] | None:
    """The catalog's class of the first of ``errors`` ((code, message) pairs, most telling first) it
    recognises, as :data:`KNOWN_ERROR_FIELDS`; None when none is known."""
    compiled = matchers(conn)
    for code, message in errors:
        if not code and not message:
            continue
        found = match_error(compiled, code, message)
        if found is not None:
            data = found.model_dump(mode="json")
            return {k: data[k] for k in KNOWN_ERROR_FIELDS}
    return None
