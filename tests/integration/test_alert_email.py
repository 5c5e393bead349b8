"""Alert mail through a real SMTP server on loopback (aiosmtpd): the firing and the resolve mail arrive,
with text and HTML parts, and the resolve threads under the firing one; STARTTLS with login and implicit
TLS work against certificates made for the test (trustme)."""

from __future__ import annotations

import email
import email.policy
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import Message as Mail
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerts.channels.base import Message, RetryPolicy
from alerts.channels.email import EmailChannel
from alerts.config import ChannelConfig
from tests.integration.alert_world import T0, make_world
from tests.live_server import free_port


class Inbox:
    """aiosmtpd handler keeping every mail it accepted."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.rcpts: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.rcpts.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextmanager
def smtp_server(**options: Any) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def _email(port: int, **overrides: Any) -> ChannelConfig:
    base = {"name": "email", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
            "starttls": False, "from": "flowwatch@northwind.example",
            "to": ["oncall@northwind.example", "ops@northwind.example"]}  # fmt: skip
    return ChannelConfig.model_validate(base | overrides)


def _parts(mail: Mail) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in mail.walk()  # type: ignore[attr-defined]
            if part.get_content_type() in ("text/plain", "text/html")}  # fmt: skip


def test_firing_and_resolve_mails_arrive_and_the_resolve_threads_under_the_firing_one(tmp_path: Path) -> None:
    with smtp_server() as (inbox, port):
        world = make_world(tmp_path, [_email(port)])
        world.fail_orders(7, T0)
        world.tick(T0)
        world.tick(T0 + timedelta(seconds=30))
        world.resolve_all(T0 + timedelta(minutes=3))
        world.tick(T0 + timedelta(minutes=3))
        world.tick(T0 + timedelta(minutes=5, seconds=30))

    firing, resolved = inbox.mails
    assert inbox.rcpts[0] == ["oncall@northwind.example", "ops@northwind.example"]
    assert firing["Subject"] == resolved["Subject"] == "[Flowwatch] Deliveries failing · shopify d365 orders"
    assert firing["Message-ID"].endswith("@northwind.example>")
    assert resolved["In-Reply-To"] == firing["Message-ID"]
    assert firing["Message-ID"] in resolved["References"].split()
    assert resolved["Message-ID"] != firing["Message-ID"]
    text, html = _parts(firing)["text/plain"], _parts(firing)["text/html"]
    for fact in ("Orders affected: 7", "Value at risk: $91.00", "7 open exceptions holding 7 orders"):
        assert fact in text  # 10 + 11 + … + 16 = 91
    for fact in ("Orders affected", "$91.00", "7 open exceptions holding 7 orders", "SHP-1006"):
        assert fact in html
    assert "http://flowwatch.test/exceptions?flow=shopify-d365-orders" in text
    assert _parts(resolved)["text/plain"].startswith("✅ RESOLVED")
    assert [r["kind"] for r in world.log()] == ["firing", "resolved"]


def _message() -> Message:
    return Message("test", "t", [], "[Flowwatch] TLS check", "hello over TLS\n", "<p>hello over TLS</p>")


def _authenticator(_server: Any, _session: Any, _envelope: Any, mechanism: str, auth: Any) -> AuthResult:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (b"alerts", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _contexts(ca: trustme.CA) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


def test_starttls_with_login(ca: trustme.CA) -> None:
    server_tls, client_tls = _contexts(ca)
    options = {"tls_context": server_tls, "require_starttls": True, "authenticator": _authenticator,
               "auth_require_tls": True}  # fmt: skip
    with smtp_server(**options) as (inbox, port):
        config = _email(port, starttls=True, smtp_user="alerts", smtp_password="s3cret")
        delivered = EmailChannel(config, policy=RetryPolicy(attempts=1), tls=client_tls).deliver(_message(), [])
        wrong = _email(port, starttls=True, smtp_user="alerts", smtp_password="guess")
        refused = EmailChannel(wrong, policy=RetryPolicy(attempts=1), tls=client_tls).deliver(_message(), [])
        untrusted = EmailChannel(config, policy=RetryPolicy(attempts=3, base=0.01)).deliver(_message(), [])
    assert delivered.ok and delivered.ref and delivered.ref["message_id"]
    assert len(inbox.mails) == 1 and _parts(inbox.mails[0])["text/plain"].strip() == "hello over TLS"
    assert not refused.ok and refused.detail.startswith("SMTP 535")
    assert not untrusted.ok and untrusted.attempts == 1 and "certificate" in untrusted.detail


def test_implicit_tls(ca: trustme.CA) -> None:
    server_tls, client_tls = _contexts(ca)
    with smtp_server(ssl_context=server_tls) as (inbox, port):
        config = _email(port, starttls=False, ssl=True)
        delivered = EmailChannel(config, policy=RetryPolicy(attempts=1), tls=client_tls).deliver(_message(), [])
    assert delivered.ok and len(inbox.mails) == 1


def test_a_relay_that_is_down_is_retried_then_reported() -> None:
    config = _email(free_port())
    waits: list[float] = []
    result = EmailChannel(config, policy=RetryPolicy(attempts=3, base=0.5, sleep=waits.append)).deliver(_message(), [])
    assert not result.ok and result.attempts == 3 and waits == [0.5, 1.0]
    assert result.detail.startswith("gave up after 3 attempts: ConnectionRefusedError")
