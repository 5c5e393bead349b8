"""Reconciliation gaps: keys a stage of the funnel never got, as exceptions.

Every detection pass reconciles the last ``reconciliation_days`` days (UTC, today included) with
:func:`models.queries.reconciliation.reconcile` and opens one ``reconciliation_gap`` exception per
stage and day (``reconciliation_gap:{flow}:{stage}/{day}``) listing the missing keys. Where the
stage is replayable (its system should have received the previous stage's message, e.g. the
ERP the storefront's order), the exception is per source flow and keeps each key's source message,
so a replay re-sends it; a key that reaches the stage drops off (its message counts as delivered).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.detection.occurrences import DetectionSettings, RuleResult, duration_text, occurrence_frame
from models.queries.reconciliation import reconcile

KIND = "reconciliation_gap"


def _day_of(key: object) -> str:
    return str(key or "").rpartition("/")[2]


def reconciliation_gaps(conn: Connection, *, now: datetime, settings: DetectionSettings) -> list[RuleResult]:
    """The missing keys of each stage over the last ``reconciliation_days`` days."""
    midnight = datetime(now.year, now.month, now.day)
    since = midnight - timedelta(days=settings.reconciliation_days - 1)
    result = reconcile(conn, since=since, until=now, now=now)
    gaps = result.gaps
    previous = {s.position: s.label for s in result.stages}
    rows: list[dict[str, object]] = []
    for gap in gaps.to_dict("records"):
        day = pd.Timestamp(gap["day"]).strftime("%Y-%m-%d")
        stage = next(s for s in result.stages if s.position == gap["position"])
        rows.append({
            "kind": KIND, "flow_id": gap["source_flow_id"] if stage.replay else None,
            "key": f"{stage.stage}/{day}", "system_id": None, "error_class": stage.stage,
            "message": f"{stage.label}: missing {duration_text(stage.grace.total_seconds())} after "
                       f"{previous[stage.position - 1]}",
            "event_id": gap["source_event_id"] if stage.replay else None, "at": pd.Timestamp(gap["due_at"]),
            "correlation_id": gap["correlation_id"], "replay": stage.replay,
        })  # fmt: skip
    frame = pd.DataFrame(rows, columns=[*occurrence_frame([]).columns, "replay"])
    replayable = {s.stage for s in result.stages if s.replay}
    first_day = since.strftime("%Y-%m-%d")

    def owns(replay: bool) -> Any:
        def test(x: dict[str, Any]) -> bool:
            return (
                x["kind"] == KIND
                and _day_of(x["business_key"]) >= first_day  # older days are no longer reconciled: left as they are
                and (str(x["error_class"]) in replayable) == replay
            )

        return test

    return [
        RuleResult("reconciliation_replayable", occurrence_frame(frame[frame["replay"] == True]),  # noqa: E712
                   owns(True), "Every missing key reached the stage", carries_messages=True),
        RuleResult("reconciliation", occurrence_frame(frame[frame["replay"] != True]),  # noqa: E712
                   owns(False), "Every missing key reached the stage"),
    ]  # fmt: skip
