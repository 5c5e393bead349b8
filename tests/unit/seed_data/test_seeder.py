"""The demo seeder: deterministic, consistent, and every incident visible in the data.

Read-only checks share one seeded database per module (seeding takes about a second);
tests that seed or write get their own fresh database.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.detection.passes import run_detection
from models.ingest.writer import IngestWriter
from models.store.db import make_engine
from models.store.expectations import load_expectations, sync_expectations
from models.store.schema import create_schema, get_meta
from models.store.tables import metadata
from seed_data import SeedReport, seed_demo
from seed_data.distributor import QUEUES
from seed_data.incidents import Window, plan_incidents

ANCHOR = datetime(2026, 3, 5, 15, 7)
DAYS, ORDERS_PER_DAY, SEED = 6, 250, 7
PLAN = plan_incidents(DAYS)
LIFECYCLE = (
    "order.created",
    "order.accepted",
    "order.released",
    "shipment.dispatched",
    "invoice.posted",
    "order.held",
    "order.cancelled",
    "return.received",
    "refund.issued",
    "po.sent",
    "po.acknowledged",
    "asn.received",
    "goods.received",
    "inventory.adjusted",
    "inventory.published",
)


def _seed(path: Path, **overrides: object) -> tuple[Engine, SeedReport]:
    engine = make_engine(path)
    create_schema(engine)
    params: dict[str, object] = {
        "days": DAYS,
        "orders_per_day": ORDERS_PER_DAY,
        "seed": SEED,
        "anchor": ANCHOR,
    }
    params.update(overrides)
    return engine, seed_demo(engine, IngestWriter(engine), **params)  # type: ignore[arg-type]


def _rows(engine: Engine, sql: str, **params: object) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def _one(engine: Engine, sql: str, **params: object) -> object:
    return _rows(engine, sql, **params)[0][0]


def _at(offset: float) -> datetime:
    return ANCHOR + timedelta(seconds=offset)


def _window(w: Window | None) -> dict[str, datetime]:
    assert w is not None
    return {"start": _at(w.start), "end": _at(w.end)}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, SeedReport]:
    engine, report = _seed(tmp_path_factory.mktemp("seed") / "demo.duckdb")
    yield engine, report
    engine.dispose()


def test_same_seed_same_history_whatever_the_anchor(tmp_path: Path) -> None:
    _, first = _seed(tmp_path / "a.duckdb", orders_per_day=80)
    engine, again = _seed(tmp_path / "b.duckdb", orders_per_day=80)
    _, other_seed = _seed(tmp_path / "c.duckdb", orders_per_day=80, seed=SEED + 1)
    later = ANCHOR + timedelta(days=9, hours=7, minutes=13)
    moved_engine, moved = _seed(tmp_path / "d.duckdb", orders_per_day=80, anchor=later)

    assert again.counts == first.counts and again.checksum == first.checksum and again.orders == first.orders
    assert other_seed.checksum != first.checksum
    assert moved.checksum == first.checksum and moved.counts == first.counts
    assert _one(moved_engine, "SELECT max(received_at) FROM business_events") <= later
    with engine.connect() as conn:
        assert get_meta(conn, "demo_checksum") == first.checksum
        assert get_meta(conn, "demo_anchor") == ANCHOR.isoformat()


def test_report_counts_match_the_tables(seeded: tuple[Engine, SeedReport]) -> None:
    engine, report = seeded
    for table, count in report.counts.items():
        assert _one(engine, f"SELECT count(*) FROM {table}") == count, table
    assert report.counts["systems"] == 12 and report.counts["flows"] == 19
    assert report.orders == report.counts["order_facts"]
    assert 0.8 * DAYS * ORDERS_PER_DAY < report.orders < 1.3 * DAYS * ORDERS_PER_DAY
    assert report.counts["queue_samples"] == DAYS * 1440 * len(QUEUES)
    per_queue = _rows(engine, "SELECT queue, count(*), count(DISTINCT sampled_at) FROM queue_samples GROUP BY 1")
    assert {q for q, _, _ in per_queue} == {q for q, _, _ in QUEUES}
    assert all(n == distinct == DAYS * 1440 for _, n, distinct in per_queue)
    assert len(report.checksum) == 64 and report.elapsed_seconds > 0


def test_order_numbers_and_weekend_seasonality(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    prefixes = dict(_rows(engine, "SELECT left(correlation_id, 4), count(*) FROM order_facts GROUP BY 1"))
    assert set(prefixes) == {"SHP-", "ADB-", "B2B-"}
    assert prefixes["SHP-"] > prefixes["ADB-"] > prefixes["B2B-"]
    assert _one(engine, "SELECT min(correlation_id) FROM order_facts WHERE channel = 'shopify'") == "SHP-1000001"
    # The demo calendar puts the anchor on a Thursday 14:00: days -5 and -4 are Saturday and Sunday.
    per_day = dict(
        _rows(
            engine,
            "SELECT floor(epoch(:anchor - created_at) / 86400)::INT, count(*) FROM order_facts "
            "WHERE created_at IS NOT NULL GROUP BY 1",
            anchor=ANCHOR,
        )
    )
    weekend, weekday = per_day[4], (per_day[1] + per_day[2] + per_day[3]) / 3
    assert 0.4 < weekend / weekday < 0.8


def test_every_lifecycle_step_and_status_is_present(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    types = {t for (t,) in _rows(engine, "SELECT DISTINCT event_type FROM business_events")}
    assert set(LIFECYCLE) <= types
    statuses = {s for (s,) in _rows(engine, "SELECT DISTINCT status FROM business_events")}
    assert statuses == {"ok", "failed", "retrying", "dead_lettered"}
    # Every retried delivery (received well before the anchor) has an ok second attempt with a new id.
    orphan_retries = _one(
        engine,
        """
        SELECT count(*) FROM business_events r
        WHERE r.status = 'retrying' AND r.received_at < :cutoff AND NOT EXISTS (
            SELECT 1 FROM business_events o
            WHERE o.correlation_id = r.correlation_id AND o.event_type = r.event_type
              AND o.status = 'ok' AND o.attempt = 2 AND o.event_id <> r.event_id)
        """,
        cutoff=ANCHOR - timedelta(minutes=10),
    )
    assert orphan_retries == 0
    order_events = _rows(
        engine,
        "SELECT count(*), count(channel), count(trace_id), count(payload), min(attempt), max(attempt), "
        "min(length(trace_id)), max(length(trace_id)) FROM business_events "
        "WHERE correlation_id SIMILAR TO '(SHP|ADB|B2B)-.*'",
    )[0]
    assert order_events[0] == order_events[1] == order_events[2] == order_events[3]
    assert (order_events[4], order_events[5], order_events[6], order_events[7]) == (1, 2, 32, 32)
    lines = json.loads(
        _one(
            engine,
            "SELECT payload FROM business_events WHERE event_type = 'order.created' AND status = 'ok' LIMIT 1",
        )
    )["lines"]
    assert lines and {"sku", "qty", "unit_price"} <= set(lines[0])


def test_flows_and_systems_of_order_events(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    hops = set(
        _rows(
            engine,
            "SELECT DISTINCT event_type, flow_id, source, target FROM business_events "
            "WHERE event_type IN "
            "('order.created', 'order.released', 'shipment.dispatched', 'invoice.posted')",
        )
    )
    assert ("order.created", "shopify-d365-orders", "shopify", "d365") in hops
    assert ("order.created", "b2b-netsuite-orders", "b2b", "netsuite") in hops
    assert ("order.released", "d365-3pl_north-release", "d365", "3pl_north") in hops
    assert ("shipment.dispatched", "3pl_coastal-netsuite-shipment", "3pl_coastal", "netsuite") in hops
    assert ("invoice.posted", "d365-invoice", "d365", "d365") in hops
    assert {flow for _, flow, _, _ in hops} <= {f for (f,) in _rows(engine, "SELECT flow_id FROM flows")}


def test_northstar_outage_dead_letters_then_partial_replay(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    window = _window(PLAN.outage)
    dead = _rows(
        engine,
        "SELECT DISTINCT flow_id, error_code, error_message FROM business_events WHERE status = 'dead_lettered'",
    )
    assert dead == [("3pl_north-d365-shipment", "3PL-503", "Upstream 503 Service Unavailable from NorthStar WMS API")]
    outside = _one(
        engine,
        "SELECT count(*) FROM business_events WHERE status = 'dead_lettered' "
        "AND (occurred_at < :start OR occurred_at >= :end)",
        **window,
    )
    assert outside == 0
    total, replayed = _rows(
        engine,
        """
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM business_events o WHERE o.correlation_id = d.correlation_id
              AND o.event_type = 'shipment.dispatched' AND o.status = 'ok' AND o.attempt = 2))
        FROM business_events d WHERE d.status = 'dead_lettered'
        """,
    )[0]
    assert total >= 5 and total / 2 < replayed < total
    stuck = _one(
        engine,
        "SELECT count(*) FROM order_facts WHERE dispatched_at IS NULL AND invoiced_at IS NULL "
        "AND correlation_id IN "
        "(SELECT correlation_id FROM business_events WHERE status = 'dead_lettered')",
    )
    assert stuck == total - replayed
    peak, last = _rows(
        engine,
        "SELECT max(depth), arg_max(depth, sampled_at) FROM queue_samples WHERE queue = 'shipments.3pl_north.dlq'",
    )[0]
    assert peak == total and 0 < last == total - replayed


def test_flash_sale_slows_acceptance_and_backs_up_the_queue(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    flash = _window(PLAN.flash_sale)
    lag = dict(
        _rows(
            engine,
            "SELECT created_at >= :start AND created_at < :end, "
            "quantile_cont(epoch(accepted_at - created_at), 0.95) FROM order_facts "
            "WHERE channel = 'shopify' AND accepted_at IS NOT NULL GROUP BY 1",
            **flash,
        )
    )
    assert lag[True] > 15 * 60 and lag[True] > 5 * lag[False]
    volume = dict(
        _rows(
            engine,
            "SELECT channel, count(*) FROM order_facts WHERE created_at >= :start AND created_at < :end GROUP BY 1",
            **flash,
        )
    )
    assert volume["shopify"] > 3 * volume.get("adobe", 0)
    depth = dict(
        _rows(
            engine,
            "SELECT sampled_at >= :start AND sampled_at < :end + INTERVAL 2 HOUR, max(depth) "
            "FROM queue_samples WHERE queue = 'orders.shopify' GROUP BY 1",
            **flash,
        )
    )
    assert depth[True] > 10 * depth[False]
    assert (
        _one(
            engine,
            "SELECT max(oldest_age_seconds) FROM queue_samples "
            "WHERE queue = 'orders.shopify' AND sampled_at >= :start "
            "AND sampled_at < :end + INTERVAL 2 HOUR",
            **flash,
        )
        > 15 * 60
    )
    erp = dict(
        _rows(
            engine,
            "SELECT start_time >= :start AND start_time < :end, quantile_cont(duration_ms, 0.5) FROM spans "
            "WHERE service_name = 'mw-erp-client' AND name = 'POST /data/salesorders' GROUP BY 1",
            **flash,
        )
    )
    assert erp[True] > 4 * erp[False]
    assert _one(engine, "SELECT count(*) FROM business_events WHERE error_code = 'ERP-TIMEOUT'") > 0


def test_brightline_acks_run_late(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    # Share of POs (sent at least a day ago) acknowledged within the 24 h SLA; no 855 yet counts as late.
    on_time = dict(
        _rows(
            engine,
            """
            SELECT s.target,
                   avg(CASE WHEN a.occurred_at <= s.occurred_at + INTERVAL 24 HOUR THEN 1 ELSE 0 END)
            FROM business_events s
            LEFT JOIN business_events a
                   ON a.correlation_id = s.correlation_id AND a.event_type = 'po.acknowledged'
            WHERE s.event_type = 'po.sent' AND s.status = 'ok' AND s.occurred_at < :anchor - INTERVAL 24 HOUR
            GROUP BY 1
            """,
            anchor=ANCHOR,
        )
    )
    assert on_time["sup_brightline"] < 0.5 < 0.9 < min(on_time["sup_acme"], on_time["sup_pacific"])
    unacked = _one(
        engine,
        "SELECT count(*) FROM exceptions WHERE kind = 'missing_ack' AND flow_id = 'd365-sup_brightline-po' "
        "AND status = 'open'",
    )
    assert unacked >= 1
    assert _one(engine, "SELECT min(correlation_id) FROM business_events WHERE event_type = 'po.sent'") == "PO-4500001"


def test_validation_failures_some_fixed_some_open(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    failed = _rows(
        engine,
        "SELECT error_code, error_message FROM business_events WHERE status = 'failed' AND error_code LIKE 'VAL-%'",
    )
    codes = {code for code, _ in failed}
    assert codes == {"VAL-SKU", "VAL-ADDR"}
    assert all(
        ("not mapped in" in message and "item master" in message)
        if code == "VAL-SKU"
        else message == "Ship-to postcode missing"
        for code, message in failed
    )
    fixed, still_open = _rows(
        engine,
        """
        SELECT count(*) FILTER (WHERE delivered), count(*) FILTER (WHERE NOT delivered)
        FROM (
            SELECT correlation_id, bool_or(status = 'ok') AS delivered FROM business_events
            WHERE event_type = 'order.created' AND correlation_id IN (
                SELECT correlation_id FROM business_events WHERE error_code LIKE 'VAL-%')
            GROUP BY correlation_id
        ) orders
        """,
    )[0]
    assert fixed + still_open == len(failed) and still_open >= len(PLAN.scripted_validation)


def test_coastal_release_failing_now(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    recent = _one(
        engine,
        "SELECT count(*) FROM business_events "
        "WHERE flow_id = 'netsuite-3pl_coastal-release' AND status = 'failed' "
        "AND received_at > :since",
        since=ANCHOR - timedelta(hours=1),
    )
    assert recent >= 3
    status, affected = _rows(
        engine,
        "SELECT status, affected_orders FROM exceptions WHERE fingerprint = :f",
        f="delivery_failed:netsuite-3pl_coastal-release:3PL-500",
    )[0]
    assert status == "open" and affected == recent
    assert (
        _one(
            engine,
            "SELECT depth FROM queue_samples WHERE queue = 'release.3pl_coastal.dlq' AND sampled_at = :a",
            a=ANCHOR,
        )
        == recent
    )


def test_open_exceptions_cover_every_aging_band(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    bands = {
        band
        for (band,) in _rows(
            engine,
            """
            SELECT CASE WHEN age < INTERVAL 1 HOUR THEN '<1h' WHEN age < INTERVAL 4 HOUR THEN '1-4h'
                        WHEN age < INTERVAL 24 HOUR THEN '4-24h' WHEN age < INTERVAL 3 DAY THEN '1-3d'
                        ELSE '>3d' END
            FROM (SELECT :anchor - first_seen AS age FROM exceptions WHERE status IN ('open', 'acknowledged'))
            """,
            anchor=ANCHOR,
        )
    }
    assert bands == {"<1h", "1-4h", "4-24h", "1-3d", ">3d"}


def test_exceptions_are_consistent(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    mismatched = _one(
        engine,
        """
        SELECT count(*) FROM exceptions x
        WHERE affected_orders <> (
            SELECT count(*) FROM exception_orders o WHERE o.exception_id = x.exception_id)
        """,
    )
    assert mismatched == 0
    rows = _rows(
        engine,
        "SELECT exception_id, fingerprint, kind, flow_id, business_key, status, severity, "
        "resolved_at, resolution, first_seen, last_seen, occurrences, updated_at FROM exceptions",
    )
    assert sorted(r.exception_id for r in rows) == list(range(1, len(rows) + 1))
    for r in rows:
        assert r.fingerprint == f"{r.kind}:{r.flow_id}:{r.business_key}"
        assert r.severity in {"critical", "high", "medium", "low"}
        assert r.status in {"open", "acknowledged", "resolved"}
        assert (r.resolved_at is not None) == (r.resolution is not None) == (r.status == "resolved")
        assert r.first_seen <= r.last_seen <= r.updated_at <= ANCHOR and r.occurrences >= 1
    kinds = {r.kind for r in rows}
    assert {"dead_letter", "delivery_failed", "sla_breach", "queue_backlog", "missing_ack"} <= kinds
    outage = next(r for r in rows if r.fingerprint == "dead_letter:3pl_north-d365-shipment:3PL-503")
    assert outage.severity == "critical" and outage.status == "acknowledged"
    replay_target = _one(
        engine,
        "SELECT status FROM business_events WHERE event_id = (SELECT event_id FROM exceptions WHERE exception_id = :i)",
        i=outage.exception_id,
    )
    assert replay_target == "dead_lettered"
    with engine.begin() as conn:  # later exceptions take ids after the seeded ones
        assert conn.execute(sa.text("SELECT nextval('exception_id_seq')")).scalar_one() == len(rows) + 1


def test_nothing_is_after_the_anchor(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    promises = {("order_facts", "ship_by")}  # a promise for the future, not something that happened
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.DateTime) and (table.name, column.name) not in promises:
                latest = _one(engine, f'SELECT max("{column.name}") FROM {table.name}')
                assert latest is None or latest <= ANCHOR, f"{table.name}.{column.name}"


def test_every_trace_has_spans_that_name_the_event(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    assert (
        _one(
            engine,
            "SELECT count(*) FROM business_events e WHERE trace_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = e.trace_id)",
        )
        == 0
    )
    assert (
        _one(
            engine,
            """
        SELECT count(*) FROM spans s JOIN business_events e USING (trace_id)
        WHERE s.correlation_id <> e.correlation_id
           OR json_extract_string(s.attributes, '$."messaging.message.id"') <> e.event_id
           OR coalesce(json_extract_string(s.attributes, '$."order.id"'),
                       json_extract_string(s.attributes, '$."po.id"')) <> e.correlation_id
        """,
        )
        == 0
    )
    services = {s for (s,) in _rows(engine, "SELECT DISTINCT service_name FROM spans")}
    assert {"mw-webhooks", "mw-transform", "mw-erp-client", "mw-3pl-client"} <= services
    # The failed hop of a dead-lettered confirmation is an error span on the 3PL call.
    errors = _rows(
        engine,
        "SELECT DISTINCT s.service_name, s.status_message "
        "FROM spans s JOIN business_events e USING (trace_id) "
        "WHERE e.status = 'dead_lettered' AND s.status_code = 'error'",
    )
    assert errors == [("mw-3pl-client", "Upstream 503 Service Unavailable from NorthStar WMS API")]


def test_order_facts_one_row_per_order(seeded: tuple[Engine, SeedReport]) -> None:
    engine, report = seeded
    orders = _one(
        engine,
        "SELECT count(DISTINCT correlation_id) FROM business_events WHERE event_type LIKE 'order.%'",
    )
    assert orders == report.orders
    missing_channel, never_created = _rows(
        engine,
        "SELECT count(*) FILTER (WHERE channel IS NULL), count(*) FILTER (WHERE created_at IS NULL) FROM order_facts",
    )[0]
    assert missing_channel == 0
    # created_at stamps the first order.created, delivered or not: orders the ERP still
    # rejects have it too (they are in flight).
    rejected = _one(
        engine,
        """
        SELECT count(DISTINCT correlation_id) FROM business_events f WHERE f.event_type = 'order.created'
        AND NOT EXISTS (SELECT 1 FROM business_events o WHERE o.correlation_id = f.correlation_id
                        AND o.event_type = 'order.created' AND o.status = 'ok')
        """,
    )
    assert never_created == 0
    assert 0 < rejected < 0.01 * report.orders


def test_short_history_skips_what_does_not_fit(tmp_path: Path) -> None:
    engine, report = _seed(tmp_path / "short.duckdb", days=2, orders_per_day=60)
    assert report.counts["queue_samples"] == 2 * 1440 * len(QUEUES)
    assert _one(engine, "SELECT count(*) FROM business_events WHERE status = 'dead_lettered'") == 0
    assert _one(engine, "SELECT max(received_at) FROM business_events") <= ANCHOR


def test_refuses_a_non_empty_database_or_an_aware_anchor(tmp_path: Path) -> None:
    engine, _ = _seed(tmp_path / "once.duckdb", days=1, orders_per_day=20)
    with pytest.raises(ValueError, match="empty database"):
        seed_demo(engine, IngestWriter(engine), days=1, orders_per_day=20, anchor=ANCHOR)
    fresh = make_engine(tmp_path / "fresh.duckdb")
    create_schema(fresh)
    with pytest.raises(ValueError, match="naive UTC"):
        seed_demo(fresh, IngestWriter(fresh), anchor=datetime.fromisoformat("2026-03-05T15:07:00+00:00"))


def test_planted_silences_are_what_detection_finds(seeded: tuple[Engine, SeedReport]) -> None:
    """Two Shopify orders created 1–3 h before the anchor that D365 never accepted, and two POs
    acknowledged 62–70 h before it without an ASN: the missing_event exceptions list exactly them."""
    engine, _ = seeded
    dropped = _rows(
        engine,
        """SELECT correlation_id FROM order_facts WHERE channel = 'shopify' AND accepted_at IS NULL
           AND created_at >= :a AND created_at < :b AND failures = 0 ORDER BY 1""",
        a=_at(-3 * 3600), b=_at(-3600),
    )  # fmt: skip
    no_asn = _rows(
        engine,
        """SELECT a.correlation_id FROM business_events a WHERE a.event_type = 'po.acknowledged'
           AND a.occurred_at >= :a AND a.occurred_at < :b AND NOT EXISTS (
               SELECT 1 FROM business_events s WHERE s.correlation_id = a.correlation_id
               AND s.event_type = 'asn.received') ORDER BY 1""",
        a=_at(-70 * 3600), b=_at(-62 * 3600),
    )  # fmt: skip
    assert len(dropped) == 2 and len(no_asn) == 2
    with engine.connect() as conn:
        trans = conn.begin()  # detection writes: rolled back, the shared database stays as seeded
        try:
            sync_expectations(conn, load_expectations())
            run_detection(conn, now=ANCHOR)
            found = dict(
                conn.execute(
                    sa.text("""SELECT x.business_key, list(o.correlation_id ORDER BY o.correlation_id)
                               FROM exceptions x JOIN exception_orders o USING (exception_id)
                               WHERE x.kind = 'missing_event' GROUP BY x.business_key""")
                ).all()
            )
        finally:
            trans.rollback()
    assert found == {
        "erp-acceptance-d365/silent": [k for (k,) in dropped],
        "asn-after-ack/silent": [k for (k,) in no_asn],
    }
