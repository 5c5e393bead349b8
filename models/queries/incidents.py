"""Incidents: their list and detail (with business impact and a timeline), what alert inhibition reads,
and the few writes detection and the incident actions make.

An incident's impact is :func:`models.queries.impact.impact_of` over the orders of all its exceptions
(an order held by two of them counts once), kept in ``incident_impacts`` by the detection pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.enums import ACTIVE_INCIDENT_STATUSES, ACTIVE_STATUSES, IncidentStatus
from models.queries.impact import impact_row
from models.store.tables import (
    exceptions,
    flows,
    incident_actions,
    incident_exceptions,
    incident_impacts,
    incidents,
    systems,
)

_n, _ie, _x = incidents.c, incident_exceptions.c, exceptions.c
_ACTIVE_X = [str(s) for s in ACTIVE_STATUSES]
_ACTIVE_N = [str(s) for s in ACTIVE_INCIDENT_STATUSES]


def _counts() -> sa.Subquery:
    return (
        sa.select(
            _ie.incident_id,
            sa.func.count().label("exceptions"),
            sa.func.count().filter(_x.status.in_(_ACTIVE_X)).label("active_exceptions"),
            sa.func.count(sa.distinct(_x.flow_id)).label("flows"),
        )
        .join(exceptions, _x.exception_id == _ie.exception_id)
        .group_by(_ie.incident_id)
        .subquery("counts")
    )


def _select() -> sa.Select[Any]:
    impact, counts = incident_impacts.c, _counts()
    return sa.select(
        *incidents.c,
        systems.c.name.label("system_name"),
        sa.func.coalesce(counts.c.exceptions, 0).label("exceptions"),
        sa.func.coalesce(counts.c.active_exceptions, 0).label("active_exceptions"),
        sa.func.coalesce(counts.c.flows, 0).label("flows"),
        impact.orders,
        impact.value_at_risk,
        impact.valued_orders,
        impact.customer_tier,
        impact.earliest_ship_by,
    ).select_from(
        incidents.outerjoin(systems, systems.c.system_id == _n.system_id)
        .outerjoin(counts, counts.c.incident_id == _n.incident_id)
        .outerjoin(incident_impacts, impact.incident_id == _n.incident_id)
    )


def _row(raw: Any) -> dict[str, Any]:
    row = dict(raw)
    return {**row, **impact_row(row).as_dict(), "orders": int(row.get("orders") or 0)}


def list_incidents(
    conn: Connection, *, status: Sequence[str] = (), limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Incidents (of ``status``, or all): active ones first, then the most value at risk, the newest;
    and how many match."""
    where = [_n.status.in_(list(status))] if status else []
    active_first = sa.case((_n.status.in_(_ACTIVE_N), 0), else_=1)
    query = _select().where(*where)
    value = query.selected_columns.value_at_risk
    rows = (
        conn.execute(
            query.order_by(active_first, sa.func.coalesce(value, 0).desc(), _n.opened_at.desc(), _n.incident_id.desc())
            .offset(offset)
            .limit(limit)
        )
        .mappings()
        .all()
    )  # read before the next statement: DuckDB's cursor is shared
    total = conn.execute(sa.select(sa.func.count()).select_from(incidents).where(*where)).scalar_one()
    return [_row(r) for r in rows], int(total)


