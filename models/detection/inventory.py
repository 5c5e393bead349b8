"""Inventory gaps: a storefront showing another stock quantity than the warehouse adjusted to (or
nothing since the adjustment), one ``inventory_gap`` exception per storefront flow and SKU@location.

Reads :func:`models.queries.inventory.inventory_gaps`; a gap clears once the storefront shows the
warehouse's latest quantity again (or the key leaves the check's lookback).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.detection.occurrences import DetectionSettings, RuleResult, occurrence_frame
from models.queries.inventory import inventory_gaps

KIND = "inventory_gap"


def _quantity(value: Any) -> str:
    return "nothing" if value is None or pd.isna(value) else f"{float(value):g}"


def _message(gap: dict[str, Any]) -> str:
    when = pd.Timestamp(gap["adjusted_at"]).strftime("%H:%M")
    if gap["published_at"] is None or pd.isna(gap["published_at"]) or gap["published_at"] < gap["adjusted_at"]:
        return f"{gap['target']} got no stock update for {gap['key']} since the WMS adjusted it to " \
               f"{_quantity(gap['on_hand'])} at {when}"  # fmt: skip
    return f"{gap['target']} shows {_quantity(gap['available'])} of {gap['key']}; the WMS has " \
           f"{_quantity(gap['on_hand'])} since {when}"  # fmt: skip


def inventory_rule(conn: Connection, *, now: datetime, settings: DetectionSettings) -> list[RuleResult]:
    """One occurrence per (storefront flow, key) whose stock differs from the warehouse's."""
    rows = [
        {"kind": KIND, "flow_id": g["flow_id"], "key": g["key"], "system_id": g["target"], "error_class": g["check_id"],
         "message": _message(g), "event_id": None, "at": pd.Timestamp(g["due_at"]), "correlation_id": g["key"]}
        for g in inventory_gaps(conn, now=now).to_dict("records")
    ]  # fmt: skip
    return [
        RuleResult(
            "inventory",
            occurrence_frame(rows),
            lambda x: x["kind"] == KIND,
            "The storefront shows the warehouse's quantity again",
        )
    ]
