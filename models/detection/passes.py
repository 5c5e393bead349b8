"""Exception detection: run the rules, then open, update, auto-resolve or re-open exceptions.

The rules (:mod:`models.detection.rules`) read the canonical tables; this module writes
only ``exceptions``, ``exception_orders``, ``exception_impacts`` and ``exception_actions``. Everything an
exception records is derived from the evidence, so a second run on the same data changes
nothing: occurrences grow only by evidence newer than the stored ``last_seen``, affected
orders are the current set, and severity only ever escalates.

Failed messages: the occurrences of the failure rules are messages; each exception keeps
every one of them in ``exception_messages`` (what a replay re-sends), and a message that no
longer fails (its source delivered it on a later attempt) is marked delivered.

Lifecycle, built not to flap: an exception whose condition cleared is resolved by
``detector`` with the rule's reason only once it has stayed clear for a hold-down (``resolve_after_passes``
passes and at least ``resolve_after``); found again before that, the hold-down starts over.
A resolved exception re-opens when the condition returns within ``reopen_window`` of its
resolution (new evidence after it was resolved, or any evidence when the detector itself
had resolved it); later evidence is a new incident and opens a new exception (the old one
keeps its history under an archived fingerprint). Exceptions an operator ignored or resolved
stay as they are unless new evidence arrives after their resolution.

Passes are serialised: the scheduled job and the on-demand pass both run inside the ingest
writer's transaction (:func:`run_detection_job`), like every other writer of the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.detection.fingerprint import fingerprint
from models.detection.incidents import IncidentReport, correlate
from models.detection.rules import DATA_QUALITY_PREFIX, RULES, DetectionSettings, RuleResult
from models.enums import ACTIVE_SQL, ACTIVE_STATUSES, DETECTOR
from models.queries.common import SEVERITIES, read_frame
from models.queries.impact import refresh_impact
from models.queries.messages import mark_delivered_by_source, original_id, record_failures
from models.store.dialect import in_list
from models.store.tables import exception_actions, exceptions


@dataclass(frozen=True)
class Finding:
    """One fingerprint's evidence, aggregated."""

    fingerprint: str
    rule: str
    kind: str
    flow_id: str | None
    key: str
    system_id: str | None
    error_class: str | None
    first_error: str | None
    event_id: str | None
    first_at: datetime
    last_at: datetime
    times: np.ndarray  # datetime64[us], one per occurrence, in time order
    orders: frozenset[str]
    #: Failed messages (event_id, correlation_id, first_at, last_at, error), for rules that find messages.
    messages: tuple[dict[str, Any], ...] | None = None


#: Severity by rule, first match wins: (why, predicate over (finding, flow category), severity).
SEVERITY_RULES: tuple[tuple[str, Callable[[Finding, str | None], bool], str], ...] = (
    ("dead letters on shipment or invoice flows", lambda f, cat: f.kind == "dead_letter"
     and cat in ("shipment", "invoice"), "high"),
    ("dead letters elsewhere", lambda f, _c: f.kind == "dead_letter", "medium"),
    ("retries exhausted", lambda f, _c: f.kind == "retries_exhausted", "high"),
    ("data quality", lambda f, _c: f.kind == "delivery_failed"
     and (f.error_class or "").startswith(DATA_QUALITY_PREFIX), "medium"),
    ("failed deliveries", lambda f, _c: f.kind == "delivery_failed", "high"),
    ("orders stuck before ERP acceptance", lambda f, _c: f.kind == "sla_breach" and f.key == "acceptance", "high"),
    ("other SLA breaches and sync lag", lambda f, _c: f.kind == "sla_breach", "medium"),
    ("dead letters waiting in a DLQ", lambda f, _c: f.kind == "queue_backlog" and f.error_class == "dlq", "medium"),
    ("queue backlog", lambda f, _c: f.kind == "queue_backlog", "high"),
    ("expected events that never came", lambda f, _c: f.kind == "missing_event", "high"),
    ("orders a system never got (reconciliation)", lambda f, _c: f.kind == "reconciliation_gap", "high"),
    ("stock a storefront shows wrongly", lambda f, _c: f.kind == "inventory_gap", "medium"),
)  # fmt: skip
DEFAULT_SEVERITY = "medium"


