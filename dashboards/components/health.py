"""Health of a flow against its SLA: one rule for tiles, tables and charts."""

from __future__ import annotations

from typing import Any

from dashboards.components.format import is_missing

#: p95 at or above this share of the SLA is a warning: the flow is about to breach.
WARNING_SHARE = 0.8


def flow_health(p95_seconds: Any, sla_seconds: Any) -> str:
    """ok / warning (p95 within 80–100% of SLA) / breach (p95 over SLA) / idle (no steps)."""
    if is_missing(p95_seconds) or is_missing(sla_seconds) or not sla_seconds:
        return "idle"
    ratio = float(p95_seconds) / float(sla_seconds)
    if ratio > 1:
        return "breach"
    return "warning" if ratio >= WARNING_SHARE else "ok"
