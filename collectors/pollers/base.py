"""What every queue poller shares: its config fields, its errors and the HTTP fetch."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from collectors.queue_metrics import QueueSample
from collectors.tls import tls_context

#: Poller names become job ids (``poll:<name>``) and metric labels: keep them plain.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
HttpUrl = Annotated[str, Field(pattern=r"^https?://\S+$")]


class PollError(Exception):
    """The broker could not be polled; the message says where and why (no secrets)."""


class PartialPoll(PollError):
    """Some queues were sampled, others not: keep ``samples``, report the rest."""

    def __init__(self, message: str, samples: list[QueueSample]) -> None:
        super().__init__(message)
        self.samples = samples


class PollerBase(BaseModel):
    """Fields of every ``[[pollers]]`` entry; each kind adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
    interval_seconds: Annotated[float, Field(ge=1, le=3600)] = 30.0
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5.0


def fetch(
    url: str,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """GET ``url``; any transport error or non-2xx answer becomes a ``PollError``."""
    try:
        response = httpx.get(url, timeout=timeout, headers=headers, auth=auth, params=params, verify=tls_context())
    except httpx.HTTPError as exc:
        raise PollError(f"GET {url} failed: {type(exc).__name__}: {exc}") from None
    if response.is_error:
        raise PollError(f"GET {url} answered {response.status_code} {response.reason_phrase}")
    return response


def json_body(response: httpx.Response) -> Any:
    """The response as JSON, or a ``PollError`` naming the URL."""
    try:
        return response.json()
    except ValueError as exc:
        raise PollError(f"GET {response.request.url} did not answer JSON: {exc}") from None