def severity(finding: Finding, category: str | None, settings: DetectionSettings) -> str:
    """Severity from the rule table; more than ``critical_affected_orders`` orders is critical."""
    if len(finding.orders) > settings.critical_affected_orders:
        return "critical"
    return next((sev for _why, test, sev in SEVERITY_RULES if test(finding, category)), DEFAULT_SEVERITY)


def _more_severe(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) <= SEVERITIES.index(b) else b


@dataclass
class DetectionReport:
    """What one pass did, by fingerprint."""

    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    clearing: list[str] = field(default_factory=list)  # clear, but still within the hold-down
    incidents: IncidentReport = field(default_factory=IncidentReport)
    findings: int = 0
    elapsed_seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """True when the pass wrote anything."""
        return bool(self.opened or self.updated or self.resolved or self.reopened)


def _findings(results: list[RuleResult]) -> dict[str, Finding]:
    """Group every rule's occurrences by fingerprint, column by column: an outage leaves hundreds of
    thousands of occurrences (600k stuck orders took 6.7 s row by row, every pass). Only a group's
    first and last rows are read whole (and a failure group's rows, which are its messages)."""
    found: dict[str, Finding] = {}
    for result in results:
        occ = result.occurrences.reset_index(drop=True)
        if occ.empty:
            continue
        times = pd.to_datetime(occ["at"]).to_numpy(dtype="datetime64[us]")
        keys = occ["correlation_id"]
        groups: dict[str, list[np.ndarray]] = {}
        by_identity = occ.groupby(["kind", "flow_id", "key"], dropna=False, sort=False).indices
        for (kind, flow_id, key), at in by_identity.items():
            groups.setdefault(fingerprint(kind, _opt(flow_id), str(key)), []).append(at)
        for fp in sorted(groups):
            where = np.concatenate(groups[fp])
            where = where[np.lexsort((where, times[where]))]  # time order; ties keep the rule's order
            first, last = occ.iloc[where[0]], occ.iloc[where[-1]]
            linked = keys.take(where)
            found[fp] = Finding(
                fingerprint=fp, rule=result.name, kind=first["kind"], flow_id=_opt(first["flow_id"]),
                key=str(first["key"]), system_id=_opt(first["system_id"]), error_class=_opt(first["error_class"]),
                first_error=_opt(first["message"]), event_id=_opt(last["event_id"]),
                first_at=first["at"].to_pydatetime(), last_at=last["at"].to_pydatetime(), times=times[where],
                orders=frozenset(np.asarray(linked[linked.notna()].unique(), dtype=object)),
                messages=_messages(occ.iloc[where]) if result.carries_messages else None,
            )  # fmt: skip
    return found


def _after(times: np.ndarray, moment: datetime) -> np.ndarray:
    """Which of a finding's occurrence times are later than ``moment``."""
    return times > np.datetime64(moment, "us")


def _messages(rows: pd.DataFrame) -> tuple[dict[str, Any], ...]:
    """One entry per original message among failure occurrences (sorted by time): a failed replay
    of a message (``<id>:replay:<n>``) is the same message failing again."""
    out: dict[str, dict[str, Any]] = {}
    for event_id, key, at, message in zip(rows["event_id"], rows["correlation_id"], rows["at"], rows["message"],
                                          strict=True):  # fmt: skip
        if event_id is None or pd.isna(event_id):
            continue
        original = original_id(str(event_id))
        seen = out.get(original)
        when = at.to_pydatetime()
        if seen is None:
            out[original] = {"event_id": original, "correlation_id": _opt(key), "first_at": when, "last_at": when,
                             "error": _opt(message)}  # fmt: skip
        else:
            seen.update(last_at=when, error=_opt(message))
    return tuple(out.values())


