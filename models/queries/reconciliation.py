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

import numpy as np
import pandas as pd
import sqlalchemy as sa
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
    ``now``: when (``at_<i>``) it reached each stage ``i`` (the first stage's first event of any
    status, the others' first ok one), its ``channel`` (the first stage event's), and whether it has
    one of stage ``i``'s ok ``unless`` events (``unless_<i>``).

    The database pivots the events to their keys (at 10M events a week's keys have ~1.5M events,
    which took seconds to hand to pandas and sort there), from the period's start: a key's later
    stages come after its first. Which event reached a stage is looked up for the gaps alone
    (:func:`_sources`)."""
    first = "e.event_type = :stage_0"
    params: dict[str, Any] = {"stage_0": config[0].event, "since": since, "until": until, "now": now,
                              "channel": channel}  # fmt: skip
    columns = [
        f"min(e.occurred_at) FILTER (WHERE {first}) AS at_0",
        f"{first_by(conn, 'e.channel', 'e.occurred_at', first)} AS channel",
    ]
    later: list[str] = []
    for i, stage in enumerate(config[1:], start=1):
        params[f"stage_{i}"] = stage.event
        names = [f":unless_{i}_{j}" for j in range(len(stage.unless))]
        params |= {name[1:]: event for name, event in zip(names, stage.unless, strict=True)}
        held = f"e.status = 'ok' AND e.event_type IN ({', '.join(names)})" if names else "FALSE"
        columns += [
            f"min(e.occurred_at) FILTER (WHERE e.status = 'ok' AND e.event_type = :stage_{i}) AS at_{i}",
            f"coalesce(bool_or({held}), FALSE) AS unless_{i}",
        ]
        later += [f":stage_{i}", *names]
    only_channel = "AND k.channel = :channel" if channel else ""
    wanted = f"{first} OR (e.status = 'ok' AND e.event_type IN ({', '.join(later)}))" if later else first
    return read_frame(
        conn,
        f"""
        WITH per_key AS (
            SELECT e.correlation_id, {", ".join(columns)}
            FROM business_events e
            WHERE e.occurred_at >= :since AND e.received_at <= :now AND ({wanted})
            GROUP BY e.correlation_id
        )
        SELECT * FROM per_key k
        WHERE k.at_0 < :until {only_channel}
          AND NOT EXISTS (
            SELECT 1 FROM business_events x
            WHERE x.correlation_id = k.correlation_id AND x.event_type = :stage_0 AND x.occurred_at < :since
              AND x.received_at <= :now
          )
        """,
        params,
    ).set_index("correlation_id")


def _sources(conn: Connection, config: tuple[Stage, ...], gaps: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """``gaps`` (``index``: of the gap's stage in ``config``) with the message that reached the stage
    before (``source_event_id``, ``source_flow_id``): the first stage's first event of any status, a
    later stage's first ok one."""
    if gaps.empty:
        return gaps.assign(source_event_id=None, source_flow_id=None)
    # Each key through the correlation-id index (a bound list joined as a relation scans the table).
    statement = sa.text(
        """
        SELECT correlation_id, event_type, status, occurred_at, event_id, flow_id FROM business_events
        WHERE correlation_id IN :keys AND received_at <= :now
        """
    ).bindparams(sa.bindparam("keys", expanding=True))
    events = read_frame(conn, statement, {"keys": sorted(set(gaps["correlation_id"])), "now": now})
    events = events.sort_values(["occurred_at", "event_id"], kind="stable")
    found: dict[tuple[str, int], tuple[Any, Any]] = {}
    for i, stage in enumerate(config):
        hits = events[(events["event_type"] == stage.event) & ((events["status"] == "ok") | (i == 0))]
        for row in hits.drop_duplicates("correlation_id").itertuples():
            found[row.correlation_id, i] = (row.event_id, row.flow_id)
    previous = [found.get((key, i - 1), (None, None))
                for key, i in zip(gaps["correlation_id"], gaps["index"], strict=True)]  # fmt: skip
    return gaps.assign(source_event_id=[p[0] for p in previous], source_flow_id=[p[1] for p in previous])


def reconcile(
    conn: Connection, *, since: datetime, until: datetime, now: datetime, channel: str | None = None
) -> Reconciliation:
    """The funnel of the keys whose first stage happened in ``[since, until)``, as known at ``now``."""
    config = stages(conn)
    if not config:
        return Reconciliation((), pd.DataFrame(columns=FUNNEL_COLUMNS), pd.DataFrame(columns=GAP_COLUMNS))
    keys = _keys(conn, config, since=since, until=until, now=now, channel=channel)
    # Plain arrays per key (no index alignment: at 10M events a week holds ~360k keys), and each
    # stage's counts per (day, channel) by one bincount over the keys' group numbers.
    ids = keys.index.to_numpy()
    first_at = pd.to_datetime(keys["at_0"])
    days = first_at.dt.normalize().to_numpy()
    groups = pd.DataFrame({"day": days, "channel": keys["channel"].fillna("unknown").to_numpy()}).groupby(
        ["day", "channel"]
    )
    group_of, cells = groups.ngroup().to_numpy(), groups.size().index
    prev_at = first_at.to_numpy()
    funnel_parts, gap_parts = [], []
    for i, stage in enumerate(config):
        if i == 0:
            reached = np.ones(len(ids), dtype=bool)
            missing = pending = excluded = ~reached
        else:
            at = pd.to_datetime(keys[f"at_{i}"]).to_numpy()
            reached = ~np.isnat(at)
            excluded = ~reached & keys[f"unless_{i}"].to_numpy(dtype=bool)
            waiting = ~reached & ~excluded & ~np.isnat(prev_at)
            due = prev_at + np.timedelta64(stage.grace)
            missing = waiting & (due <= np.datetime64(now))
            pending = waiting & ~missing
            gap_parts.append(pd.DataFrame({
                "day": cells[group_of[missing]].get_level_values("day"),
                "channel": cells[group_of[missing]].get_level_values("channel"),
                "index": i, "position": stage.position, "stage": stage.stage, "label": stage.label,
                "correlation_id": ids[missing], "previous_at": prev_at[missing], "due_at": due[missing],
                "replay": stage.replay,
            }))  # fmt: skip
            prev_at = at
        counts = {name: np.bincount(group_of, weights=mask, minlength=len(cells)).astype(int)
                  for name, mask in (("reached", reached), ("missing", missing), ("pending", pending),
                                     ("excluded", excluded))}  # fmt: skip
        where = {"day": cells.get_level_values("day"), "channel": cells.get_level_values("channel")}
        labels = {"position": stage.position, "stage": stage.stage, "label": stage.label}
        funnel_parts.append(pd.DataFrame({**where, **counts, **labels}))
    funnel = pd.concat(funnel_parts, ignore_index=True)  # a part per stage, its counts ints already
    funnel = funnel[list(FUNNEL_COLUMNS)].sort_values(["day", "channel", "position"], ignore_index=True)
    gaps_frame = pd.concat(gap_parts, ignore_index=True) if gap_parts else pd.DataFrame(columns=GAP_COLUMNS)
    gaps_frame = _sources(conn, config, gaps_frame, now)
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
