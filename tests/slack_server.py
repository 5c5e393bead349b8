"""A real HTTP server on loopback speaking the Slack shapes Flowwatch uses: the Web API's
``chat.postMessage`` and ``chat.update`` (``{"ok": true, "channel", "ts"}``, bearer token checked),
incoming webhooks (``ok`` as text) and interactivity ``response_url`` posts. Tests read ``calls``
and can script failures (``fail_next``: e.g. a 429 with ``Retry-After``, or 500s)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "xoxb-test-token"
CHANNEL_ID = "C0FLOWWATCH"


@dataclass(frozen=True)
class Call:
    """One request as it arrived."""

    at: float
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class SlackServer:
    """State of the fake Slack: what it was sent, the messages it holds, the failures to answer with."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts → the latest blocks/text
    fail_next: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    @property
    def webhook(self) -> str:
        return f"{self.url}/services/T000/B000/XXXX"

    def of(self, path: str) -> list[Call]:
        """Calls to one path (``/api/chat.postMessage``…)."""
        with self.lock:
            return [c for c in self.calls if c.path == path]

    def answer(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
        with self.lock:
            self.calls.append(Call(time.monotonic(), path, body, headers))
            if self.fail_next:
                return self.fail_next.pop(0)
            if path.startswith("/api/"):
                if headers.get("authorization") != f"Bearer {TOKEN}":
                    return 200, {}, json.dumps({"ok": False, "error": "invalid_auth"})
                return 200, {}, json.dumps(self._web_api(path.removeprefix("/api/"), body))
            return 200, {}, "ok"

    def _web_api(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            if not body.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            if body.get("thread_ts") and body["thread_ts"] not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            n = next(self._ts)
            ts = f"{1_700_000_000 + n}.{n:06d}"
            if not body.get("thread_ts"):
                self.messages[ts] = {"text": body.get("text"), "blocks": body.get("blocks")}
            return {"ok": True, "channel": CHANNEL_ID, "ts": ts, "message": {"text": body.get("text"), "ts": ts}}
        if method == "chat.update":
            if body.get("ts") not in self.messages or body.get("channel") != CHANNEL_ID:
                return {"ok": False, "error": "message_not_found"}
            self.messages[body["ts"]] = {"text": body.get("text"), "blocks": body.get("blocks")}
            return {"ok": True, "channel": CHANNEL_ID, "ts": body["ts"], "text": body.get("text")}
        return {"ok": False, "error": "unknown_method"}


@contextmanager
def slack_server() -> Iterator[SlackServer]:
    """Run a :class:`SlackServer` on a free loopback port for the block."""
    slack = SlackServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, text = slack.answer(self.path, body, headers)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if text.startswith("{") else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    slack.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="test-slack", daemon=True)
    thread.start()
    try:
        yield slack
    finally:
        server.shutdown()
        server.server_close()
