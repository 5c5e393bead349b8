"""Admin actions on the error catalog: edit a class (or add one), and revert an edit to the file.

One function per action, called by the API and any page alike; each validates the whole class as the
file would (a bad regex or an unknown action is refused naming the field) and writes the row with who
changed it, in the writer's transaction. An edited file class keeps its edit across restarts until
reverted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import ValidationError

from app.services.errors import InvalidRequest, NotFound
from models.queries.error_classes import list_error_classes
from models.store.error_catalog import ErrorClassDef, definition_of, load_error_catalog, stored_row
from models.store.tables import error_classes

if TYPE_CHECKING:
    from app.context import AppContext

#: What an admin may change of a class (its id is its name in the URL).
EDITABLE = ("name", "codes", "patterns", "exclude", "explanation", "runbook", "action", "suggested_patch",
            "resolve_reason")  # fmt: skip


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise InvalidRequest("actor is required: who does this")
    return actor.strip()


def _validated(fields: dict[str, Any]) -> ErrorClassDef:
    try:
        return ErrorClassDef.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequest(
            "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'class'}: {e['msg']}" for e in exc.errors())
        ) from exc


def _one(rows: list[dict[str, Any]], class_id: str) -> dict[str, Any]:
    found = next((r for r in rows if r["class_id"] == class_id), None)
    if found is None:
        raise NotFound(f"error class {class_id} does not exist")
    return found


def save_error_class(ctx: AppContext, class_id: str, changes: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Change the given fields of a class (a new id adds a class, last in match order); returns it."""
    who = _actor(actor)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: not an editable field (one of {', '.join(EDITABLE)})")
    with ctx.writer.transaction() as conn:
        rows = {r["class_id"]: r for r in conn.execute(sa.select(error_classes)).mappings()}
        current = rows.get(class_id)
        if current is None:
            base: dict[str, Any] = {"class_id": class_id}
            position = max((int(r["position"]) for r in rows.values()), default=-1) + 1
            origin = "admin"
        else:
            base = definition_of(dict(current)).model_dump(mode="json")
            position, origin = int(current["position"]), str(current["origin"])
        definition = _validated({**base, **changes, "class_id": class_id})
        conn.execute(error_classes.delete().where(error_classes.c.class_id == class_id))
        conn.execute(
            error_classes.insert().values(
                **stored_row(definition, position), origin=origin, updated_by=who, updated_at=ctx.now()
            )
        )
        return _one(list_error_classes(conn), class_id)


def revert_error_class(ctx: AppContext, class_id: str, *, actor: str) -> dict[str, Any] | None:
    """Back to the file's definition (returns it), or, for a class an admin added, remove it (None)."""
    _actor(actor)
    with ctx.writer.transaction() as conn:
        row = conn.execute(sa.select(error_classes).where(error_classes.c.class_id == class_id)).mappings().first()
        if row is None:
            raise NotFound(f"error class {class_id} does not exist")
        conn.execute(error_classes.delete().where(error_classes.c.class_id == class_id))
        if row["origin"] == "admin":
            return None
        catalog = load_error_catalog(ctx.settings.error_catalog_file)
        definition = next((c for c in catalog.classes if c.class_id == class_id), None)
        if definition is None:  # the file dropped it since: reverting removes it
            return None
        conn.execute(
            error_classes.insert().values(
                **stored_row(definition, int(row["position"])), origin="config", updated_at=ctx.now()
            )
        )
        return _one(list_error_classes(conn), class_id)
