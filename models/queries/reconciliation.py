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
from models.store.dialect import in_list

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


def _events(conn: Connection, config: tuple[Stage, ...], *, since: datetime, until: datetime, now: datetime,
            channel: str | None) -> pd.DataFrame:  # fmt: skip
    """Every event of the window's keys that a stage or an ``unless`` names: the first stage's of any
    status, the others' ok ones, all received by ``now``."""
    later = sorted({s.event for s in config[1:]} | {e for s in config for e in s.unless})
    only_channel = "AND channel = :channel" if channel else ""
    return read_frame(
        conn,
        f"""
        WITH base AS (
            SELECT DISTINCT correlation_id FROM business_events
            WHERE event_type = :first AND occurred_at >= :since AND occurred_at < :until AND received_at <= :now
              {only_channel}
        )
        SELECT e.correlation_id, e.event_type, e.status, e.occurred_at, e.event_id, e.flow_id, e.channel
        FROM business_events e
        WHERE e.correlation_id IN (SELECT correlation_id FROM base) AND e.received_at <= :now
          AND (e.event_type = :first OR (e.status = 'ok' AND {in_list(conn, "e.event_type", "later")}))
        """,
        {"first": config[0].event, "since": since, "until": until, "now": now, "later": later or [""],
         "channel": channel},
    )  # fmt: skip


def reconcile(
    conn: Connection, *, since: datetime, until: datetime, now: datetime, channel: str | None = None
) -> Reconciliation:
    """The funnel of the keys whose first stage happened in ``[since, until)``, as known at ``now``."""
    config = stages(conn)
    if not config:
        return Reconciliation((), pd.DataFrame(columns=FUNNEL_COLUMNS), pd.DataFrame(columns=GAP_COLUMNS))
    events = _events(conn, config, since=since, until=until, now=now, channel=channel)
    events = events.sort_values(["occurred_at", "event_id"], kind="stable")
    # First-stage attempts may fall before ``since`` for a key also seen after: the key's first one decides.
    first = events[events["event_type"] == config[0].event].drop_duplicates("correlation_id")
    first = first[(first["occurred_at"] >= since) & (first["occurred_at"] < until)]
    keys = first.set_index("correlation_id")
    oks = events[events["status"] == "ok"].drop_duplicates(["correlation_id", "event_type"])
    reached_at = {etype: grp.set_index("correlation_id") for etype, grp in oks.groupby("event_type")}

    day = pd.to_datetime(keys["occurred_at"]).dt.normalize()
    frame = pd.DataFrame({"day": day, "channel": keys["channel"].fillna("unknown")}, index=keys.index)
    prev_at = pd.to_datetime(keys["occurred_at"])
    prev_event = keys["event_id"]
    prev_flow = keys["flow_id"]
    funnel_parts, gap_parts = [], []
    for stage in config:
        if stage.position == 0:
            reached = pd.Series(True, index=keys.index)
            at, missing, pending, excluded = prev_at, ~reached, ~reached, ~reached
        else:
            hit = reached_at.get(stage.event)
            at = pd.to_datetime(hit["occurred_at"]).reindex(keys.index) if hit is not None else pd.Series(
                pd.NaT, index=keys.index)  # fmt: skip
            reached = at.notna()
            held = events.loc[events["event_type"].isin(stage.unless), "correlation_id"]
            excluded = ~reached & pd.Series(keys.index.isin(held), index=keys.index)
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
            if hit is not None:
                prev_event = hit["event_id"].reindex(keys.index)
                prev_flow = hit["flow_id"].reindex(keys.index)
            else:
                prev_event = pd.Series(None, index=keys.index, dtype=object)
                prev_flow = pd.Series(None, index=keys.index, dtype=object)
            prev_at = at
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
