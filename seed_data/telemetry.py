"""Integration hops and the OpenTelemetry spans the middleware emits for them.

A hop is one delivery of a business event from a source to a target through the
middleware: a webhook/EDI receipt (the root span), a queue wait, then a transform and the
outbound API calls. The spans share the event's ``trace_id`` and carry ``order.id`` (or
``po.id``) and ``messaging.message.id`` = event_id, which is how Flowwatch joins
telemetry to the business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seed_data.ids import hex_ids
from seed_data.timeline import timestamps

#: Gap between consecutive spans of a hop (dispatch overhead), milliseconds.
_GAP_MS = 0.3


@dataclass(frozen=True)
class SpanStep:
    """One span of a hop: who emits it and how long it usually takes."""

    service: str
    kind: str  # server, internal, client (as the OTLP collector stores them)
    name: str
    median_ms: float
    sigma: float = 0.5
    peer: str | None = None
    http_status: int | None = None  # status on success for HTTP spans
    slowable: bool = False  # ERP calls slow down with the ERP


@dataclass(frozen=True)
class Hop:
    """A business event type flowing source → target, with the spans of one delivery."""

    event_type: str
    flow_id: str | None
    source: str
    target: str | None
    steps: tuple[SpanStep, ...]
    queue: str | None = None
    dlq: str | None = None
    key_attr: str = "order.id"
    #: (code, message, HTTP status) of the occasional transient failure that the retry fixes.
    transient: tuple[str, str, int] | None = None
    #: Index of the span that fails when the delivery fails (the outbound call by default).
    fail_step: int = -1

    @property
    def failing_index(self) -> int:
        """``fail_step`` as a non-negative index."""
        return self.fail_step % len(self.steps)


def receipt(route: str, peer: str, median_ms: float = 12.0) -> SpanStep:
    """The middleware accepting a webhook (or EDI interchange) and enqueueing it."""
    service = "mw-edi" if route.startswith("AS2") else "mw-webhooks"
    return SpanStep(service, "server", route, median_ms, 0.4, peer, None if route.startswith("AS2") else 202)


def transform(name: str, median_ms: float = 8.0) -> SpanStep:
    """The mapping from the source's document to the target's."""
    return SpanStep("mw-transform", "internal", name, median_ms, 0.5)


def call(service: str, route: str, peer: str, median_ms: float, *, status: int | None = 201) -> SpanStep:
    """An outbound API call; ERP calls slow down when the ERP does."""
    return SpanStep(service, "client", route, median_ms, 0.55, peer, status, slowable=service == "mw-erp-client")


def sample_durations(rng: np.random.Generator, hop: Hop, n: int, slow: np.ndarray | None) -> np.ndarray:
    """Span durations in ms, shape ``(n, len(hop.steps))``."""
    steps = hop.steps
    medians = np.array([s.median_ms for s in steps])
    sigmas = np.array([s.sigma for s in steps])
    durations = medians * np.exp(sigmas * rng.standard_normal((n, len(steps))))
    if slow is not None:
        slowable = np.array([s.slowable for s in steps])
        durations[:, slowable] *= slow[:, None]
    return durations


def span_starts(ingress: np.ndarray, wait: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Start (relative seconds) of each span: the root at ingress, the rest after the queue wait."""
    seconds = (durations + _GAP_MS) / 1000.0
    starts = np.empty_like(seconds)
    starts[:, 0] = ingress
    if seconds.shape[1] > 1:
        after_queue = ingress + seconds[:, 0] + wait
        starts[:, 1:] = after_queue[:, None] + np.cumsum(seconds[:, 1:], axis=1) - seconds[:, 1:]
    return starts


@dataclass(frozen=True)
class Delivered:
    """The rows of one delivery attempt that reached us, as the span builder needs them."""

    attempt: int
    trace_ids: pa.Array
    event_ids: pa.Array
    correlation_ids: pa.Array
    starts: np.ndarray  # (n, steps) relative seconds
    durations: np.ndarray  # (n, steps) ms
    failed: np.ndarray  # bool: the delivery stopped at the failing span
    error_message: pa.Array | None
    error_http: np.ndarray | None  # HTTP status of the failing call


def spans(rng: np.random.Generator, hop: Hop, rows: Delivered, anchor_us: int) -> pa.Table:
    """All spans of the delivered rows: failed deliveries end at the failing span, in error."""
    n = len(rows.correlation_ids)
    fail_at = hop.failing_index
    root_ids = hex_ids(rng, n, 8)
    tables = []
    for j, step in enumerate(hop.steps):
        keep = ~rows.failed if j > fail_at else np.ones(n, dtype=bool)
        if not keep.any():
            continue
        error = rows.failed & (j == fail_at)
        idx = pa.array(np.flatnonzero(keep))
        span_ids = root_ids if j == 0 else hex_ids(rng, n, 8)
        status_http = None
        if step.http_status is not None:
            codes = np.full(n, step.http_status)
            if rows.error_http is not None:
                codes = np.where(error, rows.error_http, codes)
            status_http = pc.cast(pa.array(codes), pa.string())
        table = pa.table(
            {
                "trace_id": rows.trace_ids,
                "span_id": span_ids,
                "parent_span_id": pa.nulls(n, pa.string()) if j == 0 else root_ids,
                "name": pa.repeat(step.name, n),
                "kind": pa.repeat(step.kind, n),
                "service_name": pa.repeat(step.service, n),
                "start_time": timestamps(rows.starts[:, j], anchor_us),
                "end_time": timestamps(rows.starts[:, j] + rows.durations[:, j] / 1000.0, anchor_us),
                "duration_ms": pa.array(np.round(rows.durations[:, j], 3)),
                "status_code": pa.array(np.where(error, "error", "unset")),
                "status_message": _where(error, rows.error_message, n),
                "correlation_id": rows.correlation_ids,
                "attributes": _attributes(hop, step, rows, status_http),
            }
        )
        tables.append(table.take(idx))
    return pa.concat_tables(tables)


def _where(mask: np.ndarray, values: pa.Array | None, n: int) -> pa.Array:
    """``values`` where ``mask``, null elsewhere."""
    if values is None or not mask.any():
        return pa.nulls(n, pa.string())
    return pc.if_else(pa.array(mask), values, pa.scalar(None, pa.string()))


def _attributes(hop: Hop, step: SpanStep, rows: Delivered, status_http: pa.Array | None) -> pa.Array:
    """Span + resource attributes as compact JSON, built column-wise."""
    parts: list[str | pa.Array] = [
        f'{{"{hop.key_attr}":"',
        rows.correlation_ids,
        '","messaging.message.id":"',
        rows.event_ids,
        f'","event.type":"{hop.event_type}","messaging.attempt":{rows.attempt}',
    ]
    if hop.flow_id:
        parts.append(f',"flow.id":"{hop.flow_id}"')
    if step.peer:
        parts.append(f',"peer.service":"{step.peer}"')
    if status_http is not None:
        method, _, route = step.name.partition(" ")
        parts += [
            f',"http.request.method":"{method}","http.route":"{route}","http.response.status_code":',
            status_http,
        ]
    parts.append(f',"service.name":"{step.service}","deployment.environment":"demo"}}')
    return pc.binary_join_element_wise(*parts, "")
