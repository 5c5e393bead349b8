"""One business key's story across systems: events, spans, exceptions and queues in time order.

Everything hangs off the correlation id (order number, PO number, SKU@location). Events
come through the ART index on ``business_events.correlation_id``; spans through the index
on ``spans.trace_id`` for the events' traces, plus spans that carry the key themselves when
some event arrived without a trace id (bounded by the events' time range).
"""

from __future__ import annotations

import itertools
import json
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models.queries.common import json_number, read_each, read_frame
from models.queries.scope import ALL, Scope, order_in_scope
from models.store.dialect import in_list, seconds_between
from models.store.flow_config import flow_config_generation

#: Lifecycles whose consecutive steps the timeline measures.
LIFECYCLES: dict[str, tuple[str, ...]] = {
    "order": ("order.created", "order.accepted", "order.released", "shipment.dispatched", "invoice.posted"),
    "purchase_order": ("po.sent", "po.acknowledged", "asn.received", "goods.received"),
    "stock": ("inventory.adjusted", "inventory.published"),
}
#: Queue samples this close to a hop count as "around" it.
QUEUE_NEIGHBOURHOOD = timedelta(minutes=5)
MIN_SEARCH = 3

Row = dict[str, Any]


def order_timeline(
    conn: Connection, *, correlation_id: str, full: bool = False, engine: Engine | None = None
) -> dict[str, Any] | None:
    """Every event, span and exception of ``correlation_id`` in time order, with step
    durations, systems touched and queue depth around each hop; None when nothing is known.

    Payloads and span attributes are the bulk of what a look-up reads from disk (5x the rest),
    so they come only for failed deliveries and error spans, unless ``full``. Plain rows, not
    DataFrames: a timeline is a few dozen rows and must answer in milliseconds. With ``engine``,
    once the events are read, the spans and the rest (exceptions, queues, the order's facts,
    payloads) are read :func:`~models.queries.common.side_by_side`.
    """
    # No joins here: joined to flows and systems, the correlation-id index is not used and a
    # look-up at 10M events takes 20 ms instead of 3; the two small tables are read apart.
    events = _rows(
        conn,
        f"""
        SELECT e.event_id, e.event_type, e.flow_id, e.source, e.target, e.channel, e.occurred_at, e.received_at,
               e.status, e.attempt, e.error_code, e.error_message, e.trace_id,
               {seconds_between(conn, "e.occurred_at", "e.received_at")} AS delivery_lag_seconds
        FROM business_events e
        WHERE e.correlation_id = :id
        ORDER BY e.occurred_at, e.received_at, e.attempt
        """,
        {"id": correlation_id},
    )
    known, flows = _reference(conn)
    flow_queues = {f: queue for f, (_, queue) in flows.items()}

    def traces(c: Connection) -> list[Row]:
        spans = _spans(c, correlation_id, events)
        _attach_attributes(c, spans, full)
        return spans

    def around(c: Connection) -> tuple[list[Row], dict[str, list[Row]], list[Row], dict[str, Any]]:
        facts = _rows(c, "SELECT * FROM order_facts WHERE correlation_id = :id", {"id": correlation_id})
        return (
            _exceptions(c, correlation_id),
            _queues_around(c, events, flow_queues),
            facts,
            _payloads(c, correlation_id, events, full),
        )

    reads: list[Callable[[Connection], Any]] = [traces, around]
    spans, (exceptions, queues, facts, payloads) = read_each(conn, reads, engine)
    if not (events or spans or exceptions):
        return None
    for e in events:
        if full or e["event_id"] in payloads:
            e["payload"] = payloads.get(e["event_id"])
    slas = {e["flow_id"]: flows.get(e["flow_id"], (None, None))[0] for e in events}
    entries = [
        *({"at": e["occurred_at"], "type": "event", **e, "queues": queues.get(e["event_id"], [])} for e in events),
        *({"at": s["start_time"], "type": "span", **s} for s in spans),
        *({"at": x["first_seen"], "type": "exception", **x} for x in exceptions),
    ]
    entries.sort(key=lambda e: (e["at"], {"event": 0, "span": 1, "exception": 2}[e["type"]]))
    kind = _kind(events)
    return {
        "correlation_id": correlation_id,
        "kind": kind,
        "order": _jsonable(facts[0]) if facts else None,
        "systems": _systems(known, events),
        "services": sorted({s["service_name"] for s in spans if s["service_name"]}),
        "steps": _steps(events, kind, slas),
        "counts": {"events": len(events), "spans": len(spans), "exceptions": len(exceptions)},
        "entries": [_jsonable(e) for e in entries],
    }


