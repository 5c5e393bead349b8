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


def fmt_money(value: Any) -> str:
    """Whole dollars: 48210.5 → '$48,211'."""
    return DASH if is_missing(value) else f"${round(float(value)):,}"


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


def fmt_unit(unit: str, value: Any) -> str:
    """A KPI value in its metric's unit: ``hours`` and ``seconds`` as durations, ``ratio`` as a
    percentage, ``orders`` as a count."""
    if is_missing(value):
        return DASH
    v = float(value)
    if unit == "hours":
        return fmt_duration(v * 3600)
    if unit == "seconds":
        return fmt_duration(v)
    if unit == "ratio":
        return fmt_pct(v)
    if unit == "orders":
        return fmt_int(v)
    return f"{v:,.2f}"


#: How a column's duration unit is written in its header.
UNIT_SHORT = {"minutes": "min", "hours": "h", "days": "d"}


def fmt_in_unit(seconds: Any, per: float) -> str:
    """A duration as a plain number in one column's unit (``per`` seconds), so a column never mixes
    minutes, hours and days: two decimals below 1, one below 100, none above."""
    if is_missing(seconds):
        return DASH
    v = float(seconds) / per
    if 0 < v < 0.005:
        return "<0.01"  # not "0.00": something is there, just small in this column's unit
    return f"{v:,.2f}" if v < 1 else f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def column_unit(seconds: Any) -> tuple[str, float]:
    """One unit for a column of durations (by its largest): (header short name, seconds per unit)."""
    values = [float(v) for v in seconds if not is_missing(v)]
    word, per = duration_unit(max(values, default=0.0))
    return UNIT_SHORT[word], per


def short_name(system_name: str) -> str:
    """'Dynamics 365 (main ERP)' → 'Dynamics 365': where a legend or a node has no room for qualifiers."""
    return system_name.split(" (")[0]
