"""The error catalog: known error classes with their runbooks; admins edit, add and revert them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import ErrorClass, ErrorClassList, ErrorClassReverted
from app.deps import Conn, Ctx, refusals
from app.services import error_catalog
from models.queries.error_classes import list_error_classes

router = APIRouter(prefix="/error-classes", tags=["error catalog"])


class ErrorClassIn(BaseModel):
    """The fields to change (all of them to add a class), and who changes them."""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(min_length=1, max_length=200, examples=["dana.okafor"])
    name: str | None = None
    codes: list[str] | None = None
    patterns: list[str] | None = None
    exclude: list[str] | None = None
    explanation: str | None = None
    runbook: str | None = Field(None, description="Markdown")
    action: str | None = Field(None, description="replay, edit_and_replay or resolve")
    suggested_patch: str | None = None
    resolve_reason: str | None = None


@router.get("", response_model=ErrorClassList, summary="Every known error class, in match order")
def get_error_classes(conn: Conn) -> dict[str, Any]:
    """The catalog as matched: codes, patterns, exclusions, explanation, runbook and safe action."""
    return {"classes": list_error_classes(conn)}


@router.put("/{class_id}", response_model=ErrorClass, summary="Edit a known error class (or add one)")
def put_error_class(class_id: str, body: ErrorClassIn, ctx: Ctx) -> dict[str, Any]:
    """Change the given fields; the edit wins over the catalogue file until reverted."""
    changes = body.model_dump(exclude_unset=True, exclude={"actor"})
    with refusals():
        return error_catalog.save_error_class(ctx, class_id, changes, actor=body.actor)


@router.delete("/{class_id}", response_model=ErrorClassReverted, summary="Revert an edit to the catalogue file")
def delete_error_class(
    class_id: str, ctx: Ctx, actor: Annotated[str, Query(min_length=1, max_length=200)]
) -> dict[str, Any]:
    """An edited file class goes back to the file's definition; a class an admin added is removed."""
    with refusals():
        return {"class_id": class_id, "error_class": error_catalog.revert_error_class(ctx, class_id, actor=actor)}
