"""The error catalog: known error classes with their runbooks; admins edit, add and revert them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import ErrorClass, ErrorClassList, ErrorClassReverted
from app.auth import ADMIN, READ
from app.deps import Conn, Ctx, Who, refusals
from app.services import error_catalog
from models.queries.error_classes import list_error_classes

router = APIRouter(prefix="/error-classes", tags=["error catalog"])


class ErrorClassIn(BaseModel):
    """The fields to change (all of them to add a class); who changes them is the logged-in admin."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    codes: list[str] | None = None
    patterns: list[str] | None = None
    exclude: list[str] | None = None
    explanation: str | None = None
    runbook: str | None = Field(None, description="Markdown")
    action: str | None = Field(None, description="replay, edit_and_replay or resolve")
    suggested_patch: str | None = None
    resolve_reason: str | None = None


@router.get("", response_model=ErrorClassList, openapi_extra=READ, summary="Every known error class, in match order")
def get_error_classes(conn: Conn) -> dict[str, Any]:
    """The catalog as matched: codes, patterns, exclusions, explanation, runbook and safe action."""
    return {"classes": list_error_classes(conn)}


@router.put(
    "/{class_id}", response_model=ErrorClass, openapi_extra=ADMIN, summary="Edit a known error class (or add one)"
)
def put_error_class(class_id: str, body: ErrorClassIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    """Change the given fields; the edit wins over the catalogue file until reverted."""
    changes = body.model_dump(exclude_unset=True)
    with refusals():
        return error_catalog.save_error_class(ctx, class_id, changes, actor=who.name)


@router.delete(
    "/{class_id}",
    response_model=ErrorClassReverted,
    openapi_extra=ADMIN,
    summary="Revert an edit to the catalogue file",
)
def delete_error_class(class_id: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    """An edited file class goes back to the file's definition; a class an admin added is removed."""
    with refusals():
        reverted = error_catalog.revert_error_class(ctx, class_id, actor=who.name)
    return {"class_id": class_id, "error_class": reverted}
