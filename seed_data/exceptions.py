"""Exceptions an operator would find after the seeded month, consistent with the failures.

Fingerprints follow ``{kind}:{flow_id}:{key}`` as detection would write them: one
exception per order for validation failures (each needs its own fix), one per flow and
error class for outages and SLA breaches (one cause, many orders), one per PO missing its
855. ``affected_orders`` is the number of linked business keys in ``exception_orders``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from models.enums import REPLAY_ACTOR, Action
from seed_data.delivery import Findings
from seed_data.distributor import FLOW_BY_ID, SYSTEMS
from seed_data.incidents import ErpBacklog
from seed_data.timeline import DAY, HOUR, MINUTE, timestamps

_SYSTEM_NAME = {s.system_id: s.name.split(" (")[0] for s in SYSTEMS}
#: Retried deliveries only become exceptions for these codes; other transient retries are noise.
RETRY_EXCEPTION_CODES = frozenset({"ERP-TIMEOUT"})
_RESOLUTIONS = {
    "VAL-SKU": "Item mapped in the ERP item master; order replayed",
    "VAL-ADDR": "Ship-to postcode corrected; order replayed",
    "ERP-TIMEOUT": "Recovered on automatic retry once Dynamics 365 caught up",
    "acceptance": "Backlog drained; acceptance back within SLA",
}
#: Operators acknowledge within about 45 minutes of an exception being raised.
_ACK_AFTER = 45 * MINUTE


@dataclass
class ExceptionDraft:
    """One exception before it has an id; times are relative seconds."""

    kind: str
    flow_id: str | None
    key: str
    system_id: str | None
    title: str
    severity: str
    first_seen: float
    last_seen: float
    occurrences: int
    error_class: str | None = None
    first_error: str | None = None
    event_id: str | None = None
    resolved_at: float | None = None
    resolution: str | None = None
    #: Who took it (None: nobody yet, so open) and its last change short of resolving (partial replays).
    assignee: str | None = None
    touched_at: float | None = None
    keys: list[str] = field(default_factory=list)
    #: Its failed messages: (event_id, correlation_id, failed_at, delivered_at or None, error).
    messages: list[tuple[str, str, float, float | None, str | None]] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return f"{self.kind}:{self.flow_id}:{self.key}"

    def row(self) -> dict[str, object]:
        """The exceptions row (status and updated_at follow from the lifecycle)."""
        touched = max(self.last_seen, self.touched_at if self.touched_at is not None else self.last_seen)
        if self.resolved_at is not None:
            status, updated = "resolved", self.resolved_at
        elif self.assignee is not None:
            status, updated = "acknowledged", max(touched, min(self.first_seen + _ACK_AFTER, 0.0))
        else:
            status, updated = "open", touched
        return {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "flow_id": self.flow_id,
            "system_id": self.system_id,
            "business_key": self.key,
            "title": self.title,
            "error_class": self.error_class,
            "first_error": self.first_error,
            "severity": self.severity,
            "status": status,
            "assignee": self.assignee,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "occurrences": self.occurrences,
            "affected_orders": len(set(self.keys)),
            "event_id": self.event_id,
            "resolved_at": self.resolved_at,
            "resolution": self.resolution,
            "updated_at": updated,
        }


def draft_exceptions(
    findings: Findings, backlog: ErpBacklog, start_events: Callable[[Iterable[str], str], dict[str, str]]
) -> list[ExceptionDraft]:
    """All exceptions; ``start_events(keys, event_type)`` finds the message to resend per key."""
    failures = (
        pd.concat([pd.DataFrame(f) for f in findings.failures], ignore_index=True)
        if findings.failures
        else pd.DataFrame(
            columns=[
                "flow_id",
                "system_id",
                "status",
                "error_code",
                "error_message",
                "correlation_id",
                "event_id",
                "failed_at",
                "recovered_at",
            ]
        )
    )
    drafts = [*_validation(failures), *_grouped_failures(failures), *_breaches(findings, start_events)]
    episode = backlog.episode()
    if episode is not None:
        start, peak, end = episode
        drafts.append(
            ExceptionDraft(
                "queue_backlog",
                "shopify-d365-orders",
                "orders.shopify",
                "d365",
                f"orders.shopify backlog: messages waited up to {peak / MINUTE:.0f} min for Dynamics 365",
                "high",
                start,
                end,
                int((end - start) // MINUTE),
                error_class="backlog",
                first_error="Queue orders.shopify oldest message age above 5 min",
                resolved_at=end,
                resolution="Dynamics 365 recovered; backlog drained",
            )
        )
    return drafts


def _validation(failures: pd.DataFrame) -> list[ExceptionDraft]:
    """One per order: each rejected order needs its own fix."""
    rows = failures[failures["error_code"].astype(str).str.startswith("VAL-")]
    drafts = []
    for r in rows.itertuples(index=False):
        recovered = bool(r.recovered_at <= 0)
        system = _SYSTEM_NAME.get(r.system_id, r.system_id)
        drafts.append(
            ExceptionDraft(
                "delivery_failed",
                r.flow_id,
                r.correlation_id,
                r.system_id,
                f"Order {r.correlation_id} rejected by {system}: {r.error_message}",
                "high" if r.flow_id.startswith("b2b") else "medium",
                r.failed_at,
                r.failed_at,
                1,
                error_class=r.error_code,
                first_error=r.error_message,
                event_id=r.event_id,
                resolved_at=float(r.recovered_at) if recovered else None,
                resolution=_RESOLUTIONS[r.error_code] if recovered else None,
                assignee="ops.desk" if recovered or r.failed_at < -DAY else None,
                keys=[r.correlation_id],
                messages=[
                    (r.event_id, r.correlation_id, r.failed_at, r.recovered_at if recovered else None, r.error_message)
                ],
            )
        )
    return drafts


def _grouped_failures(failures: pd.DataFrame) -> list[ExceptionDraft]:
    """One per flow and error class: dead letters, failed deliveries, timeouts."""
    code = failures["error_code"].astype(str)
    grouped = failures[
        ~code.str.startswith("VAL-") & ((failures["status"] != "retrying") | code.isin(RETRY_EXCEPTION_CODES))
    ]
    drafts = []
    for (flow_id, status, error_code), g in grouped.groupby(["flow_id", "status", "error_code"], sort=True):
        dead = status == "dead_lettered"
        kind = "dead_letter" if dead else "delivery_failed"
        pending = g[~(g["recovered_at"] <= 0)]
        recovered = g["recovered_at"][g["recovered_at"] <= 0]
        last = (pending if len(pending) else g).sort_values("failed_at").iloc[-1]
        resolved = len(pending) == 0
        verb = "dead-lettered" if dead else "failed" if status == "failed" else "timed out"
        drafts.append(
            ExceptionDraft(
                kind,
                flow_id,
                error_code,
                str(g["system_id"].iloc[0]),
                f"{FLOW_BY_ID[flow_id].name}: {len(g)} messages {verb} ({error_code})",
                "critical" if dead else "high" if status == "failed" else "medium",
                float(g["failed_at"].min()),
                float(g["failed_at"].max()),
                len(g),
                error_class=error_code,
                first_error=str(g.sort_values("failed_at")["error_message"].iloc[0]),
                event_id=str(last["event_id"]),
                resolved_at=float(g["recovered_at"].max()) if resolved else None,
                resolution=_RESOLUTIONS.get(error_code, "All messages replayed") if resolved else None,
                assignee="dana.okafor" if dead else None,
                touched_at=float(recovered.max()) if len(recovered) else None,
                keys=list(g["correlation_id"]),
                messages=[
                    (e, k, f, r if r <= 0 else None, m)
                    for e, k, f, r, m in zip(
                        g["event_id"],
                        g["correlation_id"],
                        g["failed_at"],
                        g["recovered_at"],
                        g["error_message"],
                        strict=True,
                    )
                ],
            )
        )
    return drafts


def _breaches(findings: Findings, start_events: Callable[[Iterable[str], str], dict[str, str]]) -> list[ExceptionDraft]:
    """SLA breaches grouped per flow; missing 855s one per PO."""
    if not findings.breaches:
        return []
    frame = pd.concat([pd.DataFrame(b) for b in findings.breaches], ignore_index=True)
    drafts = []
    missing = frame[frame["kind"] == "missing_ack"]
    sent = start_events(missing["correlation_id"], "po.sent")
    for r in missing.itertuples(index=False):
        flow = FLOW_BY_ID[r.flow_id]
        drafts.append(
            ExceptionDraft(
                "missing_ack",
                r.flow_id,
                r.correlation_id,
                flow.target_system,
                f"No 855 from {_SYSTEM_NAME[flow.target_system]} for {r.correlation_id}",
                "medium",
                r.at,
                r.at,
                1,
                error_class="855-missing",
                first_error=f"PO acknowledgement (EDI 855) not received within {flow.sla_seconds // HOUR} h",
                event_id=sent.get(r.correlation_id),
                keys=[r.correlation_id],
                messages=[(sent[r.correlation_id], r.correlation_id, r.at, None, None)]
                if r.correlation_id in sent
                else [],
            )
        )
    for (flow_id, key), g in frame[frame["kind"] == "sla_breach"].groupby(["flow_id", "key"], sort=True):
        flow = FLOW_BY_ID[flow_id]
        ended = g["ended_at"]
        resolved = bool((ended <= 0).all()) and float(ended.max()) < -HOUR and key != "855-late"
        links = [] if flow.category == "stock" else list(g["correlation_id"])
        drafts.append(
            ExceptionDraft(
                "sla_breach",
                flow_id,
                key,
                flow.target_system,
                f"{flow.name}: {len(g)} {flow.end_event} later than the {_duration(flow.sla_seconds)} SLA",
                "high" if key == "acceptance" else "low" if key == "855-late" else "medium",
                float(g["at"].min()),
                float(g["at"].max()),
                len(g),
                error_class=key,
                first_error=f"{flow.end_event} not within {_duration(flow.sla_seconds)} of {flow.start_event}",
                resolved_at=float(ended.max()) if resolved else None,
                resolution=_RESOLUTIONS.get(key) if resolved else None,
                assignee="procurement" if key == "855-late" else "ops.desk" if resolved else None,
                keys=links,
            )
        )
    return drafts


def _duration(seconds: int) -> str:
    return f"{seconds // HOUR} h" if seconds >= HOUR else f"{seconds // MINUTE} min"


_TIME_COLUMNS = ("first_seen", "last_seen", "resolved_at", "updated_at")
_INT_COLUMNS = ("occurrences", "affected_orders")


def exception_tables(
    drafts: list[ExceptionDraft], ids: list[int], anchor_us: int
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The exceptions, exception_orders and exception_messages batches for drafts with their assigned ids."""
    rows = [d.row() for d in drafts]
    columns: dict[str, pa.Array] = {"exception_id": pa.array(ids, pa.int64())}
    for name in rows[0]:
        values = [r[name] for r in rows]
        if name in _TIME_COLUMNS:
            columns[name] = timestamps(np.array([np.nan if v is None else v for v in values], float), anchor_us)
        else:
            columns[name] = pa.array(values, pa.int32() if name in _INT_COLUMNS else pa.string())
    links = [(i, key) for i, d in zip(ids, drafts, strict=True) for key in dict.fromkeys(d.keys)]
    orders = pa.table(
        {
            "exception_id": pa.array([i for i, _ in links], pa.int64()),
            "correlation_id": pa.array([k for _, k in links], pa.string()),
        }
    )
    return pa.table(columns), orders, _messages_table(drafts, ids, anchor_us)


