"""Period reads computed once a minute and shared by everyone looking at them.

The scorecard, the partner pages, reconciliation and the backlog forecast read whole periods:
at 10M events a 30-day scorecard is over a second of both cores, and every viewer (and every
auto-refresh) asked for it again. Their numbers move slowly, so each distinct read is computed
once per clock minute and served to every viewer of that minute.

* Someone acted — a new ``exception_actions`` or ``replays`` row (an operator's action, a replay's
  result, the detector opening or resolving an exception; one indexed read per request): the next
  read computes again, and waits for it, so an action shows at once.
* The clock minute turned, or ``ttl`` seconds passed (a pinned test clock never turns): a view
  computed less than ``2 × ttl`` ago is answered at once and recomputed in the background (one at
  a time), so nobody waits for a minute's new events and the next load has them; an older one is
  computed again before answering, so nobody is shown a view older than that.

Only what people ask for is computed: no job keeps views warm (at 10M events that cost seconds of
both cores a minute, which the live pages then waited behind). Each cached page says what time
its numbers are as of.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
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
    stamp: Stamp | None = None  # (clock minute, generation) it was computed for; None: no value yet
    computed: float = 0.0  # monotonic seconds
    queued: bool = False  # a background recomputation is on its way


class PageCache:
    """``get(key, compute)``: ``compute()``'s value, computed at most once per minute and generation."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        ttl: float = 60.0,
        max_entries: int = 256,
    ) -> None:
        self._engine, self._clock = engine, clock
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        # One background recomputation at a time: they share the cores with the live pages.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-cache")

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of the read ``key``: the shared one; after an action, or when it is older than
        ``2 × ttl``, computed again now (one caller computes, others asking at the same time wait
        for its value); after the minute, the one there is while it is recomputed in the background."""
        if self.ttl <= 0:
            return compute()
        entry = self._entry(key, compute)
        stamp = self._stamp()
        if self._answers_while_recomputed(entry, stamp):
            value = entry.value  # this one, whatever the recomputation does meanwhile
            self._recompute_later(entry, stamp)
            return value  # type: ignore[no-any-return]
        return self._value(entry, stamp)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the background recomputations (process stop)."""
        self._background.shutdown(wait=True, cancel_futures=True)

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

    def _recompute_later(self, entry: _Entry, stamp: Stamp) -> None:
        with self._lock:
            if entry.queued:
                return
            entry.queued = True

        def run() -> None:
            try:
                self._value(entry, stamp)
            except Exception:
                log.exception("recomputing a cached page read failed")
            finally:
                entry.queued = False

        try:
            self._background.submit(run)
        except RuntimeError:  # shut down: the process is stopping
            entry.queued = False

    def _value(self, entry: _Entry, stamp: Stamp) -> Any:
        with entry.lock:
            if not self._fresh(entry, stamp):
                value = entry.compute()
                entry.value, entry.stamp, entry.computed = value, stamp, time.monotonic()
            return entry.value

    def _answers_while_recomputed(self, entry: _Entry, stamp: Stamp) -> bool:
        """Past its minute or ttl, but of this generation and computed less than ``2 × ttl`` ago."""
        return (
            entry.stamp is not None
            and not self._fresh(entry, stamp)
            and entry.stamp[1] == stamp[1]
            and time.monotonic() - entry.computed < 2 * self.ttl
        )

    def _fresh(self, entry: _Entry, stamp: Stamp) -> bool:
        return entry.stamp == stamp and time.monotonic() - entry.computed < self.ttl

    def _stamp(self) -> Stamp:
        with self._engine.connect() as conn:
            generation = tuple(conn.execute(_GENERATION).one())
        return self._clock().replace(second=0, microsecond=0), generation
