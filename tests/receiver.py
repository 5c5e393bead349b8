"""A real HTTP replay target on loopback: answers as told and counts what it took.

It behaves like a downstream system that honours ``Idempotency-Key``: a key it has taken
is answered 200 as a duplicate and never delivered twice. Tests read ``posts`` (every
request, with its arrival time) and ``delivered`` (distinct keys taken, with the body).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Post:
    """One request as it arrived."""

    at: float
    key: str | None
    content_type: str | None
    body: bytes


@dataclass
class Receiver:
    """State and switches of the target; ``mode`` is ok, error (500) or slow (sleeps, then ok)."""

    url: str = ""
    mode: str = "ok"
    slow_seconds: float = 2.0
    fail_if: Callable[[str | None], bool] = lambda _key: False  # deterministic failures by key
    posts: list[Post] = field(default_factory=list)
    delivered: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, post: Post) -> tuple[int, bytes]:
        """Record the request and decide the answer."""
        with self.lock:
            self.posts.append(post)
            mode = self.mode
        if mode == "slow":
            time.sleep(self.slow_seconds)
        if mode == "error" or self.fail_if(post.key):
            return 500, b'{"error": "target failed (test)"}'
        with self.lock:
            if post.key is not None and post.key in self.delivered:
                return 200, b'{"duplicate": true}'
            self.delivered[post.key or f"no-key-{len(self.posts)}"] = post.body
        return 201, b'{"duplicate": false}'

    @property
    def keys_posted(self) -> list[str | None]:
        with self.lock:
            return [p.key for p in self.posts]


@contextmanager
def receiving(**options: object) -> Iterator[Receiver]:
    """Run a :class:`Receiver` on a free loopback port for the block."""
    receiver = Receiver(**options)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once, no delayed-ACK stalls

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            post = Post(
                time.monotonic(),
                self.headers.get("Idempotency-Key"),
                self.headers.get("Content-Type"),
                self.rfile.read(length),
            )
            status, body = receiver.answer(post)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="test-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
