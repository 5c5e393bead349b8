"""Setting a KPI target: the one action behind ``PUT /api/v1/kpis/targets/{kpi}`` and the scorecard's
Targets section, so both validate alike and both record who changed it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from app.services.errors import InvalidRequest
from models.enums import Direction
from models.queries import kpi_targets as store
from models.store.kpi_targets import KpiTarget
from models.store.toml_files import validation_problems

if TYPE_CHECKING:
    from app.context import AppContext


def set_target(ctx: AppContext, kpi: str, *, target: Any, direction: Any, actor: str) -> dict[str, Any]:
    """Store ``kpi``'s target and direction as ``actor``'s edit (kept over the file's from then on)."""
    if not actor or not str(actor).strip():
        raise InvalidRequest("actor is required: who sets the target")
    try:
        checked = KpiTarget.model_validate({"kpi": kpi, "target": target, "direction": direction})
    except ValidationError as exc:
        raise InvalidRequest(validation_problems(exc, "target")) from None
    with ctx.writer.transaction() as conn:
        previous = store.list_targets(conn).get(checked.kpi)
        origin = previous["origin"] if previous else "api"
        store.save_target(conn, checked.kpi, target=checked.target, direction=Direction(checked.direction),
                          origin=origin, now=ctx.now(), by=str(actor).strip())  # fmt: skip
        return store.list_targets(conn)[checked.kpi]
