"""The flow model as configuration: systems and flows from a TOML file, synced into the tables.

Flows (each one step ``start_event → end_event`` between two systems, with its SLA and
sync-lag threshold) are what an integration team edits, so they live in a file rather
than in code; the demo distributor's file is the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.engine import Connection

from models.store.tables import flows, systems
from models.store.toml_files import read_toml

DEFAULT_FLOWS_FILE = Path(__file__).with_name("default_flows.toml")

Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
EventType = Annotated[str, Field(pattern=r"^[a-z_]+\.[a-z_]+$")]


class FlowConfigError(ValueError):
    """The flow file cannot be used; the message names the file and the key."""


class SystemDef(BaseModel):
    """An application in the estate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system_id: Id
    name: Annotated[str, Field(min_length=1)]
    kind: Literal["storefront", "erp", "wms", "3pl", "supplier", "middleware"]
    vendor: str | None = None
    region: str | None = None


class FlowDef(BaseModel):
    """One integration step from source to target, with its SLA and how to replay it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow_id: Id
    name: Annotated[str, Field(min_length=1)]
    category: Annotated[str, Field(min_length=1)]
    source_system: Id
    target_system: Id
    start_event: EventType
    end_event: EventType
    sla_seconds: Annotated[int, Field(gt=0)]
    lag_threshold_seconds: Annotated[int, Field(gt=0)]
    queue: str | None = None
    replay_kind: Literal["http", "amqp", "none"] = "http"
    replay_target: str | None = None
    replay_rate_per_second: Annotated[float | None, Field(gt=0)] = None
    replay_four_eyes: bool | None = None


class FlowConfig(BaseModel):
    """A whole flow file: every flow's systems must be declared in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    company: str | None = None
    systems: list[SystemDef]
    flows: list[FlowDef]

    @model_validator(mode="after")
    def _consistent(self) -> FlowConfig:
        for kind, ids in (("system", [s.system_id for s in self.systems]), ("flow", [f.flow_id for f in self.flows])):
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{kind} ids declared twice: {', '.join(repeated)}")
        known = {s.system_id for s in self.systems}
        for i, flow in enumerate(self.flows):
            for end in ("source_system", "target_system"):
                if getattr(flow, end) not in known:
                    raise ValueError(f"flows[{i}] ({flow.flow_id}).{end}: unknown system {getattr(flow, end)!r}")
        return self


def load_flow_config(path: Path | None = None) -> FlowConfig:
    """Read and validate a flow file (the demo's when ``path`` is None)."""
    source = path or DEFAULT_FLOWS_FILE
    document = read_toml(source, "flow file", FlowConfigError)
    try:
        return FlowConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors())
        raise FlowConfigError(f"flow file {source}: {problems}") from exc


_generation = 0


def flow_config_changed() -> None:
    """Systems or flows were written: copies cached by readers (the order timeline) are stale.

    Flowwatch writes them only in ``sync_flow_config``; tests that insert rows directly call this."""
    global _generation
    _generation += 1


def flow_config_generation() -> int:
    """Bumped by every ``flow_config_changed``: a cached copy made at an older generation is stale."""
    return _generation


def sync_flow_config(conn: Connection, config: FlowConfig) -> dict[str, int]:
    """Upsert the file's systems and flows; rows the file no longer names are kept (data refers to them)."""
    flow_config_changed()
    for table, key, items in ((systems, "system_id", config.systems), (flows, "flow_id", config.flows)):
        rows = [item.model_dump() for item in items]
        ids = [row[key] for row in rows]
        conn.execute(table.delete().where(table.c[key].in_(ids)))
        if rows:
            conn.execute(sa.insert(table), rows)
    flow_config_changed()  # again: a reader may have cached the old rows while these were written
    return {"systems": len(config.systems), "flows": len(config.flows)}