def _rows(conn: Connection, sql: str | sa.TextClause, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows as dicts, fetched in one call: iterating ``.mappings()`` fetches row by row through the
    driver, which cost more than the queue samples' query itself (a few hundred rows a look-up)."""
    statement = sa.text(sql) if isinstance(sql, str) else sql
    result = conn.execute(statement, params)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


def _exceptions(conn: Connection, correlation_id: str) -> list[Row]:
    """The key's exceptions, oldest first. Their ids first, alone: most orders have none, and the
    join to ``exceptions`` cost 2 ms where the ids alone cost 0.7."""
    ids = [r[0] for r in conn.execute(_EXCEPTION_IDS, {"id": correlation_id})]
    if not ids:
        return []
    return _rows(conn, _EXCEPTIONS, {"ids": ids})


_EXCEPTION_IDS = sa.text("SELECT DISTINCT exception_id FROM exception_orders WHERE correlation_id = :id")
_EXCEPTIONS = sa.text(
    """
    SELECT exception_id, title, kind, severity, status, flow_id, first_seen, last_seen, resolved_at, affected_orders
    FROM exceptions WHERE exception_id IN :ids
    ORDER BY first_seen, exception_id
    """
).bindparams(sa.bindparam("ids", expanding=True))

_SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, service_name, start_time, end_time, duration_ms, "
    "status_code, status_message"
)


def _payloads(conn: Connection, correlation_id: str, events: list[Row], full: bool) -> dict[str, Any]:
    """The payload of each failed delivery (of every event when ``full``) by event id: what a
    replay resends."""
    if not full and all(e["status"] == "ok" for e in events):
        return {}
    wanted = "TRUE" if full else "status <> 'ok'"
    sql = f"SELECT event_id, payload FROM business_events WHERE correlation_id = :id AND {wanted}"
    return {r[0]: r[1] for r in conn.execute(sa.text(sql), {"id": correlation_id})}


def _attach_attributes(conn: Connection, spans: list[Row], full: bool) -> None:
    """The attributes of each error span (of every span when ``full``)."""
    chosen = [s for s in spans if full or s["status_code"] == "error"]
    if not chosen:
        return
    sql = sa.text("SELECT trace_id, span_id, attributes FROM spans WHERE trace_id IN :traces").bindparams(
        sa.bindparam("traces", expanding=True)
    )
    found = {(r[0], r[1]): r[2] for r in conn.execute(sql, {"traces": sorted({s["trace_id"] for s in chosen})})}
    for s in chosen:
        s["attributes"] = found.get((s["trace_id"], s["span_id"]))


