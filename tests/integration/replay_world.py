"""Flows with replay targets and exceptions over failed messages, written into a live server's database."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from app.context import AppContext
from app.settings import load_settings
from models.queries.messages import record_failures
from models.store.flow_config import flow_config_changed
from models.store.tables import exception_actions, exception_orders, exceptions, flows, replays
from tests.factories import event, events_table
from tests.live_server import LiveServer, serve


@contextmanager
def workbench_server(tmp_path: Path, **settings: Any) -> Iterator[LiveServer]:
    """A live Flowwatch over an empty database with a fast ingest flush."""
    # Detection stays out of the way (hourly): these tests drive exceptions by hand.
    options = {
        "db": tmp_path / "flowwatch.duckdb",
        "ingest_max_delay_seconds": 0.05,
        "detection_interval_seconds": 3600,
        **settings,
    }
    with serve(load_settings(**options)) as live:
        yield live


def add_flow(
    ctx: AppContext,
    flow_id: str,
    *,
    target: str | None,
    kind: str = "http",
    queue: str | None = None,
    end_event: str = "shipment.dispatched",
    category: str = "shipment",
    four_eyes: bool | None = None,
    rate: float | None = None,
) -> None:
    """One flow with its replay settings (replacing the flow file's flow of that id, if any)."""
    with ctx.writer.transaction() as conn:
        conn.execute(flows.delete().where(flows.c.flow_id == flow_id))
        conn.execute(
            flows.insert().values(
                flow_id=flow_id,
                name=flow_id.replace("-", " "),
                source_system="3pl_north",
                target_system="d365",
                start_event="order.released",
                end_event=end_event,
                sla_seconds=3600,
                lag_threshold_seconds=1800,
                queue=queue,
                replay_kind=kind,
                replay_target=target,
                category=category,
                replay_rate_per_second=rate,
                replay_four_eyes=four_eyes,
            )
        )
    flow_config_changed()


def default_payload(n: int) -> dict[str, Any]:
    return {
        "order": f"SHP-{1_000_000 + n}",
        "tracking": f"1Z{n:08d}",
        "lines": [{"sku": "SKU-10001", "qty": n % 5 + 1}],
    }


def add_failures(
    ctx: AppContext,
    flow_id: str,
    count: int,
    *,
    prefix: str = "evt",
    event_type: str = "shipment.dispatched",
    payload: Callable[[int], Any] = default_payload,
    kind: str = "dead_letter",
    status: str = "open",
    grouped: bool = False,
) -> list[int]:
    """``count`` failed messages (``<prefix>-00001``…) over as many orders, and one exception over each
    (or, ``grouped``, one exception over all of them, as detection groups an outage); returns the
    exception ids (one when grouped). Each exception keeps its messages as detection would."""
    now = ctx.now()
    failed_at = now - timedelta(hours=2)
    rows = []
    for n in range(1, count + 1):
        row = event(
            f"SHP-{1_000_000 + n}",
            event_type,
            failed_at + timedelta(seconds=n),
            flow_id=flow_id,
            status="dead_lettered",
            source="3pl_north",
            target="d365",
            event_id=f"{prefix}-{n:05d}",
            channel=None,
            received_at=failed_at + timedelta(seconds=n),
        )
        row["error_code"], row["error_message"] = "3PL-DOWN", "503 from d365 shipments API"
        row["payload"] = json.dumps(payload(n))
        rows.append(row)
    ctx.writer.append("business_events", events_table(rows))
    if grouped:
        return [_grouped_exception(ctx, flow_id, rows, kind=kind, status=status, key=f"3PL-DOWN-{prefix}")]
    with ctx.writer.transaction() as conn:
        conn.execute(
            exceptions.insert(),
            [
                {
                    "fingerprint": f"{kind}:{flow_id}:{r['event_id']}",
                    "kind": kind,
                    "flow_id": flow_id,
                    "system_id": "d365",
                    "business_key": r["correlation_id"],
                    "title": f"Shipment {r['correlation_id']} dead-lettered",
                    "error_class": "3PL-DOWN",
                    "first_error": r["error_message"],
                    "severity": "high",
                    "status": status,
                    "first_seen": r["occurred_at"],
                    "last_seen": r["occurred_at"],
                    "occurrences": 1,
                    "affected_orders": 1,
                    "event_id": r["event_id"],
                    "updated_at": r["occurred_at"],
                }
                for r in rows
            ],
        )
        ids = dict(
            conn.execute(
                sa.select(exceptions.c.event_id, exceptions.c.exception_id).where(exceptions.c.flow_id == flow_id)
            ).all()
        )
        exception_ids = [int(ids[r["event_id"]]) for r in rows]
        conn.execute(
            exception_orders.insert(),
            [
                {"exception_id": i, "correlation_id": r["correlation_id"]}
                for i, r in zip(exception_ids, rows, strict=True)
            ],
        )
        for i, r in zip(exception_ids, rows, strict=True):
            record_failures(conn, i, [_message(r)])
    return exception_ids


def _message(row: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": row["event_id"], "correlation_id": row["correlation_id"], "first_at": row["received_at"],
            "last_at": row["received_at"], "error": row["error_message"]}  # fmt: skip


def _grouped_exception(
    ctx: AppContext, flow_id: str, rows: list[dict[str, Any]], *, kind: str, status: str, key: str
) -> int:
    """One exception over every failed message of ``rows`` (an outage: one cause, many orders)."""
    first, last = rows[0], rows[-1]
    with ctx.writer.transaction() as conn:
        exception_id = conn.execute(
            exceptions.insert()
            .values(
                fingerprint=f"{kind}:{flow_id}:{key}", kind=kind, flow_id=flow_id, system_id="d365",
                business_key=key, title=f"{flow_id}: {len(rows)} messages dead-lettered (3PL-DOWN)",
                error_class="3PL-DOWN", first_error=first["error_message"], severity="high", status=status,
                first_seen=first["received_at"], last_seen=last["received_at"], occurrences=len(rows),
                affected_orders=len({r["correlation_id"] for r in rows}), event_id=last["event_id"],
                updated_at=last["received_at"],
            )
            .returning(exceptions.c.exception_id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            exception_orders.insert(),
            [
                {"exception_id": exception_id, "correlation_id": c}
                for c in dict.fromkeys(r["correlation_id"] for r in rows)
            ],
        )
        record_failures(conn, exception_id, [_message(r) for r in rows])
    return int(exception_id)


def actions_of(ctx: AppContext, exception_id: int) -> list[dict[str, Any]]:
    """The audit rows of one exception, oldest first."""
    a = exception_actions.c
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(exception_actions).where(a.exception_id == exception_id).order_by(a.action_id)
        ).mappings()
        return [{**r, "detail": json.loads(r["detail"]) if r["detail"] else None} for r in rows]


def scalar(ctx: AppContext, sql: str, **params: Any) -> Any:
    with ctx.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def rows(ctx: AppContext, sql: str, **params: Any) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def events_settled(ctx: AppContext, sql: str, *, count: int, timeout: float = 10, **params: Any) -> list[dict]:
    """Rows of ``sql`` once there are ``count`` of them: replay events reach the table through the
    ingest buffer, which commits in the background."""
    deadline = time.monotonic() + timeout
    while True:
        found = rows(ctx, sql, **params)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def replay_rows(ctx: AppContext, exception_id: int) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.select(replays).where(replays.c.exception_id == exception_id).order_by(replays.c.replay_id)
            ).mappings()
        ]


def wait_for_run(
    live: LiveServer, run_id: int, *, until: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 120
) -> dict[str, Any]:
    """Poll a bulk run until it has finished (or ``until`` holds); returns its last report."""
    until = until or (lambda r: r["status"] not in ("running", "paused"))
    deadline = time.monotonic() + timeout
    while True:
        report = httpx.get(f"{live.url}/api/v1/bulk-runs/{run_id}", params={"limit": 0}, timeout=10).json()
        if until(report):
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"bulk run {run_id} still {report['status']} after {timeout} s: {report}")
        time.sleep(0.2)
