"""What the workbench's panels share: the filters, the replay base URL, the open id."""

from __future__ import annotations

from typing import Any

import flask

from app.context import AppContext
from app.services import replay

FILTERS = ("status", "kind", "flow", "system", "severity", "age", "assignee", "q", "snoozed", "tier", "min")
#: Buttons that change what an operator sees of a message downstream: asked twice.
CONFIRMED = ("resolve", "ignore")


def replay_url(ctx: AppContext) -> str:
    return replay.replay_base_url(ctx.settings, flask.request.host_url)


def exception_id_of(raw: Any) -> int | None:
    return int(raw) if str(raw or "").isdigit() else None
