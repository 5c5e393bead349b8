"""A failed replay must not make detection swap the operator's exception for a new one."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from app.services.delivery import Delivery
from app.services.replay import Claim, replay_event
from models.detection.passes import run_detection
from models.store.tables import flows
from seed_data.distributor import FLOW_BY_ID
from tests.factories import event, events_table, fresh_db

NOW = datetime(2026, 5, 1, 12, 0)
FLOW = FLOW_BY_ID["3pl_north-d365-shipment"]
FINGERPRINT = f"dead_letter:{FLOW.flow_id}:3PL-503"


def _claim(attempt: int) -> Claim:
    return Claim(1, f"x1:replay:{attempt - 1}", attempt, "{}", False, None, None, "dana")


def test_failed_replay_updates_the_same_exception_and_a_delivered_one_clears_it(tmp_path: Path) -> None:
    engine, writer = fresh_db(tmp_path)
    with engine.begin() as conn:
        conn.execute(
            flows.insert().values(
                flow_id=FLOW.flow_id,
                name=FLOW.name,
                source_system=FLOW.source_system,
                target_system=FLOW.target_system,
                start_event=FLOW.start_event,
                end_event=FLOW.end_event,
                sla_seconds=FLOW.sla_seconds,
                lag_threshold_seconds=FLOW.lag_threshold_seconds,
                category=FLOW.category,
                queue=FLOW.queue,
            )
        )
    original = event(
        "SHP-1",
        "shipment.dispatched",
        NOW - timedelta(minutes=30),
        flow_id=FLOW.flow_id,
        status="dead_lettered",
        source="3pl_north",
        event_id="x1",
    )
    original["error_code"] = "3PL-503"
    writer.append("business_events", events_table([original]))
    with engine.begin() as conn:
        assert run_detection(conn, now=NOW).opened == [FINGERPRINT]

    subject = {**original, "message_status": "dead_lettered", "message_error_code": "3PL-503"}
    down = Delivery(ok=False, target="/sim/erp/d365/shipments", error_code="HTTP-500", error="answered 500")
    failed = replay_event(subject, _claim(2), down, NOW)
    assert failed.column("status").to_pylist() == ["dead_lettered"]
    assert failed.column("error_message").to_pylist() == ["replay failed with HTTP-500: answered 500"]
    writer.append("business_events", failed)
    with engine.begin() as conn:
        report = run_detection(conn, now=NOW + timedelta(minutes=1))
    assert (report.opened, report.resolved, report.updated) == ([], [], [FINGERPRINT])

    delivered = replay_event(subject, _claim(3), Delivery(ok=True, target="/sim/erp/d365/shipments"), NOW)
    writer.append("business_events", delivered)
    with engine.begin() as conn:  # clear, but inside the hold-down (two passes and ten minutes)
        report = run_detection(conn, now=NOW + timedelta(minutes=2))
    assert (report.opened, report.resolved, report.clearing) == ([], [], [FINGERPRINT])
    with engine.begin() as conn:
        report = run_detection(conn, now=NOW + timedelta(minutes=12))
    assert (report.opened, report.resolved) == ([], [FINGERPRINT])
    with engine.connect() as conn:  # its one message was delivered: detection saw the later ok attempt
        state = conn.execute(sa.text("SELECT state, delivered_by FROM exception_messages")).one()
    assert tuple(state) == ("delivered", "source")
