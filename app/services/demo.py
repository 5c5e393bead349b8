"""The demo's incident switch: break or mend a simulated system (one action, for the API and the page)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from app.services.errors import InvalidRequest, NotFound
from models.enums import FaultMode

if TYPE_CHECKING:
    from app.context import AppContext

log = logging.getLogger(__name__)


def switch_fault(
    ctx: AppContext, system: str, mode: str, *, error_rate: float = 1.0, delay_seconds: float | None = None
) -> list[dict[str, Any]]:
    """Set how ``system`` answers — ok, error, timeout or slow — for replays to its /sim endpoints and
    for the live demo traffic touching it; returns every simulated system's state."""
    known = {s.system_id: s.name for s in ctx.flow_config.systems}
    if system not in known:
        raise NotFound(f"unknown system {system!r}; known: {', '.join(sorted(known))}")
    try:
        fault_mode = FaultMode(mode)
    except ValueError as exc:
        raise InvalidRequest(f"unknown mode {mode!r}; expected one of {', '.join(FaultMode)}") from exc
    try:
        ctx.sim.set_fault(system, fault_mode, error_rate=error_rate, delay_seconds=delay_seconds)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    log.warning("demo: %s (%s) switched to %s", known[system], system, fault_mode)
    return ctx.sim.state()
