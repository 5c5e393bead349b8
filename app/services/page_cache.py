"""Period reads computed once a minute and shared by everyone looking at them.

The scorecard, the partner pages, reconciliation and the backlog forecast read whole periods:
at 10M events a 30-day scorecard is ~1 s of both cores, and every viewer (and every auto-refresh)
asked for it again. Their numbers move slowly, so each distinct read is computed once per clock
minute and served to every viewer of that minute. A read is computed again when

* the clock minute turns, or ``ttl`` seconds have passed (a pinned test clock never turns);
* someone acted: a new ``exception_actions`` or ``replays`` row (an operator's action, a replay's
  result, the detector opening or resolving an exception) — one indexed read per request.

Reads someone asked for in the last ``keep_warm`` seconds (a page left open re-asks at each
auto-refresh) are recomputed in the background (:meth:`PageCache.refresh`, a scheduled job) when
they go stale, so people watching a page do not wait for it; the rest are dropped. Keeping a view
warm costs its computation once a minute (a 30-day scorecard at 10M events: seconds of both cores,
which the live pages then share), so the horizon is short. Each cached page says what time its
numbers are as of.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What an operator action or a detection change writes: its newest row changes the generation.
_GENERATION = sa.text("SELECT (SELECT max(action_id) FROM exception_actions), (SELECT max(replay_id) FROM replays)")

Stamp = tuple[datetime, tuple[Any, ...]]


@dataclass
class _Entry:
    compute: Callable[[], Any]
    lock: threading.Lock = field(default_factory=threading.Lock)  # one computation at a time per read
    value: Any = None
    stamp: Stamp | None = None  # (clock minute, generation) it was computed for
    computed: float = 0.0  # monotonic seconds
    read: float = 0.0


class PageCache:
    """``get(key, compute)``: ``compute()``'s value, computed at most once per minute and generation."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        ttl: float = 60.0,
        keep_warm: float = 120.0,
        max_entries: int = 256,
    ) -> None:
        self._engine, self._clock = engine, clock
        self.ttl, self.keep_warm, self.max_entries = ttl, keep_warm, max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of the read ``key``; ``compute`` runs when there is none of this minute and
        generation (one caller computes, others asking at the same time wait for its value)."""
        if self.ttl <= 0:
            return compute()
        entry = self._entry(key, compute)
        entry.read = time.monotonic()
        return self._value(entry, self._stamp())  # type: ignore[no-any-return]

    def refresh(self) -> int:
        """Recompute the stale reads asked for within ``keep_warm``; drop the others. Returns how many
        were recomputed (a failing read is logged and left stale: its viewers will see the error)."""
        if self.ttl <= 0:
            return 0
        stamp, now, done = self._stamp(), time.monotonic(), 0
        with self._lock:
            for key in [k for k, e in self._entries.items() if now - e.read > self.keep_warm]:
                del self._entries[key]
            entries = list(self._entries.values())
        for entry in entries:
            if self._fresh(entry, stamp):
                continue
            try:
                self._value(entry, stamp)
                done += 1
            except Exception:
                log.exception("refreshing a cached page read failed")
        return done

    def clear(self) -> None:
        """Forget every read (a configuration change that the generation does not see)."""
        with self._lock:
            self._entries.clear()

    def _entry(self, key: Hashable, compute: Callable[[], Any]) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(compute)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            else:
                entry.compute = compute  # the newest closure (same read, same arguments)
                self._entries.move_to_end(key)
            return entry

    def _value(self, entry: _Entry, stamp: Stamp) -> Any:
        with entry.lock:
            if not self._fresh(entry, stamp):
                value = entry.compute()
                entry.value, entry.stamp, entry.computed = value, stamp, time.monotonic()
            return entry.value

    def _fresh(self, entry: _Entry, stamp: Stamp) -> bool:
        return entry.stamp == stamp and time.monotonic() - entry.computed < self.ttl

    def _stamp(self) -> Stamp:
        with self._engine.connect() as conn:
            generation = tuple(conn.execute(_GENERATION).one())
        return self._clock().replace(second=0, microsecond=0), generation
