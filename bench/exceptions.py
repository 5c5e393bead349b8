"""Exception workbench: grid pages over 100,000 exceptions, and a paced bulk replay of 1,000 messages.

Run: ``python -m bench.exceptions [--exceptions 100000] [--repeat 40] [--replays 1000] [--rate 10]``.

A real server runs in this process on a temporary database. Grid: each filter/sort case
is timed as the query layer runs it for the route (server time) and end to end over HTTP;
p50/p95 over ``--repeat`` runs; the target is < 200 ms server time for a 100-row page.
Bulk replay: ``--replays`` dead letters replayed through ``POST /api/v1/exceptions/bulk``
to a loopback receiver at ``--rate``; it reports the elapsed time against the pace, the
busiest second the receiver saw, and checks nothing was lost (every item final, one audit
row each, one delivery per message downstream).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from app.context import AppContext
from app.settings import load_settings
from models.queries.exceptions import ExceptionFilter, SortKey, list_exceptions
from models.queries.impact import refresh_impact
from seed_data.distributor import FLOWS
from tests.integration.replay_world import add_failures, add_flow
from tests.live_server import serve
from tests.receiver import receiving

KINDS = ("dead_letter", "delivery_failed", "sla_breach", "missing_ack", "queue_backlog", "sync_lag")
SYSTEMS = ("d365", "netsuite", "3pl_north", "3pl_coastal", "wms", "sup_acme", "shopify")
PEOPLE = ("dana.okafor", "sam.lee", "ops.desk", "procurement")

#: label, filter, sort, offset
CASES: list[tuple[str, ExceptionFilter, SortKey, int]] = [
    ("all, newest first", ExceptionFilter(), "first_seen", 0),
    ("open+ack, most severe", ExceptionFilter(status=["open", "acknowledged"]), "severity", 0),
    (
        "open, one flow, 4–24h",
        ExceptionFilter(status=["open"], flow_id=["3pl_north-d365-shipment"], age_band=["4–24h"]),
        "age",
        0,
    ),
    (
        "kind+system+severity",
        ExceptionFilter(kind=["dead_letter"], system_id=["3pl_north"], severity=["critical", "high"]),
        "affected_orders",
        0,
    ),
    ("assignee, not snoozed", ExceptionFilter(assignee="dana.okafor", snoozed=False), "last_seen", 0),
    ("text 'SHP-10123'", ExceptionFilter(text="SHP-10123"), "first_seen", 0),
    ("text, an order number", ExceptionFilter(text="SHP-2045678"), "first_seen", 0),
    ("deep page (offset 50k)", ExceptionFilter(), "first_seen", 50_000),
]


def seed_exceptions(ctx: AppContext, n: int) -> None:
    """``n`` exceptions spread over kinds, flows, systems, severities, statuses and 14 days of age (the
    server synced the demo flow file at start)."""
    now = ctx.now()
    with ctx.writer.transaction() as conn:
        conn.execute(
            sa.text(
                """
                INSERT INTO exceptions (exception_id, fingerprint, kind, flow_id, system_id, business_key, title,
                    error_class, first_error, severity, status, assignee, first_seen, last_seen, occurrences,
                    affected_orders, event_id, snoozed_until, updated_at)
                SELECT nextval('exception_id_seq'), 'bench:' || i, (:kinds)[1 + i % 6], (:flows)[1 + (i * 7) % 19],
                       (:systems)[1 + (i * 3) % 7],
                       'SHP-' || (1000000 + i),
                       'Order SHP-' || (1000000 + i) || ' rejected: ' || (['unmapped SKU', 'bad postcode',
                           'timeout', '503 from API'])[1 + i % 4],
                       'E' || (i % 40), 'error text ' || i,
                       (['critical', 'high', 'medium', 'low'])[1 + (i * 13) % 4],
                       CASE WHEN i % 10 < 6 THEN 'open' WHEN i % 10 < 8 THEN 'acknowledged'
                            WHEN i % 10 < 9 THEN 'resolved' ELSE 'ignored' END,
                       CASE WHEN i % 3 = 0 THEN NULL ELSE (:people)[1 + i % 4] END,
                       ts, ts + INTERVAL 10 MINUTE, 1 + i % 9, 1 + i % 50, 'evt-' || i,
                       CASE WHEN i % 50 = 0 THEN CAST(:now AS TIMESTAMP) + INTERVAL 2 HOUR END, ts
                FROM (SELECT i, CAST(:now AS TIMESTAMP) - to_seconds((i * 7919) % (14 * 86400)) AS ts
                      FROM range(1, :n + 1) t(i))
                """
            ),
            {
                "kinds": list(KINDS),
                "flows": [f.flow_id for f in FLOWS],
                "systems": list(SYSTEMS),
                "people": list(PEOPLE),
                "now": now,
                "n": n,
            },
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO exception_orders
                SELECT exception_id, 'SHP-' || (2000000 + CAST(split_part(fingerprint, ':', 2) AS INTEGER) * 3 + k)
                FROM exceptions, range(0, 3) r(k)
                WHERE fingerprint LIKE 'bench:%' AND (exception_id % 4 = 0 OR k = 0)
                """
            )
        )
        refresh_impact(conn)  # what the detection pass that links orders does


