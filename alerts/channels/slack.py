"""Slack, two ways, one content.

- :class:`SlackBot` (bot token, Web API): ``chat.postMessage`` for the first notification of a group
  episode, then ``chat.update`` of that same message (its ``channel`` + ``ts`` from the notification
  log) as counts change and when it resolves, each change also as a reply in the message's thread.
- :class:`SlackWebhook` (incoming webhook): the same Block Kit, a new message each time (it cannot
  edit one), so counts changing wait for the repeat; the resolve is a new message.

Both pace at one message per second per channel, honour 429 ``Retry-After`` and retry 5xx.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerts.channels.base import Delivery, Message, Pacer, Retryable, RetryPolicy
from alerts.config import ChannelConfig, ChannelType
from collectors.tls import tls_context

#: Web API errors (HTTP 200, ``ok: false``) that are worth another try.
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackError(Exception):
    """A final refusal (bad token, unknown channel, invalid blocks): retrying will not help."""


def retry_after(response: httpx.Response) -> float:
    """Seconds a 429 asks to wait (``Retry-After`` in seconds; 1 when absent or unreadable)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _post(client: httpx.Client, url: str, what: str, **kwargs: Any) -> httpx.Response:
    """One POST: 429 and 5xx and transport errors are :class:`Retryable`, other 4xx final."""
    try:
        response = client.post(url, **kwargs)
    except httpx.TransportError as exc:
        raise Retryable(f"{what}: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 429:
        raise Retryable(f"{what}: HTTP 429 rate limited", retry_after=retry_after(response))
    if response.status_code >= 500:
        raise Retryable(f"{what}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise SlackError(f"{what}: HTTP {response.status_code}: {response.text[:200]}")
    return response


class SlackBot:
    """A Slack channel through the Web API with a bot token."""

    type = ChannelType.SLACK
    can_update = True

    def __init__(self, config: ChannelConfig, *, policy: RetryPolicy, pacer: Pacer) -> None:
        self.name = config.name
        self.config, self.policy, self.pacer = config, policy, pacer
        self.client = httpx.Client(timeout=config.timeout_seconds, verify=tls_context())

    def call(self, method: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None, int, str | None]:
        """One Web API method with retries: (the answer, attempts, error)."""
        url = f"{self.config.api_base_url.rstrip('/')}/{method}"
        headers = {"Authorization": f"Bearer {self.config.token}"}

        def attempt() -> dict[str, Any]:
            self.pacer.wait(f"{self.config.api_base_url}|{body.get('channel')}")
            response = _post(self.client, url, method, json=body, headers=headers)
            try:
                data = response.json()
            except ValueError as exc:
                raise SlackError(f"{method}: the answer is not JSON: {response.text[:200]}") from exc
            if not data.get("ok"):
                error = str(data.get("error") or "unknown_error")
                if error in TRANSIENT_ERRORS:
                    raise Retryable(f"{method}: {error}")
                raise SlackError(f"{method}: {error}")
            return data

        try:
            return self.policy.run(attempt)
        except SlackError as exc:
            return None, 1, str(exc)

    def deliver(self, message: Message, thread: list[dict[str, Any]]) -> Delivery:
        """Post the first message of an episode; later ones update it and reply in its thread."""
        first = next((r for r in thread if r and r.get("ts")), None)
        body = {"text": message.text, "blocks": message.blocks, "unfurl_links": False}
        if first is None or message.kind in ("firing", "test", "digest"):
            data, attempts, error = self.call("chat.postMessage", {"channel": self.config.channel, **body})
            if data is None:
                return Delivery(False, error or "chat.postMessage failed", attempts)
            ref = {"channel": data.get("channel"), "ts": data.get("ts")}
            return Delivery(True, f"chat.postMessage ts={ref['ts']}", attempts, ref)
        data, attempts, error = self.call("chat.update", {"channel": first["channel"], "ts": first["ts"], **body})
        if data is None:
            return Delivery(False, error or "chat.update failed", attempts, first)
        detail = f"chat.update ts={first['ts']}"
        if message.thread_text:
            reply = {"channel": first["channel"], "thread_ts": first["ts"], "text": message.thread_text}
            answer, more, error = self.call("chat.postMessage", reply)
            attempts += more
            detail += " + thread reply" if answer is not None else f"; thread reply failed: {error}"
        return Delivery(True, detail, attempts, first)


class SlackWebhook:
    """A Slack incoming webhook: Block Kit in, ``ok`` out; it cannot edit what it posted."""

    type = ChannelType.SLACK_WEBHOOK
    can_update = False

    def __init__(self, config: ChannelConfig, *, policy: RetryPolicy, pacer: Pacer) -> None:
        self.name = config.name
        self.config, self.policy, self.pacer = config, policy, pacer
        self.client = httpx.Client(timeout=config.timeout_seconds, verify=tls_context())

    def deliver(self, message: Message, thread: list[dict[str, Any]]) -> Delivery:
        """A new message with the same content as the bot's."""
        url = str(self.config.webhook_url)

        def attempt() -> None:
            self.pacer.wait(url)
            _post(self.client, url, "incoming webhook", json={"text": message.text, "blocks": message.blocks})

        try:
            _, attempts, error = self.policy.run(attempt)
        except SlackError as exc:
            return Delivery(False, str(exc), 1)
        if error is not None:
            return Delivery(False, error, attempts)
        return Delivery(True, "posted to the incoming webhook", attempts, {"webhook": True})