def audit_table(drafts: list[ExceptionDraft], ids: list[int], action_ids: list[int], anchor_us: int) -> pa.Table:
    """The ``exception_actions`` the seeded lifecycle implies, so the demo's history shows who acted.

    An assignee acknowledged the exception (45 min in, or when it was resolved if sooner); a
    resolution that says messages were replayed was a person's replay (the assignee, else the
    ops desk) followed by the replay's own resolve; any other resolution a person confirmed and
    closed (never the detector's: detection would then reopen it on an old finding).
    ``action_ids`` must hold :func:`audit_count` ids.
    """
    rows = list(_audit(drafts, ids))
    at = np.array([r[3] for r in rows], float)
    return pa.table(
        {
            "action_id": pa.array(action_ids, pa.int64()),
            "exception_id": pa.array([r[0] for r in rows], pa.int64()),
            "action": pa.array([r[1] for r in rows], pa.string()),
            "actor": pa.array([r[2] for r in rows], pa.string()),
            "acted_at": timestamps(at, anchor_us),
            "outcome": pa.array([r[4] for r in rows], pa.string()),
        }
    )


def audit_count(drafts: list[ExceptionDraft]) -> int:
    """How many audit rows :func:`audit_table` writes for ``drafts``."""
    return sum(1 for _ in _audit(drafts, list(range(len(drafts)))))