def _opt(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def run_detection(conn: Connection, *, now: datetime, settings: DetectionSettings | None = None) -> DetectionReport:
    """One detection pass as of ``now`` inside the caller's transaction."""
    began = time.perf_counter()
    settings = settings or DetectionSettings()
    results = [r for rule in RULES for r in rule(conn, now=now, settings=settings)]
    found = _findings(results)
    stored = _stored(conn, list(found))
    flows = read_frame(conn, "SELECT flow_id, name, category FROM flows").set_index("flow_id")
    systems = {row[0]: row[1] for row in conn.execute(sa.text("SELECT system_id, name FROM systems"))}
    report = DetectionReport(findings=len(found))
    writer = _Writer(conn, now, now - settings.failure_lookback)

    for fp, finding in found.items():
        category = flows["category"].get(finding.flow_id) if finding.flow_id else None
        sev = severity(finding, category, settings)
        row = stored.get(fp)
        if row is not None and row["status"] == "resolved":
            newer = bool(_after(finding.times, row["resolved_at"]).any())
            if not (newer or row["resolved_by"] == DETECTOR):
                continue
            if now - row["resolved_at"] > settings.reopen_window:
                writer.archive(row)  # a new incident: the old exception keeps its own history
                row = None
            else:
                writer.reopen(row, finding, sev)
                report.reopened.append(fp)
                continue
        if row is None:
            title = _title(finding, flows["name"].get(finding.flow_id, finding.flow_id), systems)
            writer.open(finding, sev, title)
            report.opened.append(fp)
            continue
        if writer.update(row, finding, sev):
            report.updated.append(fp)

    since = now - settings.failure_lookback
    for fp, row in stored.items():
        if fp in found or row["status"] not in ACTIVE_STATUSES:
            continue
        result = next((r for r in results if r.owns(row)), None)
        if result is None:
            continue
        if result.carries_messages:
            mark_delivered_by_source(conn, int(row["exception_id"]), [], since=since, now=now)
        if writer.clear(row, result.clear_reason, settings):
            report.resolved.append(fp)
        else:
            report.clearing.append(fp)
    active = sa.select(exceptions.c.exception_id).where(exceptions.c.status.in_([str(s) for s in ACTIVE_STATUSES]))
    refresh_impact(conn, active)  # the links written above, and their orders' facts as of now
    report.incidents = correlate(conn, now=now, settings=settings)
    report.elapsed_seconds = round(time.perf_counter() - began, 4)
    return report


def _stored(conn: Connection, fingerprints: list[str]) -> dict[str, dict[str, Any]]:
    """Exceptions the pass may touch: every active one, and any with a current fingerprint;
    with their linked orders and who resolved them last."""
    frame = read_frame(
        conn,
        f"""
        SELECT x.exception_id, x.fingerprint, x.kind, x.business_key, x.error_class, x.status, x.severity,
               x.occurrences, x.last_seen, x.affected_orders, x.event_id, x.resolved_at, x.clear_since, x.clear_passes,
               (SELECT a.actor FROM exception_actions a
                WHERE a.exception_id = x.exception_id AND a.action = 'resolve'
                ORDER BY a.acted_at DESC, a.action_id DESC LIMIT 1) AS resolved_by
        FROM exceptions x
        WHERE x.status IN {ACTIVE_SQL} OR {in_list(conn, "x.fingerprint", "fps")}
        """,
        {"fps": fingerprints},
    )
    links = read_frame(
        conn,
        f"SELECT exception_id, correlation_id FROM exception_orders WHERE {in_list(conn, 'exception_id', 'ids')}",
        {"ids": [int(i) for i in frame["exception_id"]]},
    )
    keys = links["correlation_id"].to_numpy(dtype=object)
    linked = {int(i): frozenset(keys[at]) for i, at in links.groupby("exception_id").indices.items()}
    rows: dict[str, dict[str, Any]] = {}
    for raw in frame.to_dict("records"):
        record = {k: None if pd.isna(v) else v for k, v in raw.items()}  # pandas' NaN/NaT → NULL
        record["orders"] = linked.get(int(raw["exception_id"]), frozenset())
        for column in ("last_seen", "resolved_at", "clear_since"):
            if record[column] is not None:
                record[column] = pd.Timestamp(record[column]).to_pydatetime()
        rows[str(record["fingerprint"])] = record
    return rows


class _Writer:
    """The writes of one pass: exceptions, their orders and the audit trail, all as ``detector``."""

    def __init__(self, conn: Connection, now: datetime, since: datetime) -> None:
        self.conn, self.now, self.since = conn, now, since

    def open(self, f: Finding, sev: str, title: str) -> None:
        exception_id = self.conn.execute(
            exceptions.insert()
            .values(
                fingerprint=f.fingerprint, kind=f.kind, flow_id=f.flow_id, system_id=f.system_id,
                business_key=f.key, title=title, error_class=f.error_class, first_error=f.first_error,
                severity=sev, status="open", first_seen=f.first_at, last_seen=f.last_at,
                occurrences=len(f.times), affected_orders=len(f.orders), event_id=f.event_id, updated_at=self.now,
            )
            .returning(exceptions.c.exception_id)
        ).scalar_one()  # fmt: skip
        self._link(exception_id, f.orders)
        self._messages(exception_id, f)
        self._audit(exception_id, "open", None, "open", f.first_error)

    def update(self, row: dict[str, Any], f: Finding, sev: str) -> bool:
        """Refresh an active (or ignored) exception; False when nothing changed."""
        values = self._refreshed(row, f, sev)
        changed = {k: v for k, v in values.items() if row.get(k) != v}
        self._messages(row["exception_id"], f)
        if not changed and row["orders"] == f.orders:
            return False
        self._set(row, {**values, "updated_at": self.now})
        if row["orders"] != f.orders:
            self._link(row["exception_id"], f.orders, row["orders"])
        return True

    def reopen(self, row: dict[str, Any], f: Finding, sev: str) -> None:
        values = self._refreshed(row, f, sev)
        self._set(row, {**values, "status": "open", "resolved_at": None, "resolution": None, "updated_at": self.now})
        self._link(row["exception_id"], f.orders, row["orders"])
        self._messages(row["exception_id"], f)
        self._audit(row["exception_id"], "reopen", "resolved", "open", f"condition returned: {f.first_error}")

    def archive(self, row: dict[str, Any]) -> None:
        """Free the fingerprint of an exception resolved long ago, so a recurrence opens a new one."""
        archived = f"{row['fingerprint']}#{row['exception_id']}"
        self._set(row, {"fingerprint": archived})

    def clear(self, row: dict[str, Any], reason: str, settings: DetectionSettings) -> bool:
        """One more pass with the condition clear: resolve once the hold-down is over (True), else count it."""
        since = row["clear_since"] or self.now
        passes = int(row["clear_passes"] or 0) + 1
        if passes >= settings.resolve_after_passes and self.now - since >= settings.resolve_after:
            self._set(row, {"status": "resolved", "resolved_at": self.now, "resolution": reason,
                            "updated_at": self.now, "clear_since": None, "clear_passes": None})  # fmt: skip
            self._audit(row["exception_id"], "resolve", str(row["status"]), "resolved", reason)
            return True
        self._set(row, {"clear_since": since, "clear_passes": passes})
        return False

    def _messages(self, exception_id: int, f: Finding) -> None:
        """Keep every failed message of the finding; those no longer failing were delivered by their source."""
        if f.messages is None:
            return
        record_failures(self.conn, int(exception_id), list(f.messages))
        failing = [str(m["event_id"]) for m in f.messages]
        mark_delivered_by_source(self.conn, int(exception_id), failing, since=self.since, now=self.now)

    @staticmethod
    def _refreshed(row: dict[str, Any], f: Finding, sev: str) -> dict[str, Any]:
        last_seen = row["last_seen"]
        new = int(_after(f.times, last_seen).sum())
        return {
            "last_seen": max(last_seen, f.last_at),
            "occurrences": int(row["occurrences"]) + new,
            "affected_orders": len(f.orders),
            "event_id": f.event_id or row["event_id"],
            "severity": _more_severe(str(row["severity"]), sev),
            "clear_since": None,  # found again: any hold-down starts over
            "clear_passes": None,
        }

    def _set(self, row: dict[str, Any], values: dict[str, Any]) -> None:
        self.conn.execute(exceptions.update().where(exceptions.c.exception_id == row["exception_id"]).values(**values))

    def _link(self, exception_id: object, orders: frozenset[str], held: frozenset[str] = frozenset()) -> None:
        """Make the exception's linked orders ``orders``, given the ones it ``held``. Only the
        difference is written: an outage's 900k links change by a few thousand a pass."""
        gone, new = held - orders, orders - held
        if gone:
            self.conn.execute(
                sa.text(
                    "DELETE FROM exception_orders WHERE exception_id = :id AND correlation_id IN (SELECT unnest(:ids))"
                ),
                {"id": exception_id, "ids": sorted(gone)},
            )
        if new:
            self.conn.execute(
                sa.text("INSERT INTO exception_orders (exception_id, correlation_id) SELECT :id, unnest(:ids)"),
                {"id": exception_id, "ids": sorted(new)},
            )

    def _audit(self, exception_id: object, action: str, before: str | None, after: str, detail: str | None) -> None:
        self.conn.execute(
            exception_actions.insert().values(
                exception_id=exception_id, action=action, actor=DETECTOR, acted_at=self.now,
                before_state=before, after_state=after, outcome="ok", detail=detail,
            )
        )  # fmt: skip


def _title(f: Finding, flow_name: str | None, systems: dict[str, str]) -> str:
    """A headline an operations manager understands without opening the exception."""
    flow = flow_name or f.flow_id or "no flow"
    system = systems.get(f.system_id or "", f.system_id or "the target")
    if f.rule == "data_quality":
        return f"Order {f.key} rejected by {system}: {f.first_error}"
    titles = {
        "dead_letter": f"{flow}: messages dead-lettered ({f.key})",
        "delivery_failed": f"{flow}: deliveries failing ({f.key})",
        "retries_exhausted": f"{flow}: retries exhausted ({f.key})",
        "missing_ack": f"No 855 from {system} for {f.key}",
        "missing_asn": f"No ASN (856) from {system} for {f.key}",
        "queue_backlog": f"{f.key}: dead letters waiting" if f.error_class == "dlq" else f"{f.key} backlog",
        "missing_event": f"Silent: {f.first_error}",
        "reconciliation_gap": f"Reconciliation {f.key.replace('/', ' on ')}: orders missing"
        + (f" ({flow})" if f.flow_id else ""),
        "inventory_gap": f"{flow}: stock of {f.key} differs from the WMS",
    }
    if f.kind == "sla_breach":
        return f"{flow}: sync lag over threshold" if f.key == "sync-lag" else f"{flow}: orders stuck before {f.key}"
    return titles.get(f.kind, f"{flow}: {f.kind} ({f.key})")


class _Transactional(Protocol):
    def transaction(self) -> AbstractContextManager[Connection]: ...


class _HasWriter(Protocol):
    @property
    def writer(self) -> _Transactional: ...

    def now(self) -> datetime: ...


def run_detection_job(ctx: _HasWriter, settings: DetectionSettings | None = None) -> DetectionReport:
    """The scheduled (and on-demand) job: one pass inside the ingest writer's transaction, so passes
    never overlap each other or any other write of the process; as of the context's clock."""
    with ctx.writer.transaction() as conn:
        return run_detection(conn, now=ctx.now(), settings=settings)
