"""Runs pollers on schedule, remembers how each fared, and backs off from a broker that is down.

A failing poller is not retried on every tick: after ``n`` consecutive failures its next
attempt waits ``interval × 2^(n-1)`` (capped), so a dead broker costs one connect attempt
every few minutes, not a stream of timeouts. Nothing a poller raises leaves ``run``:
a broken broker must never stop the scheduler or the app.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa

from collectors.pollers.base import PartialPoll, PollError
from collectors.pollers.kinds import PollerConfig, poll
from collectors.queue_metrics import samples_to_arrow

log = logging.getLogger(__name__)

Submit = Callable[[str, pa.Table], None]


@dataclass(frozen=True)
class PollerStatus:
    """One poller's health as plain data (for ``/metrics`` and the Ingest panel); times naive UTC."""

    name: str
    kind: str
    broker: str
    interval_seconds: float
    last_attempt_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    next_attempt_at: datetime | None = None
    last_samples: int = 0


class PollerRunner:
    """The status of every configured poller, updated by each run; safe across scheduler threads."""

    def __init__(self, *, max_backoff_seconds: float = 300.0) -> None:
        self.max_backoff_seconds = max_backoff_seconds
        self._lock = threading.Lock()
        self._status: dict[str, PollerStatus] = {}

    def add(self, config: PollerConfig) -> None:
        """Track ``config`` (never polled yet)."""
        with self._lock:
            self._status[config.name] = PollerStatus(config.name, config.kind, config.broker, config.interval_seconds)

    def statuses(self) -> list[PollerStatus]:
        """A snapshot of every poller's status, by name."""
        with self._lock:
            return [self._status[name] for name in sorted(self._status)]

    def status(self, name: str) -> PollerStatus:
        """One poller's status."""
        with self._lock:
            return self._status[name]

    def run(self, config: PollerConfig, submit: Submit, now: datetime) -> None:
        """Poll once unless backing off; hand the samples to ``submit``; record the outcome."""
        if config.name not in self._status:
            self.add(config)
        status = self.status(config.name)
        # Half an interval of slack: the scheduler's tick and ``now`` never line up exactly.
        slack = timedelta(seconds=config.interval_seconds / 2)
        if status.next_attempt_at is not None and now + slack < status.next_attempt_at:
            return
        try:
            samples = poll(config, now)
            problem = None
        except PartialPoll as exc:
            samples, problem = exc.samples, str(exc)
        except Exception as exc:  # any failure of any plugin: record it, never raise
            self._failed(config, status, now, exc)
            return
        if not samples:  # it answered, but about no queue: not healthy with zero samples
            self._failed(config, status, now, PollError(_nothing_found(config)))
            return
        try:
            submit("queue_samples", samples_to_arrow(samples))
        except Exception as exc:  # e.g. Backpressure: the samples are lost, the next poll retries
            self._failed(config, status, now, exc)
            return
        if status.consecutive_failures:
            log.info("poller %s recovered after %d failures", config.name, status.consecutive_failures)
        if problem:
            log.warning("poller %s: %s", config.name, problem)
        self._set(
            status,
            last_attempt_at=now,
            last_ok_at=now,
            last_error=problem,
            last_error_at=now if problem else status.last_error_at,
            consecutive_failures=0,
            next_attempt_at=None,
            last_samples=len(samples),
        )

    def _failed(self, config: PollerConfig, status: PollerStatus, now: datetime, exc: Exception) -> None:
        failures = status.consecutive_failures + 1
        cap = max(self.max_backoff_seconds, config.interval_seconds)
        delay = min(config.interval_seconds * 2 ** (failures - 1), cap)
        message = str(exc) or type(exc).__name__
        # Log the first failure loudly, repeats quietly: a dead broker must not flood the log.
        (log.warning if failures == 1 else log.debug)(
            "poller %s failed (%d in a row), next attempt in %.0f s: %s", config.name, failures, delay, message
        )
        self._set(
            status,
            last_attempt_at=now,
            last_error=message,
            last_error_at=now,
            consecutive_failures=failures,
            next_attempt_at=now + timedelta(seconds=delay),
        )

    def _set(self, status: PollerStatus, **changes: object) -> None:
        with self._lock:
            self._status[status.name] = dataclasses.replace(status, **changes)


def _nothing_found(config: PollerConfig) -> str:
    """Why a poll that answered yielded no sample, with what the poller was told to look for."""
    queues = getattr(config, "queues", None)
    wanted = f"its queues ({', '.join(queues)})" if queues else "any queue"
    hints = [f"{field}={getattr(config, field)!r}" for field in ("queue_label", "label_filters", "queues_path")
             if getattr(config, field, None)]  # fmt: skip
    return f"found no samples for {wanted}" + (f": nothing matched {', '.join(hints)}" if hints else "")