def _audit(drafts: list[ExceptionDraft], ids: list[int]) -> Iterable[tuple[int, str, str, float, str]]:
    for i, d in zip(ids, drafts, strict=True):
        if d.assignee is not None:
            ack = min(d.first_seen + _ACK_AFTER, 0.0)
            yield i, str(Action.ACK), d.assignee, ack if d.resolved_at is None else min(ack, d.resolved_at), "ok"
        if d.resolved_at is None:
            continue
        if "replayed" in (d.resolution or ""):
            yield i, str(Action.REPLAY), d.assignee or "ops.desk", d.resolved_at, "delivered"
            yield i, str(Action.RESOLVE), REPLAY_ACTOR, d.resolved_at, "done"
        else:
            yield i, str(Action.RESOLVE), d.assignee or "ops.desk", d.resolved_at, "ok"


def _messages_table(drafts: list[ExceptionDraft], ids: list[int], anchor_us: int) -> pa.Table:
    """One row per failed message of each draft: pending, or delivered when it recovered."""
    rows = {(i, m[0]): m for i, d in zip(ids, drafts, strict=True) for m in d.messages}  # one per message id
    owners = [i for i, _ in rows]
    messages = list(rows.values())
    failed = np.array([m[2] for m in messages], float)
    delivered = np.array([np.nan if m[3] is None or pd.isna(m[3]) else m[3] for m in messages], float)
    done = ~np.isnan(delivered)
    return pa.table(
        {
            "exception_id": pa.array(owners, pa.int64()),
            "event_id": pa.array([m[0] for m in messages], pa.string()),
            "correlation_id": pa.array([m[1] for m in messages], pa.string()),
            "first_failed_at": timestamps(failed, anchor_us),
            "last_failed_at": timestamps(failed, anchor_us),
            "last_error": pa.array([m[4] for m in messages], pa.string()),
            "state": pa.array(np.where(done, "delivered", "pending").tolist(), pa.string()),
            "replays": pa.array([int(d) for d in done], pa.int32()),
            "delivered_at": timestamps(delivered, anchor_us),
            "delivered_by": pa.array(np.where(done, "seeded history", None).tolist(), pa.string()),
        }
    )
