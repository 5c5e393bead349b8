"""Slack's request signing (v0): ``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` with the
app's signing secret; requests older than 5 minutes are refused, so a captured one cannot be replayed."""

from __future__ import annotations

import hashlib
import hmac

MAX_AGE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` Slack sends for ``body`` at ``timestamp``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def refusal(secret: str, timestamp: str | None, body: bytes, signature: str | None, *, now: float) -> str | None:
    """Why a request is not Slack's (missing headers, stale, wrong signature), or None when it is."""
    if not timestamp or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    try:
        sent = int(timestamp)
    except ValueError:
        return "X-Slack-Request-Timestamp is not a number"
    if abs(now - sent) > MAX_AGE_SECONDS:
        return f"request timestamp is {abs(now - sent):.0f} s away from now (more than 5 minutes): refused"
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        return "signature does not match the signing secret"
    return None
