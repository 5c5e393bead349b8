"""Delivering business events through the middleware, vectorised per hop.

One call handles every row of a hop at once: delivery timing (webhook lag, queue wait,
span durations), outcomes (ok, transient retry, failure, dead letter), second attempts
(automatic retries, operator fixes and replays), the spans of each attempt, queue
enter/leave times and the failures the exception builder needs. Rows not received by the
anchor are left out: they are still in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from seed_data.ids import hex_ids
from seed_data.queues import QueueLedger
from seed_data.telemetry import Delivered, Hop, sample_durations, span_starts, spans
from seed_data.timeline import lognormal, timestamps

OK, RETRY, FAILED, DEAD = 0, 1, 2, 3
_STATUS = np.array(["ok", "retrying", "failed", "dead_lettered"])
#: Share of deliveries that fail transiently and succeed on the automatic retry.
TRANSIENT_SHARE = 0.003

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("correlation_id", pa.string()),
        ("event_type", pa.string()),
        ("flow_id", pa.string()),
        ("source", pa.string()),
        ("target", pa.string()),
        ("channel", pa.string()),
        ("occurred_at", pa.timestamp("us")),
        ("received_at", pa.timestamp("us")),
        ("status", pa.string()),
        ("attempt", pa.int16()),
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("trace_id", pa.string()),
        ("payload", pa.string()),
    ]
)


@dataclass
class Errors:
    """Per-row error of failing deliveries (values on non-failing rows are ignored)."""

    code: np.ndarray
    message: np.ndarray
    http: np.ndarray
    #: Duration of the failing call in ms (timeouts); NaN = sampled as usual.
    fail_ms: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Errors:
        """No errors yet for ``n`` rows."""
        return cls(
            np.full(n, None, dtype=object),
            np.full(n, None, dtype=object),
            np.zeros(n, np.int64),
            np.full(n, np.nan),
        )

    def set(self, mask: np.ndarray, code: str, message: str | np.ndarray, http: int, fail_ms: float = np.nan) -> None:
        """Give the rows in ``mask`` this error."""
        self.code[mask] = code
        self.message[mask] = message if isinstance(message, str) else message[mask]
        self.http[mask] = http
        self.fail_ms[mask] = fail_ms


@dataclass
class Findings:
    """What went wrong, kept across chunks for the exception builder (column lists)."""

    failures: list[dict[str, object]] = field(default_factory=list)
    breaches: list[dict[str, object]] = field(default_factory=list)

    def breach(
        self,
        kind: str,
        flow_id: str,
        key: str,
        correlation_ids: pa.Array,
        at: np.ndarray,
        ended_at: np.ndarray,
    ) -> None:
        """An SLA breach (or missing step) per business key; ``ended_at`` NaN while still open."""
        if len(at):
            self.breaches.append(
                {
                    "kind": kind,
                    "flow_id": flow_id,
                    "key": key,
                    "correlation_id": correlation_ids.to_pylist(),
                    "at": at,
                    "ended_at": ended_at,
                }
            )


@dataclass
class Sink:
    """Collects one chunk's events and spans; the ledger and findings span all chunks."""

    rng: np.random.Generator
    anchor_us: int
    ledger: QueueLedger
    findings: Findings
    events: list[pa.Table] = field(default_factory=list)
    spans: list[pa.Table] = field(default_factory=list)

    def add_events(
        self,
        hop: Hop,
        *,
        correlation_ids: pa.Array,
        channel: pa.Array | str | None,
        occurred: np.ndarray,
        received: np.ndarray,
        payload: pa.Array,
        status: np.ndarray | None = None,
        attempt: int = 1,
        errors: tuple[np.ndarray, np.ndarray] | None = None,
        event_ids: pa.Array | None = None,
        trace_ids: pa.Array | None = None,
    ) -> pa.Array:
        """Append event rows (all already received); returns their event ids."""
        n = len(occurred)
        if event_ids is None:
            event_ids = hex_ids(self.rng, n, 12, "evt_")
        failing = status != "ok" if status is not None else np.zeros(n, dtype=bool)
        self.events.append(
            pa.table(
                {
                    "event_id": event_ids,
                    "correlation_id": correlation_ids,
                    "event_type": pa.repeat(hop.event_type, n),
                    "flow_id": pa.repeat(pa.scalar(hop.flow_id, pa.string()), n),
                    "source": pa.repeat(hop.source, n),
                    "target": pa.repeat(pa.scalar(hop.target, pa.string()), n),
                    "channel": channel
                    if isinstance(channel, pa.Array)
                    else pa.repeat(pa.scalar(channel, pa.string()), n),
                    "occurred_at": timestamps(occurred, self.anchor_us),
                    "received_at": timestamps(received, self.anchor_us),
                    "status": pa.repeat("ok", n) if status is None else pa.array(status),
                    "attempt": pa.repeat(pa.scalar(attempt, pa.int16()), n),
                    "error_code": _masked(errors[0] if errors else None, failing),
                    "error_message": _masked(errors[1] if errors else None, failing),
                    "trace_id": trace_ids if trace_ids is not None else pa.nulls(n, pa.string()),
                    "payload": payload,
                },
                schema=EVENT_SCHEMA,
            )
        )
        return event_ids

    def deliver(
        self,
        hop: Hop,
        occurred: np.ndarray,
        correlation_ids: pa.Array,
        channel: pa.Array | str | None,
        payload: pa.Array,
        *,
        wait: np.ndarray | None = None,
        slow: np.ndarray | None = None,
        outcome: np.ndarray | None = None,
        errors: Errors | None = None,
        recover_at: np.ndarray | None = None,
        fixed_payload: pa.Array | None = None,
    ) -> np.ndarray:
        """Deliver ``hop`` for every row; returns when each row was finally received ok.

        ``outcome`` (OK/RETRY/FAILED/DEAD) forces first-attempt failures on top of the
        transient background; failed and dead-lettered rows get an ok second attempt at
        ``recover_at`` (fix or replay) when that is before the anchor. NaN = never ok.
        """
        rng, n = self.rng, len(occurred)
        wait = np.zeros(n) if wait is None else wait
        outcome = np.zeros(n, np.int64) if outcome is None else outcome.copy()
        errors = Errors.empty(n) if errors is None else errors
        if hop.transient is not None:
            transient = (outcome == OK) & (rng.random(n) < TRANSIENT_SHARE)
            outcome[transient] = RETRY
            errors.set(transient, *hop.transient)
        failed = outcome != OK
        fail_at = hop.failing_index
        durations = sample_durations(rng, hop, n, slow)
        timed_out = failed & ~np.isnan(errors.fail_ms)
        durations[timed_out, fail_at] = errors.fail_ms[timed_out]
        starts = span_starts(occurred + lognormal(rng, 0.8, 0.6, n), wait, durations)
        last = np.where(failed, fail_at, len(hop.steps) - 1)
        received = starts[np.arange(n), last] + durations[np.arange(n), last] / 1000.0
        dead = outcome == DEAD
        received[dead] += rng.uniform(60.0, 240.0, int(dead.sum()))  # broker retries, then the DLQ
        if hop.queue:
            enter = starts[:, 0] + durations[:, 0] / 1000.0
            self.ledger.record(hop.queue, enter, enter + wait)
        first = received <= 0
        event_ids = self._attempt(
            hop,
            attempt=1,
            keep=first,
            timing=(occurred, received, starts, durations),
            failed=failed,
            rows=(correlation_ids, channel, payload),
            status=_STATUS[outcome],
            errors=errors,
        )

        # Second attempts: automatic retries after a backoff, fixes and replays at recover_at.
        recover = np.full(n, np.inf) if recover_at is None else np.nan_to_num(recover_at, nan=np.inf)
        again = failed & first & ((outcome == RETRY) | (recover <= 0))
        backoff = received + rng.uniform(20.0, 120.0, n)
        retry_at = np.where(outcome == RETRY, backoff, np.maximum(recover, received + 60))
        durations2 = sample_durations(rng, hop, n, None)
        starts2 = span_starts(retry_at, np.zeros(n), durations2)
        retried = np.where(again, starts2[:, -1] + durations2[:, -1] / 1000.0, np.nan)
        second = retried <= 0
        self._attempt(
            hop,
            attempt=2,
            keep=second,
            timing=(occurred, retried, starts2, durations2),
            failed=np.zeros(n, bool),
            rows=(correlation_ids, channel, payload if fixed_payload is None else fixed_payload),
        )
        recovered = np.where(second, retried, np.nan)

        parked = (outcome >= FAILED) & first
        if hop.dlq:
            self.ledger.record(hop.dlq, received[parked], np.where(second, retry_at, np.nan)[parked])
        logged = np.flatnonzero(failed & first)
        if len(logged):
            first_ids = event_ids.take(pa.array(np.searchsorted(np.flatnonzero(first), logged)))
            self.findings.failures.append(
                {
                    "flow_id": hop.flow_id,
                    "system_id": hop.steps[fail_at].peer or hop.target,
                    "status": _STATUS[outcome[logged]],
                    "error_code": errors.code[logged],
                    "error_message": errors.message[logged],
                    "correlation_id": correlation_ids.take(pa.array(logged)).to_pylist(),
                    "event_id": first_ids.to_pylist(),
                    "failed_at": received[logged],
                    "recovered_at": recovered[logged],
                }
            )
        return np.where(failed, retried, received)

    def _attempt(
        self,
        hop: Hop,
        *,
        attempt: int,
        keep: np.ndarray,
        timing: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        failed: np.ndarray,
        rows: tuple[pa.Array, pa.Array | str | None, pa.Array],
        status: np.ndarray | None = None,
        errors: Errors | None = None,
    ) -> pa.Array:
        """Events and spans of the ``keep`` rows of one attempt; returns their event ids.

        ``timing`` is (occurred, received, span starts, span durations) and ``rows`` is
        (correlation ids, channel, payload), all for every row of the hop.
        """
        idx = np.flatnonzero(keep)
        if len(idx) == 0:
            return pa.array([], pa.string())
        occurred, received, starts, durations = timing
        correlation_ids, channel, payload = rows
        take = pa.array(idx)
        corr = correlation_ids.take(take)
        event_ids = hex_ids(self.rng, len(idx), 12, "evt_")
        trace_ids = hex_ids(self.rng, len(idx), 16)
        failing = failed[idx]
        messages = errors.message[idx] if errors is not None else None
        self.add_events(
            hop,
            correlation_ids=corr,
            channel=channel.take(take) if isinstance(channel, pa.Array) else channel,
            occurred=occurred[idx],
            received=received[idx],
            payload=payload.take(take),
            status=status[idx] if status is not None else None,
            attempt=attempt,
            errors=(errors.code[idx], messages) if errors is not None else None,
            event_ids=event_ids,
            trace_ids=trace_ids,
        )
        delivered = Delivered(
            attempt=attempt,
            trace_ids=trace_ids,
            event_ids=event_ids,
            correlation_ids=corr,
            starts=starts[idx],
            durations=durations[idx],
            failed=failing,
            error_message=_masked(messages, failing) if errors is not None else None,
            error_http=errors.http[idx] if errors is not None else None,
        )
        self.spans.append(spans(self.rng, hop, delivered, self.anchor_us))
        return event_ids


def _masked(values: np.ndarray | None, mask: np.ndarray) -> pa.Array:
    """Strings where ``mask``, null elsewhere."""
    if values is None or not mask.any():
        return pa.nulls(len(mask), pa.string())
    return pa.array(np.where(mask, values, None), pa.string())
