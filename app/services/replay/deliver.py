"""Replay, step two: send the claimed messages, one after another at the flow's pace, recording each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from app.services.delivery import Delivery, Pacer, content_type_of, post_http, republish_from_dlq
from app.services.errors import Conflict
from app.services.replay.plan import Claim, Route, route_for
from app.services.replay.record import MessageOutcome, record
from collectors.tls import tls_context

if TYPE_CHECKING:
    from app.context import AppContext
    from app.settings import Settings


def deliver(
    route: Route, subject: dict[str, Any], claim: Claim, *, settings: Settings, client: httpx.Client | None = None
) -> Delivery:
    """Send the claimed body to the route (HTTP with the original event id as Idempotency-Key, or AMQP)."""
    if route.kind == "amqp":
        assert settings.amqp_url is not None  # route_for only picks amqp with a broker
        return republish_from_dlq(
            settings.amqp_url,
            route.address,
            subject["event_id"],
            body=claim.body.encode() if claim.edited else None,
            timeout=settings.replay_timeout_seconds,
        )
    own = client is None
    client = client or httpx.Client(timeout=httpx.Timeout(settings.replay_timeout_seconds), verify=tls_context())
    try:
        return post_http(
            client,
            route.address,
            claim.body,
            idempotency_key=subject["event_id"],
            content_type=content_type_of(subject["payload"]),
        )
    finally:
        if own:
            client.close()


def rate_of(messages: list[dict[str, Any]], settings: Settings) -> float:
    """The pace that protects the target: the slowest flow's own setting, else the default."""
    rates = [float(m["replay_rate_per_second"]) for m in messages if m.get("replay_rate_per_second")]
    return min(rates, default=settings.replay_rate_per_second)


def send(
    ctx: AppContext,
    messages: list[dict[str, Any]],
    claims: list[Claim],
    *,
    actor: str,
    base_url: str | None,
) -> tuple[list[MessageOutcome], bool]:
    """Deliver claimed messages one after another at the flow's pace, recording each; returns the
    outcomes and whether the exception got resolved."""
    pacer = Pacer(rate_of(messages, ctx.settings))
    outcomes, resolved = [], False
    with httpx.Client(timeout=httpx.Timeout(ctx.settings.replay_timeout_seconds), verify=tls_context()) as client:
        for message, claim in zip(messages, claims, strict=True):
            pacer.wait()
            try:
                route = route_for(message, ctx.settings, base_url)
            except Conflict as exc:
                delivery = Delivery(False, "(no target)", "NO-TARGET", str(exc))
            else:
                delivery = deliver(route, message, claim, settings=ctx.settings, client=client)
            outcome, done = record(ctx, message, claim, delivery, actor=actor)
            outcomes.append(outcome)
            resolved = resolved or done
    return outcomes, resolved