def incident_state(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """The stored row an action starts from."""
    row = conn.execute(sa.select(incidents).where(_n.incident_id == incident_id)).mappings().first()
    return dict(row) if row is not None else None


def get_incident(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """One incident with its impact, exceptions (oldest first), flows and timeline."""
    raw = conn.execute(_select().where(_n.incident_id == incident_id)).mappings().first()
    if raw is None:
        return None
    detail = _row(raw)
    attached = conn.execute(
        sa.select(
            _x.exception_id, _x.title, _x.kind, _x.flow_id, flows.c.name.label("flow_name"), _x.system_id,
            _x.severity, _x.status, _x.first_seen, _x.last_seen, _x.affected_orders, _ie.attached_at,
        )
        .select_from(
            incident_exceptions.join(exceptions, _x.exception_id == _ie.exception_id).outerjoin(
                flows, flows.c.flow_id == _x.flow_id
            )
        )
        .where(_ie.incident_id == incident_id)
        .order_by(_x.first_seen, _x.exception_id)
    ).mappings().all()  # fmt: skip
    detail["exception_list"] = [dict(r) for r in attached]
    seen: dict[str, str] = {}
    for x in detail["exception_list"]:
        if x["flow_id"]:
            seen.setdefault(x["flow_id"], x["flow_name"] or x["flow_id"])
    detail["flow_list"] = [{"flow_id": f, "name": name} for f, name in sorted(seen.items())]
    detail["timeline"] = timeline(conn, incident_id, detail["exception_list"])
    return detail


def timeline(conn: Connection, incident_id: int, attached: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """What happened, oldest first: each attached exception's first occurrence and every incident action."""
    a = incident_actions.c
    actions = (
        conn.execute(sa.select(incident_actions).where(a.incident_id == incident_id).order_by(a.acted_at, a.action_id))
        .mappings()
        .all()
    )
    entries = [
        {"at": r["acted_at"], "what": r["action"], "actor": r["actor"], "detail": r["detail"], "exception_id": None}
        for r in actions
    ]
    entries += [
        {"at": x["first_seen"], "what": "exception", "actor": None, "detail": x["title"],
         "exception_id": int(x["exception_id"])}
        for x in attached
    ]  # fmt: skip
    return sorted(entries, key=lambda e: (e["at"], e["what"] != "exception"))


@dataclass(frozen=True)
class IncidentScope:
    """What an active incident explains, for alert inhibition: its system and its exceptions' flows."""

    incident_id: int
    system_id: str
    flows: frozenset[str]


def active_scopes(conn: Connection) -> list[IncidentScope]:
    """Every open or acknowledged incident's system and flows."""
    rows = conn.execute(
        sa.select(_n.incident_id, _n.system_id, _x.flow_id)
        .select_from(
            incidents.outerjoin(incident_exceptions, _ie.incident_id == _n.incident_id).outerjoin(
                exceptions, _x.exception_id == _ie.exception_id
            )
        )
        .where(_n.status.in_(_ACTIVE_N))
    ).all()
    found: dict[int, tuple[str, set[str]]] = {}
    for incident_id, system_id, flow_id in rows:
        entry = found.setdefault(int(incident_id), (str(system_id), set()))
        if flow_id:
            entry[1].add(str(flow_id))
    return [IncidentScope(i, s, frozenset(f)) for i, (s, f) in sorted(found.items())]


def attached_exception_ids(conn: Connection, incident_id: int, *, active_only: bool = False) -> list[int]:
    """The exceptions of an incident (only those still open or acknowledged with ``active_only``)."""
    query = (
        sa.select(_ie.exception_id)
        .join(exceptions, _x.exception_id == _ie.exception_id)
        .where(_ie.incident_id == incident_id)
        .order_by(_ie.exception_id)
    )
    if active_only:
        query = query.where(_x.status.in_(_ACTIVE_X))
    return [int(i) for i in conn.execute(query).scalars()]


def incident_of(conn: Connection, exception_id: int) -> dict[str, Any] | None:
    """The latest incident an exception is attached to (id, title, status), or None."""
    row = (
        conn.execute(
            sa.select(_n.incident_id, _n.title, _n.status)
            .join(incident_exceptions, _ie.incident_id == _n.incident_id)
            .where(_ie.exception_id == exception_id)
            .order_by(_n.opened_at.desc(), _n.incident_id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


# -- writes (detection and the incident actions) ----------------------------------------------
def insert_incident(conn: Connection, *, system_id: str, title: str, now: datetime) -> int:
    """A new open incident; its id."""
    return int(
        conn.execute(
            incidents.insert()
            .values(system_id=system_id, title=title, status=str(IncidentStatus.OPEN), opened_at=now, updated_at=now)
            .returning(_n.incident_id)
        ).scalar_one()
    )


def attach(conn: Connection, incident_id: int, exception_ids: Sequence[int], *, now: datetime) -> None:
    """Attach exceptions to an incident (each once)."""
    if exception_ids:
        conn.execute(
            sa.text(
                "INSERT INTO incident_exceptions (incident_id, exception_id, attached_at) "
                "SELECT :incident, unnest(:ids), :now ON CONFLICT DO NOTHING"
            ),
            {"incident": incident_id, "ids": [int(i) for i in exception_ids], "now": now},
        )


def update_incident(conn: Connection, incident_id: int, values: dict[str, Any]) -> None:
    """Set columns of one incident."""
    conn.execute(incidents.update().where(_n.incident_id == incident_id).values(**values))


def append_incident_action(
    conn: Connection,
    incident_id: int,
    action: str,
    *,
    actor: str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
) -> None:
    """One timeline (audit) row; states are stored as JSON."""
    conn.execute(
        incident_actions.insert().values(
            incident_id=incident_id, action=action, actor=actor, acted_at=now,
            before_state=None if before is None else json.dumps(before, default=str),
            after_state=None if after is None else json.dumps(after, default=str), detail=detail,
        )
    )  # fmt: skip
