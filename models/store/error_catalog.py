"""The error catalog: known error classes of ERPs, storefronts and 3PLs, as data.

Each class is matched by rules over an error's code and message (codes, then regular expressions,
minus exclusions), and carries what an operator needs: a plain-language explanation, a Markdown
runbook and the safe action to offer. The default catalogue is ``default_error_catalog.toml``; the
``error_classes`` table holds it with the admins' edits (which win over the file until reverted).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import Connection

from models.store.flow_config import Id
from models.store.tables import error_classes
from models.store.toml_files import read_toml, validation_problems

DEFAULT_ERROR_CATALOG_FILE = Path(__file__).with_name("default_error_catalog.toml")


class SafeAction(StrEnum):
    """What the catalog offers for a known error (see the catalogue file's header)."""

    REPLAY = "replay"
    EDIT_AND_REPLAY = "edit_and_replay"
    RESOLVE = "resolve"


class ErrorCatalogError(ValueError):
    """The catalogue cannot be used; the message names the file and the key."""


def _regexes(values: list[str]) -> list[str]:
    for i, pattern in enumerate(values):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"[{i}] {pattern!r} is not a regular expression: {exc}") from None
    return values


class ErrorClassDef(BaseModel):
    """One known error class: how to recognise it and what to do about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    codes: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    explanation: Annotated[str, Field(min_length=1)]
    runbook: Annotated[str, Field(min_length=1)]
    action: SafeAction
    suggested_patch: str | None = None
    resolve_reason: str | None = None

    @field_validator("patterns", "exclude")
    @classmethod
    def _compile(cls, value: list[str]) -> list[str]:
        return _regexes(value)

    @field_validator("suggested_patch")
    @classmethod
    def _patch(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            patch = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg}") from None
        if not isinstance(patch, list) or not all(isinstance(op, dict) and "op" in op and "path" in op for op in patch):
            raise ValueError("a JSON Patch is a list of operations with op and path")
        return value

    @model_validator(mode="after")
    def _recognisable(self) -> ErrorClassDef:
        if not self.codes and not self.patterns:
            raise ValueError("give codes or patterns: a class nothing matches is never shown")
        if self.suggested_patch is not None and self.action != SafeAction.EDIT_AND_REPLAY:
            raise ValueError("suggested_patch goes with action edit_and_replay")
        return self


class ErrorCatalog(BaseModel):
    """A whole catalogue file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: list[ErrorClassDef]

    @model_validator(mode="after")
    def _unique(self) -> ErrorCatalog:
        ids = [c.class_id for c in self.classes]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"class ids declared twice: {', '.join(repeated)}")
        return self


def load_error_catalog(path: Path | None = None) -> ErrorCatalog:
    """Read and validate a catalogue file (the default when ``path`` is None)."""
    source = path or DEFAULT_ERROR_CATALOG_FILE
    document = read_toml(source, "error catalog", ErrorCatalogError)
    try:
        return ErrorCatalog.model_validate(document)
    except ValidationError as exc:
        raise ErrorCatalogError(f"error catalog {source}: {validation_problems(exc, 'file')}") from exc


@dataclass(frozen=True)
class Matcher:
    """One class compiled for matching."""

    definition: ErrorClassDef
    codes: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, definition: ErrorClassDef) -> Matcher:
        """Compile ``definition`` (case-insensitive codes and patterns)."""
        return cls(
            definition,
            frozenset(c.strip().upper() for c in definition.codes),
            tuple(re.compile(p, re.IGNORECASE) for p in definition.patterns),
            tuple(re.compile(p, re.IGNORECASE) for p in definition.exclude),
        )

    def matches(self, code: str | None, message: str | None) -> bool:
        """The code is one of the class's, or the message matches a pattern; and no exclusion matches."""
        text = message or ""
        if any(p.search(text) for p in self.exclude):
            return False
        if code and code.strip().upper() in self.codes:
            return True
        return any(p.search(text) for p in self.patterns)


def match_error(matchers: list[Matcher], code: str | None, message: str | None) -> ErrorClassDef | None:
    """The first class (in catalogue order) that recognises the error, or None."""
    return next((m.definition for m in matchers if m.matches(code, message)), None)


def _row(definition: ErrorClassDef, position: int) -> dict[str, Any]:
    data = definition.model_dump(mode="json")
    return {**data, "position": position, **{k: json.dumps(data[k]) for k in ("codes", "patterns", "exclude")}}


def definition_of(row: dict[str, Any]) -> ErrorClassDef:
    """A stored row back as its definition."""
    fields = {k: row[k] for k in ErrorClassDef.model_fields if k in row}
    for key in ("codes", "patterns", "exclude"):
        fields[key] = json.loads(fields[key] or "[]")
    return ErrorClassDef.model_validate(fields)


def sync_error_catalog(conn: Connection, catalog: ErrorCatalog, *, now: datetime) -> dict[str, int]:
    """Bring the file's classes in: unedited ones are replaced, an admin's edit is kept (its place in
    the order follows the file), file classes no longer in the file go unless edited; admin-made stay."""
    stored = {r["class_id"]: dict(r) for r in conn.execute(sa.select(error_classes)).mappings()}
    named = {c.class_id for c in catalog.classes}
    for class_id, row in stored.items():
        if row["origin"] == "config" and row["updated_by"] is None and class_id not in named:
            conn.execute(error_classes.delete().where(error_classes.c.class_id == class_id))
    written = 0
    for position, definition in enumerate(catalog.classes):
        edited = stored.get(definition.class_id)
        if edited is not None and edited["updated_by"] is not None:
            conn.execute(
                error_classes.update().where(error_classes.c.class_id == definition.class_id).values(position=position)
            )
            continue
        conn.execute(error_classes.delete().where(error_classes.c.class_id == definition.class_id))
        conn.execute(error_classes.insert().values(**_row(definition, position), origin="config", updated_at=now))
        written += 1
    return {"classes": len(catalog.classes), "written": written}


def stored_row(definition: ErrorClassDef, position: int) -> dict[str, Any]:
    """The ``error_classes`` columns of ``definition`` at ``position`` (JSON lists as text)."""
    return _row(definition, position)
