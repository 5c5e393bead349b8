"""Expected next events, daily cut-offs, reconciliation stages and inventory checks as configuration: a TOML file
synced into tables.

What must follow each step of a flow, and by when, is the integration team's knowledge, not
code: the demo distributor's file is the default (``default_expectations.toml``), a customer's
names its own. Detection (:mod:`models.detection.silent`) reads the synced tables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import Connection

from models.store.flow_config import EventType, Id
from models.store.tables import cutoffs, expected_events, inventory_checks, reconciliation_stages
from models.store.toml_files import read_toml, validation_problems

DEFAULT_EXPECTATIONS_FILE = Path(__file__).with_name("default_expectations.toml")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ExpectationsError(ValueError):
    """The expectations file cannot be used; the message names the file and the key."""


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"{value!r} is not a time of day HH:MM (UTC)")
    return value


class ExpectationDef(BaseModel):
    """After an ok ``after`` event of a key, an ok ``expect`` event of the same key is due by a deadline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expectation_id: Id
    name: Annotated[str, Field(min_length=1)]
    after: EventType
    expect: EventType
    after_source: str | None = None
    after_target: str | None = None
    system_id: str | None = None
    flow_id: str | None = None
    within_minutes: Annotated[int | None, Field(gt=0)] = None
    cutoff: str | None = None
    cutoff_system: str | None = None
    cutoff_lead_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 0
    unless: list[EventType] = Field(default_factory=list)

    @field_validator("cutoff")
    @classmethod
    def _cutoff_clock(cls, value: str | None) -> str | None:
        return None if value is None else _clock(value)

    @model_validator(mode="after")
    def _one_deadline(self) -> ExpectationDef:
        given = [self.within_minutes is not None, self.cutoff is not None, self.cutoff_system is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of within_minutes, cutoff, cutoff_system")
        if self.after == self.expect:
            raise ValueError("after and expect must be different events")
        return self


class StageDef(BaseModel):
    """One stage of the reconciliation funnel: the keys that reached it are those with its event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Id
    label: Annotated[str, Field(min_length=1)]
    event: EventType
    grace_minutes: Annotated[int, Field(ge=0)] = 0
    replay: bool = False
    unless: list[EventType] = Field(default_factory=list)


_FIELD = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class InventoryCheckDef(BaseModel):
    """Stock a storefront shows against what the warehouse adjusted, per key (SKU@location)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check_id: Id
    name: Annotated[str, Field(min_length=1)]
    adjusted: EventType
    adjusted_quantity: Annotated[str, Field(pattern=_FIELD, description="payload field, e.g. on_hand")]
    published: EventType
    published_quantity: Annotated[str, Field(pattern=_FIELD, description="payload field, e.g. available")]
    grace_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 30
    lookback_hours: Annotated[int, Field(gt=0, le=31 * 24)] = 24


class ExpectationsConfig(BaseModel):
    """A whole expectations file: the cut-off an expectation names must be declared in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cutoffs: dict[str, str] = Field(default_factory=dict)
    expectations: list[ExpectationDef] = Field(default_factory=list)
    reconciliation: list[StageDef] = Field(default_factory=list)
    inventory: list[InventoryCheckDef] = Field(default_factory=list)

    @field_validator("cutoffs")
    @classmethod
    def _clocks(cls, value: dict[str, str]) -> dict[str, str]:
        for system, at in value.items():
            try:
                _clock(at)
            except ValueError as exc:
                raise ValueError(f"{system}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ExpectationsConfig:
        ids = [e.expectation_id for e in self.expectations]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"expectation ids declared twice: {', '.join(repeated)}")
        stages = [s.stage for s in self.reconciliation]
        if len(set(stages)) != len(stages):
            raise ValueError(
                f"reconciliation stages declared twice: {', '.join(sorted({s for s in stages if stages.count(s) > 1}))}"
            )
        checks = [c.check_id for c in self.inventory]
        if len(set(checks)) != len(checks):
            raise ValueError(
                f"inventory checks declared twice: {', '.join(sorted({c for c in checks if checks.count(c) > 1}))}"
            )
        if self.reconciliation and self.reconciliation[0].replay:
            raise ValueError("reconciliation[0] (the first stage) has nothing before it to replay")
        for i, exp in enumerate(self.expectations):
            if exp.cutoff_system is not None and exp.cutoff_system not in self.cutoffs:
                raise ValueError(
                    f"expectations[{i}] ({exp.expectation_id}).cutoff_system: no cut-off for {exp.cutoff_system!r}"
                )
        return self

    def cutoff_of(self, expectation: ExpectationDef) -> str | None:
        """The expectation's daily cut-off (HH:MM UTC), if it has one."""
        if expectation.cutoff_system is not None:
            return self.cutoffs[expectation.cutoff_system]
        return expectation.cutoff


def load_expectations(path: Path | None = None) -> ExpectationsConfig:
    """Read and validate an expectations file (the demo's when ``path`` is None)."""
    source = path or DEFAULT_EXPECTATIONS_FILE
    document = read_toml(source, "expectations file", ExpectationsError)
    try:
        return ExpectationsConfig.model_validate(document)
    except ValidationError as exc:
        raise ExpectationsError(f"expectations file {source}: {validation_problems(exc, 'file')}") from exc


def sync_expectations(conn: Connection, config: ExpectationsConfig) -> dict[str, int]:
    """Replace the stored expectations and cut-offs with the file's (nothing refers to old rows)."""
    conn.execute(expected_events.delete())
    conn.execute(cutoffs.delete())
    conn.execute(reconciliation_stages.delete())
    conn.execute(inventory_checks.delete())
    rows = [
        {
            "expectation_id": e.expectation_id, "name": e.name, "after_event": e.after, "expect_event": e.expect,
            "after_source": e.after_source, "after_target": e.after_target, "system_id": e.system_id,
            "flow_id": e.flow_id, "within_seconds": None if e.within_minutes is None else e.within_minutes * 60,
            "cutoff": config.cutoff_of(e), "cutoff_lead_seconds": e.cutoff_lead_minutes * 60,
            "unless_events": json.dumps(e.unless),
        }
        for e in config.expectations
    ]  # fmt: skip
    if rows:
        conn.execute(sa.insert(expected_events), rows)
    if config.cutoffs:
        conn.execute(sa.insert(cutoffs), [{"system_id": s, "cutoff": at} for s, at in config.cutoffs.items()])
    stages = [
        {"position": i, "stage": s.stage, "label": s.label, "event": s.event, "grace_seconds": s.grace_minutes * 60,
         "replay": s.replay, "unless_events": json.dumps(s.unless)}
        for i, s in enumerate(config.reconciliation)
    ]  # fmt: skip
    if stages:
        conn.execute(sa.insert(reconciliation_stages), stages)
    checks = [
        {"check_id": c.check_id, "name": c.name, "adjusted_event": c.adjusted,
         "adjusted_quantity": f"$.{c.adjusted_quantity}", "published_event": c.published,
         "published_quantity": f"$.{c.published_quantity}", "grace_seconds": c.grace_minutes * 60,
         "lookback_seconds": c.lookback_hours * 3600}
        for c in config.inventory
    ]  # fmt: skip
    if checks:
        conn.execute(sa.insert(inventory_checks), checks)
    return {"expectations": len(rows), "cutoffs": len(config.cutoffs), "stages": len(stages),
            "inventory_checks": len(checks)}  # fmt: skip
