"""Reconciliation: orders compared key by key across the systems' stages, per day and channel.

Counts alone hide a dropped order behind a new one; keys do not. Each key enters the funnel with
its first-stage event (the storefront's ``order.created``, any status: the storefront has the
order even when its delivery failed) and reaches a later stage with that stage's first ok event.
At a stage, a key is

* **reached** when it has the stage's event,
* **missing** when it reached the stage before more than the stage's grace ago and has not this one,
* **pending** when it reached the stage before within the grace (still in flight),
* **excluded** when it has one of the stage's ``unless`` events (cancelled, on hold).

The stages are configuration (``reconciliation_stages``, synced from the expectations file).
The day is the key's first-stage day (UTC); the channel is the first-stage event's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.queries.common import read_frame
from models.store.dialect import first_by

#: Columns of a funnel row and of a gap row.
FUNNEL_COLUMNS = ("day", "channel", "position", "stage", "label", "reached", "missing", "pending", "excluded")
GAP_COLUMNS = ("day", "channel", "position", "stage", "label", "correlation_id", "previous_at", "due_at",
               "source_event_id", "source_flow_id", "replay")  # fmt: skip


@dataclass(frozen=True)
class Stage:
    """One stage of the funnel as configured."""

    position: int
    stage: str
    label: str
    event: str
    grace: timedelta
    replay: bool
    unless: tuple[str, ...]


@dataclass(frozen=True)
class Reconciliation:
    """The funnel per day, channel and stage, and every missing key."""

    stages: tuple[Stage, ...]
    funnel: pd.DataFrame
    gaps: pd.DataFrame


def stages(conn: Connection) -> tuple[Stage, ...]:
    """The configured stages in funnel order."""
    rows = read_frame(conn, "SELECT * FROM reconciliation_stages ORDER BY position").to_dict("records")
    return tuple(
        Stage(int(r["position"]), str(r["stage"]), str(r["label"]), str(r["event"]),
              timedelta(seconds=int(r["grace_seconds"])), bool(r["replay"]),
              tuple(json.loads(r["unless_events"] or "[]")))
        for r in rows
    )  # fmt: skip


def _keys(conn: Connection, config: tuple[Stage, ...], *, since: datetime, until: datetime, now: datetime,
          channel: str | None) -> pd.DataFrame:  # fmt: skip
    """One row per key whose first first-stage event happened in ``[since, until)``, as received by
    ``now``: when (``at_<i>``) it reached each stage ``i`` with which event (``event_<i>``, ``flow_<i>``;
    the first stage's first event of any status, the others' first ok one), its ``channel`` (the first
    stage event's), and whether it has one of stage ``i``'s ok ``unless`` events (``unless_<i>``).

    The database pivots the events to their keys: at 10M events a week's keys have ~2M events, which
    took seconds to hand to pandas and sort there."""
    first = "e.event_type = :stage_0"
    params: dict[str, Any] = {"stage_0": config[0].event, "since": since, "until": until, "now": now,
                              "channel": channel}  # fmt: skip
    columns = [
        f"min(e.occurred_at) FILTER (WHERE {first}) AS at_0",
        f"{first_by(conn, 'e.event_id', 'e.occurred_at', first)} AS event_0",
        f"{first_by(conn, 'e.flow_id', 'e.occurred_at', first)} AS flow_0",
        f"{first_by(conn, 'e.channel', 'e.occurred_at', first)} AS channel",
    ]
    later: list[str] = []
    for i, stage in enumerate(config[1:], start=1):
        params[f"stage_{i}"] = stage.event
        reached = f"e.status = 'ok' AND e.event_type = :stage_{i}"
        names = [f":unless_{i}_{j}" for j in range(len(stage.unless))]
        params |= {name[1:]: event for name, event in zip(names, stage.unless, strict=True)}
        held = f"e.status = 'ok' AND e.event_type IN ({', '.join(names)})" if names else "FALSE"
        columns += [
            f"min(e.occurred_at) FILTER (WHERE {reached}) AS at_{i}",
            f"{first_by(conn, 'e.event_id', 'e.occurred_at', reached)} AS event_{i}",
            f"{first_by(conn, 'e.flow_id', 'e.occurred_at', reached)} AS flow_{i}",
            f"coalesce(bool_or({held}), FALSE) AS unless_{i}",
        ]
        later += [f":stage_{i}", *names]
    only_channel = "AND channel = :channel" if channel else ""
    wanted = f"{first} OR (e.status = 'ok' AND e.event_type IN ({', '.join(later)}))" if later else first
    return read_frame(
        conn,
        f"""
        WITH base AS (
            SELECT DISTINCT correlation_id FROM business_events
            WHERE event_type = :stage_0 AND occurred_at >= :since AND occurred_at < :until AND received_at <= :now
              {only_channel}
        )
        SELECT e.correlation_id, {", ".join(columns)}
        FROM business_events e
        WHERE e.correlation_id IN (SELECT correlation_id FROM base) AND e.received_at <= :now AND ({wanted})
        GROUP BY e.correlation_id
        HAVING min(e.occurred_at) FILTER (WHERE {first}) >= :since
           AND min(e.occurred_at) FILTER (WHERE {first}) < :until
        """,
        params,
    ).set_index("correlation_id")


def reconcile(
    conn: Connection, *, since: datetime, until: datetime, now: datetime, channel: str | None = None
) -> Reconciliation:
    """The funnel of the keys whose first stage happened in ``[since, until)``, as known at ``now``."""
    config = stages(conn)
    if not config:
        return Reconciliation((), pd.DataFrame(columns=FUNNEL_COLUMNS), pd.DataFrame(columns=GAP_COLUMNS))
    keys = _keys(conn, config, since=since, until=until, now=now, channel=channel)
    day = pd.to_datetime(keys["at_0"]).dt.normalize()
    frame = pd.DataFrame({"day": day, "channel": keys["channel"].fillna("unknown")}, index=keys.index)
    prev_at = pd.to_datetime(keys["at_0"])
    prev_event, prev_flow = keys["event_0"], keys["flow_0"]
    funnel_parts, gap_parts = [], []
    for i, stage in enumerate(config):
        if i == 0:
            reached = pd.Series(True, index=keys.index)
            at, missing, pending, excluded = prev_at, ~reached, ~reached, ~reached
        else:
            at = pd.to_datetime(keys[f"at_{i}"])
            reached = at.notna()
            excluded = ~reached & keys[f"unless_{i}"].astype(bool)
            waiting = ~reached & ~excluded & prev_at.notna()
            due = prev_at + stage.grace
            missing = waiting & (due <= now)
            pending = waiting & (due > now)
            gaps = frame[missing].assign(
                position=stage.position, stage=stage.stage, label=stage.label, correlation_id=keys.index[missing],
                previous_at=prev_at[missing], due_at=due[missing], source_event_id=prev_event[missing],
                source_flow_id=prev_flow[missing], replay=stage.replay,
            )  # fmt: skip
            gap_parts.append(gaps)
            prev_event, prev_flow, prev_at = keys[f"event_{i}"], keys[f"flow_{i}"], at
        counts = frame.assign(reached=reached, missing=missing, pending=pending, excluded=excluded)
        grouped = counts.groupby(["day", "channel"], sort=True)[["reached", "missing", "pending", "excluded"]].sum()
        funnel_parts.append(grouped.reset_index().assign(position=stage.position, stage=stage.stage,
                                                         label=stage.label))  # fmt: skip
    funnel = pd.concat(funnel_parts, ignore_index=True) if funnel_parts else pd.DataFrame(columns=FUNNEL_COLUMNS)
    funnel = funnel[list(FUNNEL_COLUMNS)].sort_values(["day", "channel", "position"], ignore_index=True)
    for column in ("reached", "missing", "pending", "excluded"):
        funnel[column] = funnel[column].astype(int)
    gaps_frame = pd.concat(gap_parts, ignore_index=True) if gap_parts else pd.DataFrame(columns=GAP_COLUMNS)
    gaps_frame = gaps_frame[list(GAP_COLUMNS)].sort_values(["day", "channel", "position", "correlation_id"],
                                                           ignore_index=True)  # fmt: skip
    return Reconciliation(config, funnel, gaps_frame)


def as_json(result: Reconciliation) -> dict[str, Any]:
    """The reconciliation as plain JSON-able rows (what the API answers and the page stores nothing of)."""

    def plain(value: Any) -> Any:
        if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
            return None
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
        return value.item() if hasattr(value, "item") else value

    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]

    return {
        "stages": [{"position": s.position, "stage": s.stage, "label": s.label, "event": s.event,
                    "grace_minutes": int(s.grace.total_seconds() // 60), "replay": s.replay,
                    "unless": list(s.unless)} for s in result.stages],
        "funnel": records(result.funnel),
        "gaps": records(result.gaps),
    }  # fmt: skip
