"""Flowwatch's own Prometheus metrics: ingest counters and buffer state, per process."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from collectors.brokers import BrokerConsumers
from collectors.pollers import PollerRunner
from models.ingest.buffer import IngestBuffer

#: What the ingest edges count, per source kind (events, traces, webhook:<name>, queue_samples).
OUTCOMES = ("accepted", "rejected", "duplicates", "ignored")


class IngestCounters:
    """Thread-safe counters of what the ingest edges accepted, rejected and de-duplicated."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._delivery_lag_sum = 0.0
        self._delivery_lag_count = 0
        self.started_at = time.time()

    def add(self, source: str, *, accepted: int = 0, rejected: int = 0, duplicates: int = 0, ignored: int = 0) -> None:
        """Count one request's outcome (``ignored``: acknowledged, but of a kind Flowwatch does not use)."""
        with self._lock:
            self._counts[(source, "accepted")] += accepted
            self._counts[(source, "rejected")] += rejected
            self._counts[(source, "duplicates")] += duplicates
            self._counts[(source, "ignored")] += ignored

    def observe_delivery_lag(self, total_seconds: float, events: int) -> None:
        """Add ``received_at − occurred_at`` of a batch (sum and count, for a mean)."""
        with self._lock:
            self._delivery_lag_sum += total_seconds
            self._delivery_lag_count += events

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Counts per source and outcome, for the Ingest panel."""
        with self._lock:
            out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
            for (source, outcome), n in self._counts.items():
                out[source][outcome] = n
            return dict(out)

    def delivery_lag(self) -> tuple[float, int]:
        """(sum of seconds, events) of event delivery lag seen so far."""
        with self._lock:
            return self._delivery_lag_sum, self._delivery_lag_count


class _FlowwatchCollector(Collector):
    def __init__(
        self, counters: IngestCounters, buffer: IngestBuffer, pollers: PollerRunner, brokers: BrokerConsumers
    ) -> None:
        self._counters = counters
        self._buffer = buffer
        self._pollers = pollers
        self._brokers = brokers

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | SummaryMetricFamily]:
        records = CounterMetricFamily(
            "flowwatch_ingest_records", "Records received at the ingest edges", labels=["source", "outcome"]
        )
        for source, outcomes in sorted(self._counters.snapshot().items()):
            for outcome, n in outcomes.items():
                records.add_metric([source, outcome], n)
        yield records
        lag_sum, lag_count = self._counters.delivery_lag()
        yield SummaryMetricFamily(
            "flowwatch_event_delivery_lag_seconds",
            "Event delivery lag (received_at - occurred_at) of ingested events",
            count_value=lag_count,
            sum_value=lag_sum,
        )
        stats = self._buffer.stats
        yield GaugeMetricFamily(
            "flowwatch_ingest_pending_rows",
            "Rows acknowledged, not yet committed",
            value=self._buffer.pending_rows,
        )
        committed = CounterMetricFamily(
            "flowwatch_ingest_committed_rows", "Rows committed to the database", labels=["table"]
        )
        for table, n in sorted(stats.flushed_rows.items()):
            committed.add_metric([table], n)
        yield committed
        yield CounterMetricFamily("flowwatch_ingest_flushes", "Writer commits", value=stats.flushes)
        yield CounterMetricFamily(
            "flowwatch_ingest_failed_flushes", "Writer commits that failed", value=stats.failed_flushes
        )
        yield GaugeMetricFamily(
            "flowwatch_ingest_last_flush_duration_seconds",
            "Duration of the last commit",
            value=stats.last_flush_seconds,
        )
        yield CounterMetricFamily(
            "flowwatch_ingest_recovered_rows",
            "Rows replayed from the write-ahead log at start",
            value=stats.recovered_rows,
        )
        failures = GaugeMetricFamily(
            "flowwatch_poller_consecutive_failures", "Failed polls in a row, per poller", labels=["poller"]
        )
        last_ok = GaugeMetricFamily(
            "flowwatch_poller_last_success_timestamp_seconds", "Unix time of the last good poll", labels=["poller"]
        )
        for status in self._pollers.statuses():
            failures.add_metric([status.name], status.consecutive_failures)
            if status.last_ok_at is not None:
                last_ok.add_metric([status.name], status.last_ok_at.replace(tzinfo=UTC).timestamp())
        yield failures
        yield last_ok
        yield from self._broker_metrics()

    def _broker_metrics(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        connected = GaugeMetricFamily("flowwatch_broker_connected", "1 while consuming", labels=["broker", "kind"])
        messages = CounterMetricFamily("flowwatch_broker_messages", "Messages acknowledged", labels=["broker"])
        records = CounterMetricFamily(
            "flowwatch_broker_records", "Records consumed, by outcome", labels=["broker", "outcome"]
        )
        for status in self._brokers.statuses():
            connected.add_metric([status.name, status.kind], int(status.is_connected))
            messages.add_metric([status.name], status.messages)
            records.add_metric([status.name, "accepted"], status.accepted)
            records.add_metric([status.name, "dead_lettered"], status.refused)
        yield from (connected, messages, records)


def render(counters: IngestCounters, buffer: IngestBuffer, pollers: PollerRunner, brokers: BrokerConsumers) -> bytes:
    """The Prometheus text exposition of this process's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FlowwatchCollector(counters, buffer, pollers, brokers))
    return generate_latest(registry)
