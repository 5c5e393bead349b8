"""Silent non-events: the expected next event of a key that never came.

No error log shows an order the ERP never accepted or an ASN the supplier never sent: the
failure is an absence. Each configured expectation (``expected_events``, synced from
``models/store/default_expectations.toml`` or the customer's file) says which ok event must
follow which, and by when: a fixed time after the start, or the next daily cut-off. Keys past
their deadline with no ok expected event are the occurrences; one exception per expectation
and cause (``missing_event:{flow}:{expectation}/{cause}``) lists them:

| cause | meaning |
| --- | --- |
| silent | nothing at all arrived for the expected event |
| failing | attempts arrived, none delivered (the failure rules carry the messages) |

A key with one of the expectation's ``unless`` events (cancelled, on hold) is left alone; one
whose expected event arrives, however late, drops off the list.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.detection.occurrences import DetectionSettings, RuleResult, duration_text, occurrence_frame
from models.queries.common import read_frame
from models.store.dialect import in_list

KIND = "missing_event"
CAUSES = ("silent", "failing")


def deadline(start: datetime, *, within_seconds: int | None, cutoff: str | None, lead_seconds: int) -> datetime:
    """When the expected event is due for a start at ``start``: ``within_seconds`` after it, or the
    first daily ``cutoff`` (HH:MM UTC) at least ``lead_seconds`` after it."""
    if within_seconds is not None:
        return start + timedelta(seconds=within_seconds)
    if cutoff is None:
        raise ValueError("an expectation needs within_seconds or a cutoff")
    hours, minutes = (int(part) for part in cutoff.split(":"))
    due = datetime.combine(start.date(), time(hours, minutes))
    if start > due - timedelta(seconds=lead_seconds):
        due += timedelta(days=1)
    return due


def _candidates(conn: Connection, exp: dict[str, Any], *, now: datetime, since: datetime) -> pd.DataFrame:
    """Keys with an ok start in ``(since, now]`` and no ok expected event received by ``now``,
    with how many attempts of it arrived."""
    where, params = [], {"after": exp["after_event"], "expect": exp["expect_event"], "now": now, "since": since}
    for column in ("after_source", "after_target"):
        if exp[column] is not None:
            where.append(f"AND {column.removeprefix('after_')} = :{column}")
            params[column] = exp[column]
    unless = json.loads(exp["unless_events"] or "[]")
    left_alone = ""
    if unless:
        params["unless"] = unless
        left_alone = f"""AND NOT EXISTS (SELECT 1 FROM business_events u WHERE u.correlation_id = s.correlation_id
                                           AND u.received_at <= :now AND {in_list(conn, "u.event_type", "unless")})"""
    return read_frame(
        conn,
        f"""
        WITH s AS (
            SELECT correlation_id, min(occurred_at) AS start_at
            FROM business_events
            WHERE event_type = :after AND status = 'ok' AND occurred_at > :since AND occurred_at <= :now
              {" ".join(where)}
            GROUP BY correlation_id
        ),
        e AS (
            SELECT correlation_id, count(*) AS attempts,
                   max(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) AS delivered
            FROM business_events
            WHERE event_type = :expect AND received_at <= :now AND correlation_id IN (SELECT correlation_id FROM s)
            GROUP BY correlation_id
        )
        SELECT s.correlation_id, s.start_at, coalesce(e.attempts, 0) AS attempts
        FROM s LEFT JOIN e ON e.correlation_id = s.correlation_id
        WHERE coalesce(e.delivered, 0) = 0 {left_alone}
        ORDER BY s.correlation_id
        """,
        params,
    )


def _promise(exp: dict[str, Any]) -> str:
    """``within 15 min of order.created`` / ``by the 14:00 cut-off``: the deadline as people say it."""
    if exp["within_seconds"] is not None:
        return f"within {duration_text(exp['within_seconds'])} of {exp['after_event']}"
    return f"by the {exp['cutoff']} UTC cut-off after {exp['after_event']}"


def silent_non_events(conn: Connection, *, now: datetime, settings: DetectionSettings) -> list[RuleResult]:
    """Per configured expectation: keys past their deadline with no ok expected event."""
    expectations = read_frame(conn, "SELECT * FROM expected_events ORDER BY expectation_id").to_dict("records")
    since = now - settings.expectation_lookback
    rows: list[dict[str, object]] = []
    for raw in expectations:
        exp: dict[str, Any] = {
            k: None if v is None or (isinstance(v, float) and pd.isna(v)) else v for k, v in raw.items()
        }
        for column in ("within_seconds", "cutoff_lead_seconds"):
            exp[column] = None if exp[column] is None else int(exp[column])
        found = _candidates(conn, exp, now=now, since=since)
        for key, start, attempts in zip(found["correlation_id"], found["start_at"], found["attempts"], strict=True):
            due = deadline(
                pd.Timestamp(start).to_pydatetime(),
                within_seconds=exp["within_seconds"],
                cutoff=exp["cutoff"],
                lead_seconds=exp["cutoff_lead_seconds"] or 0,
            )
            if due > now:
                continue
            cause = "failing" if int(attempts) else "silent"
            what = "only failed attempts" if attempts else "nothing received"
            rows.append({
                "kind": KIND, "flow_id": exp["flow_id"], "key": f"{exp['expectation_id']}/{cause}",
                "system_id": exp["system_id"], "error_class": exp["expectation_id"],
                "message": f"{exp['name']}: {what} ({exp['expect_event']} {_promise(exp)})",
                "event_id": None, "at": pd.Timestamp(due), "correlation_id": key,
            })  # fmt: skip
    configured = {str(e["expectation_id"]) for e in expectations}

    def owns(x: dict[str, Any]) -> bool:
        return x["kind"] == KIND and str(x["business_key"] or "").split("/")[0] in configured

    return [RuleResult("silent_non_events", occurrence_frame(rows), owns, "The expected event arrived for every order")]
