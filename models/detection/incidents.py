"""Incidents: simultaneous exceptions that one shared system explains, grouped under it.

The estate is a graph: systems are nodes, flows are edges (source → target). When at least
``incident_min_exceptions`` active exceptions that began within ``incident_window`` (first seen: they
started together, unlike a dead-letter queue waiting since yesterday), over at least
``incident_min_flows`` flows, touch one system (it is the source or target of their flows, or the
exception's own system), that system is the likely common cause: "Dynamics 365 unavailable"
explains the storefronts' orders failing into it and the 3PLs' confirmations failing back.

Which system explains a set: the one with the largest share of its own flows failing (an outage
takes most of a system's flows down; a hub such as the ERP touches every flow, so two failing flows
of a 3PL make the 3PL, not the ERP, the cause), then the most exceptions. Picked greedily, so each
exception belongs to one incident. An active incident of a system takes every new exception
touching it; an incident resolves when none of its exceptions is still open or acknowledged.

Runs at the end of every detection pass, in the writer's transaction; everything it does is on the
incident's timeline (``incident_actions``) under ``detector``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.detection.occurrences import DetectionSettings
from models.enums import ACTIVE_INCIDENT_STATUSES, ACTIVE_SQL, DETECTOR, IncidentAction, IncidentStatus
from models.queries.impact import refresh_incident_impact
from models.queries.incidents import append_incident_action, attach, insert_incident, update_incident

#: Kinds that mean a system does not take messages at all (an incident about them: "unavailable").
OUTAGE_KINDS = frozenset({"dead_letter", "delivery_failed", "retries_exhausted"})
_ACTIVE_N = "(" + ", ".join(f"'{s}'" for s in ACTIVE_INCIDENT_STATUSES) + ")"


@dataclass(frozen=True)
class Candidate:
    """An active exception not in an incident yet, with the systems it touches."""

    exception_id: int
    flow_id: str | None
    kind: str
    systems: frozenset[str]


@dataclass
class IncidentReport:
    """What one pass did to incidents (ids)."""

    opened: list[int] = field(default_factory=list)
    attached: int = 0
    resolved: list[int] = field(default_factory=list)


def correlate(conn: Connection, *, now: datetime, settings: DetectionSettings) -> IncidentReport:
    """Attach, open and resolve incidents from the active exceptions, inside the caller's transaction."""
    report = IncidentReport()
    active: dict[str, int] = {
        str(s): int(i)
        for s, i in conn.execute(sa.text(f"SELECT system_id, incident_id FROM incidents WHERE status IN {_ACTIVE_N}"))
    }
    pool = _candidates(conn, since=now - settings.incident_window)
    for system_id, incident_id in sorted(active.items()):
        mine = [c for c in pool if system_id in c.systems]
        if mine:
            _attach(conn, incident_id, mine, now)
            report.attached += len(mine)
            pool = [c for c in pool if system_id not in c.systems]
    degree = _degrees(conn)
    names: dict[str, str] = {str(s): str(n) for s, n in conn.execute(sa.text("SELECT system_id, name FROM systems"))}
    while (pick := explaining_system(pool, degree, settings)) is not None:
        mine = [c for c in pool if pick in c.systems]
        incident_id = insert_incident(conn, system_id=pick, title=title(names.get(pick, pick), mine), now=now)
        flows = len({c.flow_id for c in mine if c.flow_id})
        append_incident_action(
            conn, incident_id, IncidentAction.OPEN, actor=DETECTOR, now=now,
            after={"status": IncidentStatus.OPEN, "owner": None},
            detail=f"{len(mine)} exceptions across {flows} flows share {names.get(pick, pick)}",
        )  # fmt: skip
        attach(conn, incident_id, [c.exception_id for c in mine], now=now)
        report.opened.append(incident_id)
        report.attached += len(mine)
        pool = [c for c in pool if pick not in c.systems]
    report.resolved = _resolve_finished(conn, now)
    still = sorted({*active.values(), *report.opened} - set(report.resolved))
    if still:  # most passes have no incident: no statement then
        refresh_incident_impact(conn, still)  # what they hold now, attached above
    return report


