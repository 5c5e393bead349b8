"""Number and duration formatting shared by tiles, tables and hover text.

Missing values (None, NaN) become an em dash so a screen never says "nan".
"""

from __future__ import annotations

import math
from typing import Any

DASH = "—"
#: The named ranges (models.queries.common.RANGES) as a sentence says them.
RANGE_LABELS = {"6h": "6 hours", "24h": "24 hours", "7d": "7 days", "30d": "30 days"}


def is_missing(value: Any) -> bool:
    """True for None and NaN (pandas NA included)."""
    if value is None:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def fmt_int(value: Any) -> str:
    """Thousands-separated integer: 1234 → '1,234'."""
    return DASH if is_missing(value) else f"{round(float(value)):,}"


def fmt_hours(value: Any) -> str:
    """Hours with one decimal: 4.23 → '4.2 h'."""
    return DASH if is_missing(value) else f"{float(value):,.1f} h"


def fmt_duration(seconds: Any) -> str:
    """A duration in the unit a person would say: '45 s', '38 min', '4.2 h', '2.1 d'."""
    if is_missing(seconds):
        return DASH
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def fmt_pct(value: Any) -> str:
    """A share 0–1 as a percentage: 0.0432 → '4.3%'; exact zero stays '0%'."""
    if is_missing(value):
        return DASH
    pct = float(value) * 100
    return "0%" if pct == 0 else f"{pct:.1f}%"


def duration_unit(max_seconds: float) -> tuple[str, float]:
    """The axis unit for values up to ``max_seconds``: (label, seconds per unit)."""
    if max_seconds < 2 * 3600:
        return "minutes", 60.0
    if max_seconds <= 72 * 3600:
        return "hours", 3600.0
    return "days", 86400.0


def short_name(system_name: str) -> str:
    """'Dynamics 365 (main ERP)' → 'Dynamics 365': where a legend or a node has no room for qualifiers."""
    return system_name.split(" (")[0]
