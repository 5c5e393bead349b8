"""A small estate for alert tests: a storefront → ERP flow with its downstream steps, orders with
known totals, and failed deliveries that detection turns into one exception per order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.channels import build_channel
from alerts.channels.base import Channel, Pacer, RetryPolicy
from alerts.config import AlertsConfig, ChannelConfig, RuleConfig
from alerts.runtime import AlertRuntime
from app.services import lifecycle
from models.detection.passes import run_detection
from models.enums import Action
from models.ingest.writer import IngestWriter
from tests.factories import add_flow, add_system, event, events_table, fresh_db
from tests.slack_server import TOKEN, SlackServer

T0 = datetime(2026, 3, 4, 12, 0)
FLOW = "shopify-d365-orders"
#: Acceptance 15 min + release 2 h + shipment 24 h: the fulfilment SLA of an order not yet accepted.
PROMISE = timedelta(seconds=900 + 7200 + 86400)

EXCEPTIONS_RULE = RuleConfig.model_validate(
    {"id": "failing", "name": "Deliveries failing", "kind": "exceptions", "threshold": 1, "for": "0s",
     "exception_kind": ["delivery_failed"], "severity": "high"}
)  # fmt: skip


def value_of(n: int) -> float:
    """Order n's total: 10.00 + n dollars."""
    return 10.0 + n


def estate(engine: Engine) -> None:
    """Shopify → D365 acceptance, D365 → WMS release, WMS → D365 shipment."""
    add_system(engine, "shopify", "storefront", "Shopify storefront")
    add_system(engine, "d365", "erp", "Dynamics 365")
    add_system(engine, "wms", "wms", "Central WMS")
    add_flow(engine, FLOW, "order.created", "order.accepted", 900, source_system="shopify", target_system="d365")
    add_flow(engine, "d365-wms-release", "order.accepted", "order.released", 7200, "fulfilment",
             source_system="d365", target_system="wms")  # fmt: skip
    add_flow(engine, "wms-d365-shipment", "order.released", "shipment.dispatched", 86400, "shipment",
             source_system="wms", target_system="d365")  # fmt: skip


@dataclass
class World:
    """The database, its writer, an alert runtime over it and the waits its pacing asked for."""

    engine: Engine
    writer: IngestWriter
    runtime: AlertRuntime
    waits: list[float] = field(default_factory=list)
    numbered: int = 0

    def fail_orders(self, count: int, at: datetime) -> list[str]:
        """``count`` new orders whose delivery to D365 fails with a data-quality error, then one detection
        pass at ``at``: one exception per order."""
        orders, rows = [], []
        for _ in range(count):
            n = self.numbered
            self.numbered += 1
            order = f"SHP-{1000 + n}"
            row = event(order, "order.created", at - timedelta(minutes=20) + timedelta(seconds=n), flow_id=FLOW,
                        status="failed", error_code="VAL-SKU", error_message=f"SKU X-{n} not mapped in D365",
                        source="shopify", target="d365")  # fmt: skip
            row["payload"] = json.dumps({"order_id": order, "total": value_of(n)})
            orders.append(order)
            rows.append(row)
        self.writer.append("business_events", events_table(rows))
        self.detect(at)
        return orders

    def detect(self, at: datetime) -> None:
        with self.writer.transaction() as conn:
            run_detection(conn, now=at)

    def resolve_all(self, at: datetime) -> None:
        """An operator resolves every open exception."""
        with self.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(sa.text("SELECT exception_id FROM exceptions WHERE status = 'open'"))]
        with self.writer.transaction() as conn:
            lifecycle.apply_many(Action.RESOLVE, ids, conn=conn, actor="dana.okafor", now=at, text="item master fixed")

    def tick(self, at: datetime) -> list[Any]:
        """One evaluation and one notifier pass at ``at``."""
        self.runtime.evaluate(at)
        return self.runtime.notify(at)

    def log(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM alert_notifications ORDER BY notification_id")).mappings()
            return [dict(r) for r in rows]


def slack_channel(slack: SlackServer, **overrides: Any) -> ChannelConfig:
    return ChannelConfig.model_validate(
        {"name": "slack", "type": "slack", "token": TOKEN, "channel": "#ops", "api_base_url": slack.api} | overrides
    )


def make_world(
    tmp_path: Path,
    channels: Sequence[ChannelConfig],
    *,
    rules: Sequence[RuleConfig] = (EXCEPTIONS_RULE,),
    built: dict[str, Channel] | None = None,
    db: tuple[Engine, IngestWriter] | None = None,
    **config: Any,
) -> World:
    """A fresh database (``db``, e.g. the backend-parametrised ``fresh``, or a DuckDB file) with the
    estate, only ``rules`` (no default rules) and channels whose pacing and retries record their
    waits instead of sleeping."""
    engine, writer = db or fresh_db(tmp_path)
    estate(engine)
    empty = tmp_path / "no-rules.toml"
    empty.write_text("")
    alerts = AlertsConfig(rules_file=empty, rules=list(rules), channels=list(channels), **config)
    waits: list[float] = []
    channels_built = built or {
        c.name: build_channel(c, policy=RetryPolicy(attempts=c.max_attempts, base=0.05, sleep=waits.append),
                              pacer=Pacer(sleep=waits.append))
        for c in channels
    }  # fmt: skip
    runtime = AlertRuntime(
        alerts, engine=engine, writer=writer, base_url="http://flowwatch.test", channels=channels_built
    )
    runtime.sync_rules(T0)
    return World(engine, writer, runtime, waits)