def _spans(conn: Connection, correlation_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every span of the key's traces: the traces its events name, the traces of spans tagged with
    the key (an order known only from spans), and the key itself when it is a trace id (a trace
    that carries no business key). All look-ups are indexed (trace_id, correlation_id).

    The events' traces and the tagged spans come in one statement (a UNION ALL of two index
    reads); only a tagged span on a trace no event names costs a second read for that trace.
    """
    traces = {e["trace_id"] for e in events if e["trace_id"]}
    if not events:
        traces.add(correlation_id)  # a bare trace id: found below only if spans carry it
    by_trace = f"SELECT {_SPAN_COLUMNS} FROM spans WHERE trace_id IN :traces"
    tagged = f"SELECT {_SPAN_COLUMNS} FROM spans WHERE correlation_id = :id"
    statement = sa.text(f"{by_trace} UNION ALL {tagged}" if traces else tagged)
    if traces:
        statement = statement.bindparams(sa.bindparam("traces", expanding=True))
    found = _rows(conn, statement, {"traces": sorted(traces), "id": correlation_id})
    more = {s["trace_id"] for s in found} - traces
    if more:
        read = sa.text(by_trace).bindparams(sa.bindparam("traces", expanding=True))
        found += _rows(conn, read, {"traces": sorted(more)})
    unique = {(s["trace_id"], s["span_id"]): s for s in found}
    return sorted(unique.values(), key=lambda s: (s["start_time"], s["span_id"]))


def _queues_around(conn: Connection, events: list[Row], flow_queues: dict[str, str | None]) -> dict[str, list[Row]]:
    """Per event on a flow: the sample nearest its occurrence (±5 min) of each of the flow's queues
    (queues sampled for the flow, and the shared queue the flow names).

    One indexed-range read of the samples within 5 minutes of some hop, the nearest picked in
    Python: a few hundred rows at most. The SQL form (the hops as a VALUES list, a range join and
    a window function) cost 4.5 ms of a 10 ms timeline, most of it planning and the window.
    """
    hops = [e for e in events if e["flow_id"]]
    if not hops:
        return {}
    # Hop windows merged where they overlap: an order's steps cluster (created/accepted/released).
    windows: list[list[datetime]] = []
    for at in sorted(e["occurred_at"] for e in hops):
        lo, hi = at - QUEUE_NEIGHBOURHOOD, at + QUEUE_NEIGHBOURHOOD
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = hi
        else:
            windows.append([lo, hi])
    flow_ids = sorted({e["flow_id"] for e in hops})
    shared = sorted({q for f in flow_ids if (q := flow_queues.get(f))})
    params: dict[str, Any] = {"lo": windows[0][0], "hi": windows[-1][1], "flows": flow_ids, "queues": shared or [""]}
    ranges = " OR ".join(f"sampled_at BETWEEN :lo{i} AND :hi{i}" for i in range(len(windows)))
    for i, (lo, hi) in enumerate(windows):
        params |= {f"lo{i}": lo, f"hi{i}": hi}
    statement = sa.text(
        f"""
        SELECT flow_id, queue, is_dlq, depth, consumers, oldest_age_seconds, sampled_at FROM queue_samples
        WHERE sampled_at >= :lo AND sampled_at <= :hi AND ({ranges})
          AND (flow_id IN :flows OR (flow_id IS NULL AND queue IN :queues))
        """
    ).bindparams(sa.bindparam("flows", expanding=True), sa.bindparam("queues", expanding=True))
    by_flow: dict[str, list[Row]] = {}
    by_queue: dict[str, list[Row]] = {}
    for sample in _rows(conn, statement, params):
        flow = sample.pop("flow_id")
        if flow is not None:
            by_flow.setdefault(flow, []).append(sample)
        else:
            by_queue.setdefault(sample["queue"], []).append(sample)
    out: dict[str, list[Row]] = {}
    for e in hops:
        at = e["occurred_at"]
        queue = flow_queues.get(e["flow_id"])
        nearest: dict[str, tuple[float, Row]] = {}
        for sample in (*by_flow.get(e["flow_id"], ()), *(by_queue.get(queue, ()) if queue else ())):
            gap = abs((sample["sampled_at"] - at).total_seconds())
            if gap <= QUEUE_NEIGHBOURHOOD.total_seconds():
                best = nearest.get(sample["queue"])
                if best is None or gap < best[0]:
                    nearest[sample["queue"]] = (gap, sample)
        if nearest:
            chosen = sorted((s for _, s in nearest.values()), key=lambda s: (s["is_dlq"], s["queue"]))
            out[e["event_id"]] = [_jsonable(s) for s in chosen]
    return out


def _kind(events: list[dict[str, Any]]) -> str:
    types = {e["event_type"] for e in events}
    return next((kind for kind, steps in LIFECYCLES.items() if types & set(steps)), "other")


def _steps(events: list[Row], kind: str, slas: dict[str, int | None]) -> list[Row]:
    """Durations between consecutive lifecycle steps reached (first successful event of each),
    against the SLA of the flow that carried the later one."""
    if kind not in ("order", "purchase_order"):
        return []
    firsts: dict[str, Row] = {}
    for e in events:  # already in time order
        if e["status"] == "ok":
            firsts.setdefault(e["event_type"], e)
    reached = [t for t in LIFECYCLES[kind] if t in firsts]
    steps = []
    for a, b in itertools.pairwise(reached):
        start, end, flow = firsts[a]["occurred_at"], firsts[b]["occurred_at"], firsts[b]["flow_id"]
        seconds = (end - start).total_seconds()
        sla = slas.get(flow)
        steps.append(_jsonable({
            "from": a, "to": b, "started_at": start, "ended_at": end, "seconds": seconds, "flow_id": flow,
            "sla_seconds": sla, "within_sla": None if sla is None else seconds <= sla,
        }))  # fmt: skip
    return steps


#: Per engine: (flow-config generation, systems, flows). Two small tables that change only when
#: the flow file is synced, re-read on every look-up they were ~0.7 ms of a timeline.
_REFERENCE: weakref.WeakKeyDictionary[Engine, tuple[int, dict[str, tuple[str, str]], dict[str, tuple[int, str | None]]]]
_REFERENCE = weakref.WeakKeyDictionary()


def _reference(conn: Connection) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[int, str | None]]]:
    """Every system's (name, kind) and every flow's (SLA, queue), cached until the flow config changes."""
    generation = flow_config_generation()  # read first: a change during the read leaves the copy stale
    cached = _REFERENCE.get(conn.engine)
    if cached is not None and cached[0] == generation:
        return cached[1], cached[2]
    known = {r[0]: (r[1], r[2]) for r in conn.execute(sa.text("SELECT system_id, name, kind FROM systems"))}
    flows = {r[0]: (r[1], r[2]) for r in conn.execute(sa.text("SELECT flow_id, sla_seconds, queue FROM flows"))}
    _REFERENCE[conn.engine] = (generation, known, flows)
    return known, flows


def _systems(known: dict[str, tuple[str, str]], events: list[Row]) -> list[Row]:
    """Systems the events went between, in order of first appearance."""
    seen: dict[str, Row] = {}
    for e in events:
        for role in ("source", "target"):
            if e[role] and e[role] not in seen:
                name, kind = known.get(e[role], (None, None))
                seen[e[role]] = {"system_id": e[role], "name": name or e[role], "kind": kind}
    return list(seen.values())


def find_orders(conn: Connection, *, query: str, limit: int = 20, scope: Scope = ALL) -> list[dict[str, Any]]:
    """Business keys matching an order/PO number, trace id or message id exactly; only when
    nothing matches exactly, keys starting with the query (at least three characters), of
    ``scope``'s orders (an exact key is found whatever the scope: someone asked for that one).

    Exact look-ups run cheapest first and stop at the first hit: the order number through the
    correlation-id index, a trace id through the spans' trace-id index, then the scans.
    """
    q = query.strip()
    if len(q) < MIN_SEARCH:
        return []
    exact = (
        ("correlation_id", "SELECT DISTINCT correlation_id FROM business_events WHERE correlation_id = :q"),
        ("correlation_id", "SELECT DISTINCT correlation_id FROM spans WHERE correlation_id = :q"),  # spans only
        ("trace_id", "SELECT DISTINCT correlation_id FROM spans WHERE trace_id = :q AND correlation_id IS NOT NULL"),
        ("message_id", "SELECT DISTINCT correlation_id FROM business_events WHERE event_id = :q"),
        ("trace_id", "SELECT DISTINCT correlation_id FROM business_events WHERE trace_id = :q"),
        ("trace_id", "SELECT DISTINCT trace_id FROM spans WHERE trace_id = :q"),  # a trace with no business key
    )
    like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    prefix = (  # the key as a range, so the correlation-id index can serve it
        ("correlation_id", "SELECT DISTINCT correlation_id FROM business_events "
                           "WHERE correlation_id >= :q AND correlation_id < :q_end ORDER BY correlation_id LIMIT :n"),
        ("message_id", "SELECT correlation_id FROM business_events WHERE event_id LIKE :p ESCAPE '\\' LIMIT :n"),
        ("trace_id", "SELECT correlation_id FROM business_events WHERE trace_id LIKE :p ESCAPE '\\' LIMIT :n"),
    )  # fmt: skip
    params = {"q": q, "q_end": q[:-1] + chr(ord(q[-1]) + 1), "p": like, "n": limit}
    found: dict[str, tuple[str, str]] = {}
    for match, statements in (("exact", exact), ("prefix", prefix)):
        for matched_on, sql in statements:
            for (key,) in conn.execute(sa.text(sql), params):
                found.setdefault(key, (match, matched_on))
            if found and (match == "exact" or len(found) >= limit):
                break
        if found:
            break
    keys = sorted(found, key=lambda k: (found[k][1] != "correlation_id", k))[:limit]
    if keys and not scope.everything and next(iter(found.values()))[0] == "prefix":
        sql = f"SELECT correlation_id FROM order_facts o WHERE {in_list(conn, 'o.correlation_id', 'keys')}"
        kept = {
            k for (k,) in conn.execute(sa.text(f"{sql} AND {order_in_scope(scope)}"), {"keys": keys, **scope.params()})
        }
        keys = [k for k in keys if k in kept]
    if not keys:
        return []
    summary = read_frame(
        conn,
        f"""
        SELECT correlation_id, count(*) AS events, min(occurred_at) AS first_seen, max(occurred_at) AS last_seen,
               count(*) FILTER (WHERE status <> 'ok') AS failed_attempts
        FROM business_events WHERE {in_list(conn, "correlation_id", "keys")}
        GROUP BY correlation_id
        """,
        {"keys": keys},
    ).set_index("correlation_id")
    span_only = [k for k in keys if k not in summary.index]
    spans = (
        read_frame(  # keys known only from spans (or bare trace ids): when their spans ran
            conn,
            f"""
        SELECT coalesce(correlation_id, trace_id) AS key, count(*) AS spans, min(start_time) AS first_seen,
               max(end_time) AS last_seen
        FROM spans WHERE {in_list(conn, "correlation_id", "keys")} OR {in_list(conn, "trace_id", "keys")}
        GROUP BY ALL
        """,
            {"keys": span_only},
        ).set_index("key")
        if span_only
        else None
    )
    results = []
    for key in keys:
        match, matched_on = found[key]
        row = summary.loc[key] if key in summary.index else None
        if row is None and spans is not None and key in spans.index:
            row = spans.loc[key]
        results.append(_jsonable({
            "correlation_id": key, "match": match, "matched_on": matched_on,
            "events": row.get("events", 0) if row is not None else 0,
            "failed_attempts": row.get("failed_attempts", 0) if row is not None else 0,
            "first_seen": row["first_seen"] if row is not None else None,
            "last_seen": row["last_seen"] if row is not None else None,
        }))  # fmt: skip
    return results


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as ISO strings, NaN/NaT as None, numpy scalars as Python, attributes as JSON."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, (datetime, pd.Timestamp)):
            out[key] = None if pd.isna(value) else value.isoformat()
        elif key == "attributes" and isinstance(value, str):
            out[key] = _json_or_text(value)
        elif isinstance(value, (list, dict, bool, str)) or value is None:
            out[key] = value
        else:
            out[key] = json_number(value)
    return out


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
