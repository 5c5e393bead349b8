"""The live demo simulator: sends the live traffic through Flowwatch's real ingest paths.

A background thread plays the integration middleware of the demo distributor. Every few
seconds it reads the demo's fault switches (``GET /api/v1/demo/faults``) so an incident breaks
its traffic, and the keys the simulated systems took (``GET /api/v1/demo/deliveries``) so a
replayed dead letter leaves its DLQ and its order moves on. Each tick
it takes the deliveries due from :class:`LiveTraffic` and, as an instrumented middleware
would, records their spans with the OpenTelemetry SDK (one ``TracerProvider`` per service,
exported by the real OTLP/HTTP exporter to ``{base}/v1/traces``), posts their events as
NDJSON to ``/api/v1/events`` (half the Shopify orders arrive instead as signed
``orders/create`` webhooks), and every ``sample_seconds`` posts the queue levels to
``/api/v1/queue-samples``. A 429/503 is retried after its ``Retry-After``; events carry
stable ids, so a retried batch is never stored twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import random
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from collectors.tls import tls_context
from seed_data.distributor import BROKER
from seed_data.live_traffic import (
    STAGES,
    Delivery,
    InFlight,
    LiveTraffic,
    QueueLevel,
    first_order_number,
    payload,
)
from seed_data.order_hops import HOPS

log = logging.getLogger(__name__)

_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
_SERVICES = sorted({s.service for (stage, _), hop in HOPS.items() if stage in STAGES for s in hop.steps})
_GAP_NS = 300_000  # dispatch overhead between consecutive spans of a hop
_MAX_WAIT = 30.0  # longest pause honoured from a Retry-After or a backoff
_MAX_TRANSPORT_RETRIES = 5
SHOP_DOMAIN = "northwind-supply.myshopify.com"


@dataclass(frozen=True)
class SimulatorConfig:
    """Where to send, how fast, and from which seed."""

    base_url: str
    shopify_secret: str
    orders_per_minute: float = 6.0
    speed: float = 1.0  # compresses the history's step delays (1.0: hours, as in the history; tests run faster)
    seed: int = 20261122
    tick_seconds: float = 1.0
    sample_seconds: float = 15.0
    #: DLQ depth and oldest age the seeded history left, by queue: they stay until an operator acts.
    dlq_backlog: Mapping[str, tuple[int, float | None]] = field(default_factory=dict)
    #: Orders the seeded history left in flight, continued live.
    in_flight: tuple[InFlight, ...] = ()
    #: How often the demo's fault switches and the replays that got through are read back.
    control_seconds: float = 2.0
    #: The everyday trickle of failures beside the ones the fault switches cause.
    background_failures: bool = True
    ready_timeout_seconds: float = 120.0
    #: API keys when the server has auth on: ingest (OTLP, events, queue samples) and read (the demo's
    #: fault switches and deliveries). Vendor webhooks carry their own signature instead.
    ingest_key: str | None = None
    read_key: str | None = None


@dataclass
class SimulatorStats:
    """What the simulator sent (read by tests and logged at the end)."""

    orders: int = 0
    events: int = 0
    webhooks: int = 0
    spans: int = 0
    samples: int = 0
    retries: int = 0  # 429/503 answers and transport errors that were retried
    replayed: int = 0  # dead letters an operator's replay delivered (taken out of the DLQ)
    failed_posts: int = 0  # refused (4xx) or given up


class _SeededIds(IdGenerator):
    """Trace and span ids from a seeded PRNG: the same run twice gives the same ids."""

    def __init__(self, seed: str) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


class LiveSimulator:
    """Start, let it run, stop; safe to stop before it ever reached the server."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.stats = SimulatorStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(base_url=self.base_url, timeout=10.0, verify=tls_context())
        self._ingest = {"Authorization": f"Bearer {config.ingest_key}"} if config.ingest_key else {}
        self._read = {"Authorization": f"Bearer {config.read_key}"} if config.read_key else {}
        self._first_number = first_order_number(time.time())
        self._providers: list[TracerProvider] = []
        self._tracers: dict[str, trace.Tracer] = {}
        for service in _SERVICES:
            provider = TracerProvider(
                resource=Resource.create({"service.name": service, "deployment.environment": "demo"}),
                id_generator=_SeededIds(f"{config.seed}:{self._first_number}:{service}"),
                shutdown_on_exit=False,
            )
            exporter = OTLPSpanExporter(endpoint=f"{self.base_url}/v1/traces", timeout=5, headers=self._ingest)
            provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
            self._providers.append(provider)
            self._tracers[service] = provider.get_tracer("flowwatch.demo.simulator")

    def start(self) -> None:
        """Run in a daemon thread; it waits for ``/healthz`` before sending anything."""
        self._thread = threading.Thread(target=self._run, name="flowwatch-live-simulator", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """True while the sending thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop sending, export the spans still queued, release the connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        for provider in self._providers:
            provider.shutdown()
        self._client.close()
        log.info("live simulator stopped: %s", self.stats)

    # -- the loop -------------------------------------------------------------------------------
    def _run(self) -> None:
        if not self._wait_ready():
            return
        started = time.monotonic()
        traffic = LiveTraffic(
            seed=self.config.seed,
            orders_per_minute=self.config.orders_per_minute,
            first_number=self._first_number,
            start=started,
            speed=self.config.speed,
            dlq_backlog=self.config.dlq_backlog,
            background_failures=self.config.background_failures,
        )
        traffic.adopt(list(self.config.in_flight))
        next_sample = next_control = started
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_control:
                    self._control(traffic, now)
                    next_control = now + self.config.control_seconds
                self._send(traffic.due(now), now)
                self.stats.orders = traffic.orders_created
                if now >= next_sample:
                    self._send_levels(traffic.levels(now))
                    next_sample = now + self.config.sample_seconds
            except Exception:  # a bug here must not end the demo's traffic for good
                log.exception("live simulator tick failed")
            self._stop.wait(self.config.tick_seconds)

    def _control(self, traffic: LiveTraffic, now: float) -> None:
        """Read the fault switches and the replays that got through (the demo's incident controls)."""
        try:
            faults = self._client.get("/api/v1/demo/faults", timeout=5, headers=self._read).raise_for_status().json()
            delivered = (
                self._client.get("/api/v1/demo/deliveries", timeout=5, headers=self._read).raise_for_status().json()
            )
            modes = {s["system"]: s["mode"] for s in faults["systems"]}
            keys = set(delivered["keys"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:  # a server without the demo controls
            log.debug("live simulator: cannot read the demo controls: %s", exc)
            return
        traffic.set_faults(modes)
        self.stats.replayed += traffic.replayed(keys, now)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.config.ready_timeout_seconds
        while not self._stop.is_set():
            try:
                if self._client.get("/healthz", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                log.error("live simulator: %s/healthz never answered; no live traffic", self.base_url)
                return False
            self._stop.wait(0.2)
        return False

    def _send(self, deliveries: list[Delivery], now: float) -> None:
        """Spans for every delivery; events as one NDJSON batch; Shopify orders as webhooks."""
        wall_now = datetime.now(UTC)
        events = []
        for delivery in deliveries:
            ended = wall_now - timedelta(seconds=now - delivery.at)
            started, trace_id, span_id = self._record_spans(delivery, ended)
            if delivery.via_webhook:
                self._send_webhook(delivery, started, trace_id, span_id)
            else:
                events.append(canonical_event(delivery, started, ended, trace_id))
        if events:
            body = b"\n".join(orjson.dumps(e) for e in events)
            if self._post("/api/v1/events", body, {"Content-Type": "application/x-ndjson"}):
                self.stats.events += len(events)

    def _send_webhook(self, delivery: Delivery, created: datetime, trace_id: str, span_id: str) -> None:
        body = orjson.dumps(shopify_order(delivery, created))
        digest = hmac.new(self.config.shopify_secret.encode(), body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-Webhook-Id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SHOP_DOMAIN}/{delivery.event_id}")),
            "traceparent": f"00-{trace_id}-{span_id}-01",
        }
        if self._post("/api/v1/webhooks/shopify", body, headers):
            self.stats.webhooks += 1

    def _send_levels(self, levels: list[QueueLevel]) -> None:
        sampled_at = _iso(datetime.now(UTC))
        samples = [
            {
                "broker": BROKER,
                "queue": level.queue,
                "sampled_at": sampled_at,
                "depth": level.depth,
                "consumers": level.consumers,
                "oldest_age_seconds": None if level.oldest_age_seconds is None else round(level.oldest_age_seconds, 3),
                "is_dlq": level.is_dlq,
                "flow_id": level.flow_id,
            }
            for level in levels
        ]
        if samples and self._post("/api/v1/queue-samples", orjson.dumps(samples), {"Content-Type": "application/json"}):
            self.stats.samples += len(samples)

    def _record_spans(self, delivery: Delivery, ended: datetime) -> tuple[datetime, str, str]:
        """The hop's spans ending at ``ended``: receipt (root), then the rest as its children.

        Returns when the delivery started and the root's trace and span ids (hex).
        """
        steps = delivery.hop.steps[: len(delivery.durations_ms)]
        durations = [int(ms * 1e6) for ms in delivery.durations_ms]
        end_ns = int(ended.timestamp() * 1e9)
        at = end_ns - sum(durations) - _GAP_NS * (len(durations) - 1)
        started = datetime.fromtimestamp(at / 1e9, UTC)
        root = None
        for j, (step, duration) in enumerate(zip(steps, durations, strict=True)):
            failing = delivery.status != "ok" and j == len(steps) - 1
            span = self._tracers[step.service].start_span(
                step.name,
                context=None if root is None else trace.set_span_in_context(root),
                kind=_KINDS[step.kind],
                start_time=at,
                attributes=_attributes(delivery, step, failing),
            )
            if failing and delivery.error:
                span.set_status(Status(StatusCode.ERROR, delivery.error[1]))
            span.end(end_time=at + duration)
            root = root or span
            at += duration + _GAP_NS
        self.stats.spans += len(steps)
        context = root.get_span_context()
        return started, f"{context.trace_id:032x}", f"{context.span_id:016x}"

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> bool:
        """POST with retries: Retry-After on 429/503, doubling backoff on transport errors."""
        errors = 0
        while not self._stop.is_set():
            try:
                signed = "webhooks" in path  # vendor webhooks prove themselves by their signature
                response = self._client.post(
                    path, content=body, headers=headers if signed else {**self._ingest, **headers}
                )
            except httpx.TransportError as exc:
                errors += 1
                if errors > _MAX_TRANSPORT_RETRIES:
                    log.warning("live simulator: gave up POST %s after %d errors: %s", path, errors, exc)
                    break
                self.stats.retries += 1
                self._stop.wait(min(_MAX_WAIT, 0.5 * 2**errors))
                continue
            if response.status_code in (429, 503):
                self.stats.retries += 1
                self._stop.wait(_retry_after(response))
                continue
            if response.is_error:
                log.warning("live simulator: POST %s answered %d: %s", path, response.status_code, response.text[:300])
                break
            return True
        self.stats.failed_posts += 1
        return False


def _retry_after(response: httpx.Response) -> float:
    """Seconds from ``Retry-After`` (delta-seconds form); 1 s when absent or unreadable."""
    try:
        return min(_MAX_WAIT, max(0.0, float(response.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0


def _attributes(delivery: Delivery, step: Any, failing: bool) -> dict[str, Any]:
    """What the seeded spans carry: the business key, the message id, flow, peer and HTTP."""
    hop = delivery.hop
    attributes: dict[str, Any] = {
        hop.key_attr: delivery.order.number,
        "messaging.message.id": delivery.event_id,
        "event.type": hop.event_type,
        "messaging.attempt": delivery.attempt,
    }
    if hop.flow_id:
        attributes["flow.id"] = hop.flow_id
    if step.peer:
        attributes["peer.service"] = step.peer
    if step.http_status is not None:
        method, _, route = step.name.partition(" ")
        status = delivery.error[2] if failing and delivery.error else step.http_status
        attributes |= {"http.request.method": method, "http.route": route, "http.response.status_code": status}
    return attributes


def canonical_event(delivery: Delivery, started: datetime, ended: datetime, trace_id: str) -> dict[str, Any]:
    """The canonical event the middleware reports for one delivery attempt."""
    hop, error = delivery.hop, delivery.error
    return {
        "event_id": delivery.event_id,
        "correlation_id": delivery.order.number,
        "event_type": hop.event_type,
        "flow_id": hop.flow_id,
        "source": hop.source,
        "target": hop.target,
        "channel": delivery.order.channel,
        "occurred_at": _iso(started),
        "received_at": _iso(ended),
        "status": delivery.status,
        "attempt": delivery.attempt,
        "error_code": error[0] if error else None,
        "error_message": error[1] if error else None,
        "trace_id": trace_id,
        "payload": payload(delivery),
    }


def shopify_order(delivery: Delivery, created: datetime) -> dict[str, Any]:
    """The ``orders/create`` webhook body Shopify would send for a live Shopify order."""
    order = delivery.order
    digits = order.number.removeprefix("SHP-")
    return {
        "id": int(digits),
        "name": f"#{digits}",
        "created_at": created.isoformat(timespec="seconds"),
        "currency": "USD",
        "total_price": f"{order.total_cents / 100:.2f}",
        "financial_status": "paid",
        "customer": {"id": order.customer},
        "shipping_address": {"city": None, "province_code": None, "country_code": "US", "zip": order.postcode},
        "line_items": [
            {"sku": line["sku"], "quantity": line["qty"], "price": f"{line['unit_price']:.2f}"} for line in order.lines
        ],
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
