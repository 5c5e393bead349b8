"""The one interface every channel implements, and the retry policy they share.

Retries use tenacity: 429 waits at least the server's ``Retry-After``; 5xx and transport errors back
off exponentially; anything else is final. Sleeping goes through an injectable function, so tests
can count waits without sleeping (the 429 test really waits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from alerts.config import ChannelType


@dataclass(frozen=True)
class Message:
    """A notification rendered for every channel (each takes what it uses)."""

    kind: str  # firing, update, repeat, resolved, test, digest
    text: str  # Slack fallback text
    blocks: list[dict[str, Any]]
    subject: str
    body_text: str
    body_html: str
    thread_text: str | None = None  # the threaded reply of a state change (Slack bot)


@dataclass(frozen=True)
class Delivery:
    """How one notification went: delivered (with the message's reference) or failed (why)."""

    ok: bool
    detail: str
    attempts: int = 1
    ref: dict[str, Any] | None = None


class Channel(Protocol):
    """A place notifications go. ``thread`` holds the references of what this channel already delivered
    for the same group episode, oldest first (the Slack message to update, the mails to reply under)."""

    name: str
    type: ChannelType
    can_update: bool

    def deliver(self, message: Message, thread: list[dict[str, Any]]) -> Delivery: ...


class Retryable(Exception):
    """A transient failure worth another attempt; ``retry_after`` is what the server asked for."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass
class RetryPolicy:
    """Attempts, exponential backoff (``base`` × 2ⁿ up to ``cap`` seconds) and the sleep to wait with."""

    attempts: int = 4
    base: float = 1.0
    cap: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def wait(self, state: RetryCallState) -> float:
        """The server's Retry-After when it gave one, else the backoff."""
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            return min(float(asked), 300.0)
        return min(self.cap, self.base * 2 ** (state.attempt_number - 1))

    def run(self, attempt: Callable[[], Any]) -> tuple[Any, int, str | None]:
        """Call ``attempt`` until it returns or raises something not :class:`Retryable`; answers
        (result or None, attempts made, the last error or None)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            retry=retry_if_exception_type(Retryable),
            sleep=self.sleep,
            reraise=True,
        )
        made = 0

        def counted() -> Any:
            nonlocal made
            made += 1
            return attempt()

        try:
            return retrying(counted), made, None
        except Retryable as exc:
            return None, made, f"gave up after {made} attempts: {exc}"


class Pacer:
    """At most one message per ``interval`` seconds per key (Slack: one per second per channel)."""

    def __init__(
        self,
        interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval, self._clock, self._sleep = interval, clock, sleep
        self._last: dict[str, float] = {}

    def wait(self, key: str) -> None:
        """Sleep until ``key`` may send again, and take the slot."""
        last = self._last.get(key)
        if last is not None:
            gap = self.interval - (self._clock() - last)
            if gap > 0:
                self._sleep(gap)
        self._last[key] = self._clock()
