"""Seed the demo distributor's history: the one entry point, ``seed_demo``.

Generation streams in chunks of a few days (each chunk's orders carry their whole
lifecycle) and every batch goes through the ingest writer as one Arrow table, so peak
memory stays modest and the default month seeds in seconds (see ``bench/seed.py``).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.ingest.writer import IngestWriter
from models.queries.ingest import first_events
from models.queries.partners import add_partners
from models.store.dialect import epoch_us
from models.store.flow_config import sync_flow_config
from models.store.schema import set_meta
from models.store.tables import business_events, metadata
from seed_data.catalogue import Catalogue
from seed_data.delivery import Findings, Sink
from seed_data.distributor import EDI_PARTNERS, FLOW_CONFIG
from seed_data.exceptions import audit_count, audit_table, draft_exceptions, exception_tables
from seed_data.incidents import ErpBacklog, plan_incidents
from seed_data.orders import OrderNumbers, emit_lifecycle, sample_orders
from seed_data.queues import QueueLedger, queue_samples
from seed_data.silences import plant_silences
from seed_data.supply import PoNumbers, emit_inventory, emit_purchase_orders
from seed_data.timeline import DAY

#: Days generated (and written) per batch: ~50k events and ~150k spans at the default size.
CHUNK_DAYS = 3
#: Tables the demo fills, in checksum order.
SEEDED_TABLES = (
    "systems",
    "flows",
    "business_events",
    "spans",
    "queue_samples",
    "order_facts",
    "exceptions",
    "exception_orders",
    "exception_messages",
    "exception_actions",
)


@dataclass(frozen=True)
class SeedReport:
    """What a seed wrote. The checksum depends on seed, days and orders_per_day only."""

    counts: Mapping[str, int]  # rows per seeded table
    orders: int
    elapsed_seconds: float
    checksum: str
    anchor: datetime


def seed_demo(
    engine: Engine,
    writer: IngestWriter,
    *,
    days: int = 30,
    orders_per_day: int = 1500,
    seed: int = 20261122,
    anchor: datetime,
) -> SeedReport:
    """Write ``days`` of Northwind history ending at ``anchor`` (naive UTC) into an empty database.

    Incidents that do not fit a short history are skipped (the flash sale needs 6 days).
    """
    if anchor.tzinfo is not None:
        raise ValueError("anchor must be a naive UTC datetime")
    if days < 1 or orders_per_day < 1:
        raise ValueError("days and orders_per_day must be positive")
    began = time.perf_counter()
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(business_events)).scalar_one():
            raise ValueError("the database already holds business events; seed into an empty database")
    anchor_us = _epoch_us(anchor)
    rows: Counter[str] = Counter()
    with writer.transaction() as conn:  # the server may have synced the flow file already
        rows.update(sync_flow_config(conn, FLOW_CONFIG))

    plan = plan_incidents(days)
    backlog = ErpBacklog(plan)
    catalogue = Catalogue.build(seed)
    ledger, findings = QueueLedger(), Findings()
    order_numbers, po_numbers = OrderNumbers(), PoNumbers()
    planted: dict[str, int] = {}
    for k, start in enumerate(range(-days * DAY, 0, CHUNK_DAYS * DAY)):
        end = min(0, start + CHUNK_DAYS * DAY)
        sink = Sink(np.random.default_rng([seed, 10, k]), anchor_us, ledger, findings)
        orders = sample_orders(sink.rng, start, end, orders_per_day, plan, catalogue, order_numbers)
        emit_lifecycle(sink, orders, plan, backlog)
        emit_purchase_orders(sink, start, end, orders_per_day, plan, catalogue, po_numbers)
        emit_inventory(sink, start, end, orders_per_day, plan, catalogue)
        events = pa.concat_tables(sink.events) if sink.events else None
        spans = pa.concat_tables(sink.spans) if sink.spans else None
        if events is not None:  # the silences sit in the last days: a chunk without them is left as it is
            events, spans = plant_silences(events, spans, anchor_us, planted)
        for table, batch in (("business_events", events), ("spans", spans)):
            if batch is not None:
                rows[table] += writer.append(table, batch).written
    for batch in queue_samples(ledger, plan, seed, anchor_us, CHUNK_DAYS):
        rows["queue_samples"] += writer.append("queue_samples", batch).written

    drafts = draft_exceptions(findings, backlog, lambda keys, event_type: _first_events(engine, keys, event_type))
    if drafts:
        # Ids come from the sequence, so exceptions detected later never collide with seeded ones.
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    sa.text("SELECT nextval('exception_id_seq') AS id FROM generate_series(1, :n) ORDER BY id"),
                    {"n": len(drafts)},
                ).scalars()
            )
            action_ids = list(
                conn.execute(
                    sa.text("SELECT nextval('exception_action_id_seq') AS id FROM generate_series(1, :n) ORDER BY id"),
                    {"n": audit_count(drafts)},
                ).scalars()
            )
        exceptions, links, messages = exception_tables(drafts, ids, anchor_us)
        rows["exceptions"] = writer.append("exceptions", exceptions).written
        rows["exception_orders"] = writer.append("exception_orders", links).written
        rows["exception_messages"] = writer.append("exception_messages", messages).written
        # Who acknowledged, replayed and resolved: the audit the lifecycle would have written.
        rows["exception_actions"] = writer.append(
            "exception_actions", audit_table(drafts, ids, action_ids, anchor_us)
        ).written

    with engine.begin() as conn:
        add_partners(conn, EDI_PARTNERS, now=anchor)  # the suppliers' EDI arrives through the real adapter
        rows["order_facts"] = conn.execute(sa.text("SELECT count(*) FROM order_facts")).scalar_one()
        checksum = _checksum(conn, anchor_us)
        set_meta(conn, "demo_anchor", anchor.isoformat())
        set_meta(conn, "demo_checksum", checksum)
    return SeedReport(
        counts={t: rows[t] for t in SEEDED_TABLES},
        orders=rows["order_facts"],
        elapsed_seconds=round(time.perf_counter() - began, 3),
        checksum=checksum,
        anchor=anchor,
    )


def _epoch_us(anchor: datetime) -> int:
    """Microseconds since the epoch of a naive-UTC datetime (exact integer arithmetic)."""
    delta = anchor - datetime(1970, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _first_events(engine: Engine, keys: Iterable[str], event_type: str) -> dict[str, str]:
    """First received ``event_type`` event id per business key (the message to resend)."""
    keys = list(keys)
    if not keys:
        return {}
    with engine.connect() as conn:
        return first_events(conn, keys, event_type)


def _checksum(conn: sa.Connection, anchor_us: int) -> str:
    """sha256 over every seeded table as a sorted set of row digests.

    Timestamps enter as offsets from the anchor and exception ids through their
    fingerprint, so the same seed, days and orders_per_day give the same checksum
    whatever the anchor.
    """
    digest = hashlib.sha256()
    for name in SEEDED_TABLES:
        table = metadata.tables[name]
        source = name
        values = []
        for column in table.columns:
            if column.name in ("exception_id", "action_id"):
                continue
            if isinstance(column.type, sa.DateTime):
                values.append(f"CAST({epoch_us(conn, f'{name}.{column.name}')} - {anchor_us} AS VARCHAR)")
            else:
                values.append(f"CAST({name}.{column.name} AS VARCHAR)")
        if name in ("exception_orders", "exception_messages", "exception_actions"):
            source = f"{name} JOIN exceptions USING (exception_id)"
            values.append("fingerprint")
        row = "concat_ws('|', " + ", ".join(f"coalesce({v}, '~')" for v in values) + ")"
        digests = f"SELECT md5({row}) AS h FROM {source}"
        table_digest, count = conn.execute(
            sa.text(f"SELECT md5(string_agg(h, '' ORDER BY h)), count(*) FROM ({digests}) d")
        ).one()
        digest.update(f"{name}:{count}:{table_digest}\n".encode())
    return digest.hexdigest()