def _pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def bench_grid(ctx: AppContext, url: str, repeat: int) -> None:
    """Time every case through the query layer (server time) and over HTTP."""
    print(f"\ngrid: page of 100 over {_count(ctx):,} exceptions, {repeat} runs per case")
    print(f"  {'case':<26} {'total':>7}  {'server p50':>10} {'p95':>7}  {'http p50':>9} {'p95':>7}")
    with httpx.Client(base_url=url, timeout=30) as client:
        for label, flt, sort, offset in CASES:
            server, http = [], []
            total = 0
            for _ in range(repeat):
                started = time.perf_counter()
                with ctx.engine.connect() as conn:
                    page = list_exceptions(conn, flt, now=ctx.now(), sort=sort, offset=offset, limit=100)
                server.append((time.perf_counter() - started) * 1000)
                total = page.total
                started = time.perf_counter()
                r = client.get("/api/v1/exceptions", params=_params(flt, sort, offset))
                http.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200 and r.json()["total"] == total, r.text
            print(
                f"  {label:<26} {total:>7,}  {_pct(server, 50):>8.1f}ms {_pct(server, 95):>5.1f}ms"
                f"  {_pct(http, 50):>7.1f}ms {_pct(http, 95):>5.1f}ms"
            )


def _params(flt: ExceptionFilter, sort: str, offset: int) -> dict[str, object]:
    params: dict[str, object] = {"sort": sort, "offset": offset, "limit": 100}
    for key, value in flt.model_dump(exclude_defaults=True).items():
        name = {"flow_id": "flow", "system_id": "system", "text": "q"}.get(key, key)
        params[name] = ",".join(str(v) for v in value) if isinstance(value, list) else value
    return params


def _count(ctx: AppContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM exceptions")).scalar_one())


def bench_bulk_replay(ctx: AppContext, url: str, n: int, rate: float) -> None:
    """Replay ``n`` dead letters at ``rate``/s to a loopback receiver and check nothing was lost."""
    with receiving() as receiver:
        add_flow(ctx, "bench-replay", target=f"{receiver.url}/erp/d365/shipments")
        add_failures(ctx, "bench-replay", n, prefix="bench")
        # The actor is whoever is logged in (the bench serves with auth off: the local admin).
        body = {"action": "replay", "filter": {"flow_id": ["bench-replay"]}, "rate_per_second": rate}
        started = time.perf_counter()
        answer = httpx.post(f"{url}/api/v1/exceptions/bulk", json=body, timeout=60)
        if answer.status_code != 202:
            raise SystemExit(f"bulk replay refused: {answer.status_code} {answer.text}")
        run = answer.json()
        while run["status"] == "running":
            time.sleep(0.25)
            run = httpx.get(f"{url}/api/v1/bulk-runs/{run['run_id']}", params={"limit": 0}, timeout=30).json()
        elapsed = time.perf_counter() - started
        distinct = len(receiver.delivered)
    with ctx.engine.connect() as conn:
        lost, audited = conn.execute(
            sa.text(
                """
            SELECT count(*) FILTER (WHERE i.status NOT IN ('delivered', 'failed') OR i.replay_id IS NULL),
                   (SELECT count(*) FROM exception_actions a JOIN replays r
                        ON CAST(json_extract(a.detail, '$.replay_id') AS BIGINT) = r.replay_id
                    WHERE a.action = 'replay' AND r.bulk_run_id = :run)
            FROM bulk_run_items i WHERE i.run_id = :run
            """
            ),
            {"run": run["run_id"]},
        ).one()
        starts = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT epoch(started_at) FROM replays WHERE bulk_run_id = :run ORDER BY 1"),
                {"run": run["run_id"]},
            )
        ]
    busiest = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts) if starts else 0
    expected = (n - 1) / rate
    print(f"\nbulk replay: {n:,} messages at {rate:g}/s to a loopback receiver")
    print(f"  status {run['status']}, results {run['counts']}")
    print(f"  elapsed {elapsed:.1f} s vs {expected:.1f} s at the pace ({n / elapsed:.1f} replays/s achieved)")
    print(f"  busiest second of replay starts: {busiest} (limit {rate:g}; a sliding window may catch one more)")
    print(f"  lost results: {lost}; audit rows: {audited:,}/{n:,}; distinct deliveries downstream: {distinct:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exceptions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--replays", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="bulk replay pace (default: a flow's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            db=Path(folder) / "bench-exceptions.duckdb",
            replay_timeout_seconds=5.0,
            detection_interval_seconds=3600,
            auth=False,
        )
        with serve(settings) as live:
            began = time.perf_counter()
            seed_exceptions(live.ctx, args.exceptions)
            print(f"seeded {args.exceptions:,} exceptions in {time.perf_counter() - began:.1f} s")
            bench_grid(live.ctx, live.url, args.repeat)
            if args.replays:
                bench_bulk_replay(live.ctx, live.url, args.replays, args.rate)


if __name__ == "__main__":
    main()