def explaining_system(pool: Iterable[Candidate], degree: dict[str, int], settings: DetectionSettings) -> str | None:
    """The system that best explains enough of ``pool``, or None (see the module's docstring)."""
    covered: dict[str, list[Candidate]] = {}
    for c in pool:
        for system in c.systems:
            covered.setdefault(system, []).append(c)
    best: tuple[float, int, str] | None = None
    for system, mine in covered.items():
        flows = {c.flow_id for c in mine if c.flow_id}
        if len(mine) < settings.incident_min_exceptions or len(flows) < settings.incident_min_flows:
            continue
        score = (len(flows) / max(degree.get(system, len(flows)), len(flows)), len(mine), system)
        if best is None or score[:2] > best[:2] or (score[:2] == best[:2] and system < best[2]):
            best = score
    return None if best is None else best[2]


def title(system_name: str, mine: Iterable[Candidate]) -> str:
    """'Dynamics 365 unavailable' when its exceptions are failed deliveries, else '… degraded'."""
    outage = any(c.kind in OUTAGE_KINDS for c in mine)
    return f"{system_name} {'unavailable' if outage else 'degraded'}"


def _candidates(conn: Connection, *, since: datetime) -> list[Candidate]:
    rows = conn.execute(
        sa.text(
            f"""
            SELECT x.exception_id, x.flow_id, x.kind, x.system_id, f.source_system, f.target_system
            FROM exceptions x LEFT JOIN flows f ON f.flow_id = x.flow_id
            WHERE x.status IN {ACTIVE_SQL} AND x.first_seen >= :since
              AND x.exception_id NOT IN (
                  SELECT ie.exception_id FROM incident_exceptions ie
                  JOIN incidents n ON n.incident_id = ie.incident_id WHERE n.status IN {_ACTIVE_N})
            ORDER BY x.exception_id
            """
        ),
        {"since": since},
    ).all()
    return [
        Candidate(int(i), flow, kind, frozenset(s for s in (system, source, target) if s))
        for i, flow, kind, system, source, target in rows
        if system or source or target
    ]


def _degrees(conn: Connection) -> dict[str, int]:
    """How many flows touch each system (the graph's degree)."""
    rows = conn.execute(
        sa.text(
            "SELECT system, count(*) FROM (SELECT source_system AS system FROM flows "
            "UNION ALL SELECT target_system FROM flows WHERE target_system <> source_system) s GROUP BY system"
        )
    ).all()
    return {str(s): int(n) for s, n in rows}


def _attach(conn: Connection, incident_id: int, mine: list[Candidate], now: datetime) -> None:
    attach(conn, incident_id, [c.exception_id for c in mine], now=now)
    update_incident(conn, incident_id, {"updated_at": now})
    append_incident_action(
        conn, incident_id, IncidentAction.ATTACH, actor=DETECTOR, now=now,
        detail=f"{len(mine)} more exception{'s' * (len(mine) != 1)} attached",
    )  # fmt: skip


def _resolve_finished(conn: Connection, now: datetime) -> list[int]:
    """Resolve active incidents none of whose exceptions is still open or acknowledged."""
    done = [
        int(i)
        for i in conn.execute(
            sa.text(
                f"""
                SELECT n.incident_id FROM incidents n
                WHERE n.status IN {_ACTIVE_N} AND NOT EXISTS (
                    SELECT 1 FROM incident_exceptions ie JOIN exceptions x ON x.exception_id = ie.exception_id
                    WHERE ie.incident_id = n.incident_id AND x.status IN {ACTIVE_SQL})
                ORDER BY n.incident_id
                """
            )
        ).scalars()
    ]
    for incident_id in done:
        reason = "every exception of the incident is resolved"
        status = conn.execute(
            sa.text("SELECT status, owner FROM incidents WHERE incident_id = :i"), {"i": incident_id}
        ).one()
        update_incident(
            conn, incident_id,
            {"status": str(IncidentStatus.RESOLVED), "resolved_at": now, "resolution": reason, "updated_at": now},
        )  # fmt: skip
        append_incident_action(
            conn, incident_id, IncidentAction.RESOLVE, actor=DETECTOR, now=now,
            before={"status": status[0], "owner": status[1]}, after={"status": "resolved", "owner": status[1]},
            detail=reason,
        )  # fmt: skip
    return done
