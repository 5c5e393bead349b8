"""The exception workbench's reads and the few writes its actions make.

The grid pages on the server: filters become bound WHERE clauses over ``exceptions``
alone (the flow name is joined onto the 100 rows of a page only), the total is a plain
count over the same clauses, and the bulk selection reads the whole filtered id set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy.engine import Connection

from models.enums import ExceptionStatus
from models.queries.common import AGING_BANDS, SEVERITIES, severity_rank
from models.queries.error_classes import known_error
from models.queries.impact import TIERS, ExceptionImpact, exception_impact, money
from models.queries.incidents import incident_of
from models.queries.messages import list_messages, message_counts
from models.queries.scope import Scope, exception_in_scope
from models.queries.writes import insert_sql, set_clause
from models.store.dialect import row_lock
from models.store.tables import (
    business_events,
    exception_actions,
    exception_impacts,
    exception_orders,
    exceptions,
    flows,
    replays,
)

BAND_LABELS = tuple(label for label, _ in AGING_BANDS)
SortKey = Literal[
    "first_seen",
    "last_seen",
    "age",
    "severity",
    "affected_orders",
    "occurrences",
    "status",
    "updated_at",
    "exception_id",
    "kind",
    "flow_id",
    "system_id",
    "assignee",
    "value_at_risk",
    "customer_tier",
    "earliest_ship_by",
]

_x = exceptions.c
_i = exception_impacts.c
#: Sort keys: (column, inverted). Descending reads "most first": the oldest, the most severe, ...,
#: the most money at risk, the most important customer, the soonest promised ship-by.
_SORT: dict[str, tuple[sa.ColumnElement[Any], bool]] = {
    "first_seen": (_x.first_seen, False),
    "last_seen": (_x.last_seen, False),
    "age": (_x.first_seen, True),
    "severity": (sa.literal_column(severity_rank("exceptions.severity")), True),
    "affected_orders": (_x.affected_orders, False),
    "occurrences": (_x.occurrences, False),
    "status": (_x.status, False),
    "updated_at": (_x.updated_at, False),
    "exception_id": (_x.exception_id, False),
    "kind": (_x.kind, False),
    "flow_id": (_x.flow_id, False),
    "system_id": (_x.system_id, False),
    "assignee": (_x.assignee, False),
    "value_at_risk": (sa.func.coalesce(_i.value_at_risk, 0), False),
    "customer_tier": (sa.func.coalesce(_i.tier_rank, len(TIERS)), True),
    "earliest_ship_by": (_i.earliest_ship_by, True),
}
_ROW_COLUMNS = (
    _x.exception_id,
    _x.title,
    _x.kind,
    _x.flow_id,
    _x.system_id,
    _x.business_key,
    _x.severity,
    _x.status,
    _x.assignee,
    _x.first_seen,
    _x.last_seen,
    _x.occurrences,
    _x.affected_orders,
    _x.error_class,
    _x.first_error,
    _x.last_error,
    _x.event_id,
    _x.snoozed_until,
    _x.resolved_at,
    _x.resolution,
    _x.updated_at,
)


class ExceptionFilter(BaseModel):
    """What the grid (and a bulk selection) filters on; every field narrows, empty lists mean any."""

    model_config = ConfigDict(extra="forbid")

    status: list[ExceptionStatus] = Field(default_factory=list)
    kind: list[str] = Field(default_factory=list)
    flow_id: list[str] = Field(default_factory=list)
    system_id: list[str] = Field(default_factory=list)
    severity: list[str] = Field(default_factory=list)
    age_band: list[str] = Field(default_factory=list, description=f"aging bands: {', '.join(BAND_LABELS)}")
    assignee: str | None = None
    unassigned: bool = False
    text: str | None = Field(None, description="in title, first error or business key; or an order number")
    snoozed: bool | None = Field(None, description="true: only snoozed now; false: hide them; null: both")
    seen_since: datetime | None = Field(None, description="last seen at or after (naive UTC)")
    channel: str | None = Field(None, description="the global filter: exceptions of this storefront's scope")
    erp: str | None = Field(None, description="the global filter: exceptions of this ERP's scope")
    fulfiller: str | None = Field(None, description="the global filter: exceptions of this WMS or 3PL's scope")
    min_value: float | None = Field(None, ge=0, description="orders' value at risk at least this")
    customer_tier: list[str] = Field(default_factory=list, description=f"any order of tier: {', '.join(TIERS)}")

    @property
    def scope(self) -> Scope:
        """The global filter part (channel, ERP, fulfiller) as a query scope."""
        return Scope(self.channel, self.erp, self.fulfiller)

    @field_validator("severity", "customer_tier", "age_band")
    @classmethod
    def _known(cls, value: list[str], info: ValidationInfo) -> list[str]:
        what, allowed = _CHOICES[info.field_name or ""]
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"unknown {what} {', '.join(unknown)}; expected {', '.join(allowed)}")
        return value


#: The list filters with a closed set of values: field → (what the message calls it, the values).
_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "severity": ("severity", tuple(SEVERITIES)),
    "customer_tier": ("customer tier", tuple(TIERS)),
    "age_band": ("age band", tuple(BAND_LABELS)),
}


@dataclass(frozen=True)
class ExceptionPage:
    """One page of the grid and the size of the whole filtered set."""

    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def _conditions(flt: ExceptionFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    """The filter as bound WHERE clauses over ``exceptions``."""
    conds: list[sa.ColumnElement[bool]] = []
    for column, values in (
        (_x.status, [str(s) for s in flt.status]),
        (_x.kind, flt.kind),
        (_x.flow_id, flt.flow_id),
        (_x.system_id, flt.system_id),
        (_x.severity, flt.severity),
    ):
        if values:
            conds.append(column.in_(values))
    if flt.age_band:
        conds.append(sa.or_(*(_band(label, now) for label in flt.age_band)))
    if flt.unassigned:
        conds.append(_x.assignee.is_(None))
    elif flt.assignee:
        conds.append(_x.assignee == flt.assignee)
    if flt.text and flt.text.strip():
        text = flt.text.strip()
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        linked = sa.select(exception_orders.c.exception_id).where(exception_orders.c.correlation_id == text)
        conds.append(
            sa.or_(
                _x.title.ilike(pattern, escape="\\"),
                _x.first_error.ilike(pattern, escape="\\"),
                _x.business_key.ilike(pattern, escape="\\"),
                _x.exception_id.in_(linked),
            )
        )
    if flt.snoozed is True:
        conds.append(_x.snoozed_until > now)
    elif flt.snoozed is False:
        conds.append(sa.or_(_x.snoozed_until.is_(None), _x.snoozed_until <= now))
    if flt.seen_since is not None:
        conds.append(_x.last_seen >= flt.seen_since)
    if not flt.scope.everything:
        predicate = sa.text(exception_in_scope(flt.scope, "exceptions")).bindparams(**flt.scope.params())
        conds.append(sa.and_(sa.true(), predicate))  # a text clause, typed as the boolean it is
    if flt.min_value is not None or flt.customer_tier:
        held = sa.select(_i.exception_id)
        if flt.min_value is not None:
            held = held.where(_i.value_at_risk >= flt.min_value)
        if flt.customer_tier:
            held = held.where(_i.customer_tier.in_(flt.customer_tier))
        conds.append(_x.exception_id.in_(held))
    return conds


def _band(label: str, now: datetime) -> sa.ColumnElement[bool]:
    """first_seen inside one aging band (age = now − first_seen), as bounds on the column."""
    index = BAND_LABELS.index(label)
    lower = AGING_BANDS[index - 1][1] if index else 0.0
    upper = AGING_BANDS[index][1]
    cond = _x.first_seen <= now - timedelta(seconds=lower)
    if upper != float("inf"):
        cond = sa.and_(cond, _x.first_seen > now - timedelta(seconds=upper))
    return cond


def age_band(age_seconds: float) -> str:
    """The aging band label of an age."""
    return next(label for label, bound in AGING_BANDS if age_seconds < bound)


def list_exceptions(
    conn: Connection,
    flt: ExceptionFilter,
    *,
    now: datetime,
    sort: SortKey = "first_seen",
    descending: bool = True,
    offset: int = 0,
    limit: int = 100,
) -> ExceptionPage:
    """One sorted page of the filtered exceptions with age, aging band and flow name, and the total."""
    conds = _conditions(flt, now)
    key, inverted = _SORT[sort]
    down = descending != inverted
    query = (
        sa.select(
            *_ROW_COLUMNS,
            flows.c.name.label("flow_name"),
            sa.func.coalesce(_i.value_at_risk, 0).label("value_at_risk"),
            _i.customer_tier,
            _i.earliest_ship_by,
        )
        .select_from(
            exceptions.outerjoin(flows, flows.c.flow_id == _x.flow_id).outerjoin(
                exception_impacts, _i.exception_id == _x.exception_id
            )
        )
        .where(*conds)
        .order_by(key.desc() if down else key.asc(), _x.exception_id.desc() if descending else _x.exception_id)
        .offset(offset)
        .limit(limit)
    )
    items = [
        _with_age({**row, "value_at_risk": money(row["value_at_risk"])}, now) for row in conn.execute(query).mappings()
    ]
    total = conn.execute(sa.select(sa.func.count()).select_from(exceptions).where(*conds)).scalar_one()
    return ExceptionPage(items=items, total=int(total), offset=offset, limit=limit)


def _with_age(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    age = (now - row["first_seen"]).total_seconds()
    row["age_seconds"] = age
    row["age_band"] = age_band(max(age, 0.0))
    row["snoozed"] = row["snoozed_until"] is not None and row["snoozed_until"] > now
    return row


def filtered_ids(conn: Connection, flt: ExceptionFilter, *, now: datetime) -> list[int]:
    """Every id the filter selects (not a page), oldest first: the bulk selection."""
    query = sa.select(_x.exception_id).where(*_conditions(flt, now)).order_by(_x.first_seen, _x.exception_id)
    return [int(i) for i in conn.execute(query).scalars()]


def existing_ids(conn: Connection, ids: Sequence[int]) -> list[int]:
    """Which of ``ids`` exist, in the given order."""
    if not ids:
        return []
    found = set(
        conn.execute(
            sa.text("SELECT exception_id FROM exceptions WHERE exception_id IN (SELECT unnest(:ids))"),
            {"ids": [int(i) for i in ids]},
        ).scalars()
    )
    return [int(i) for i in dict.fromkeys(ids) if i in found]


_STATE_SQL = sa.text(f"SELECT {', '.join(c.name for c in _ROW_COLUMNS)} FROM exceptions WHERE exception_id = :id")


def get_state(conn: Connection, exception_id: int) -> dict[str, Any] | None:
    """The row an action starts from (status, assignee, severity, snooze, resolution, message)."""
    row = conn.execute(_STATE_SQL, {"id": exception_id}).mappings().first()
    return dict(row) if row is not None else None


def lock_exception(conn: Connection, exception_id: int) -> None:
    """Hold the exception's row for the rest of the transaction, so replicas act on one exception
    one at a time: a second replay (or lifecycle action) waits, then reads what the first did."""
    if lock := row_lock(conn):
        conn.execute(sa.text(f"SELECT 1 FROM exceptions WHERE exception_id = :id{lock}"), {"id": exception_id})


def get_states(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Rows of many exceptions by id (bulk actions)."""
    if not ids:
        return {}
    query = sa.select(*_ROW_COLUMNS).where(_x.exception_id.in_(sa.select(sa.func.unnest(sa.bindparam("ids")))))
    return {int(r["exception_id"]): dict(r) for r in conn.execute(query, {"ids": [int(i) for i in ids]}).mappings()}


def update_exceptions(conn: Connection, ids: Sequence[int], values: dict[str, Any]) -> None:
    """Set the same ``values`` on every exception in ``ids``."""
    if ids:
        sql = f"UPDATE exceptions SET {set_clause(exceptions, values)} WHERE exception_id IN (SELECT unnest(:_ids))"
        conn.execute(sa.text(sql), {**values, "_ids": [int(i) for i in ids]})


_ACTION_COLUMNS = ("exception_id", "action", "actor", "acted_at", "before_state", "after_state", "outcome", "detail")
_ACTION_SQL = insert_sql(exception_actions, dict.fromkeys(_ACTION_COLUMNS), sequence="exception_action_id_seq")


def append_actions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append audit rows (exception_id, action, actor, acted_at, before/after state, outcome, detail).

    States and details that are not strings are stored as JSON. The trail is never updated.
    """
    if rows:
        conn.execute(_ACTION_SQL, [_action_row(r) for r in rows])


def _action_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {name: row.get(name) for name in _ACTION_COLUMNS}
    for key in ("before_state", "after_state", "detail"):
        value = out.get(key)
        out[key] = value if value is None or isinstance(value, str) else json.dumps(value, default=str)
    return out


def get_exception(
    conn: Connection, exception_id: int, *, now: datetime, order_limit: int = 500
) -> dict[str, Any] | None:
    """The detail panel: row, flow, failed message with payload, orders, replays and the action history."""
    row = get_state(conn, exception_id)
    if row is None:
        return None
    detail = _with_age(row, now)
    flow = conn.execute(sa.select(flows).where(flows.c.flow_id == row["flow_id"])).mappings().first()
    detail["flow"] = dict(flow) if flow is not None else None
    messages = list_messages(conn, exception_id)
    detail["event"] = shown_message(conn, row, messages)
    orders = exception_orders.c
    detail["orders"] = list(
        conn.execute(
            sa.select(orders.correlation_id)
            .where(orders.exception_id == exception_id)
            .order_by(orders.correlation_id)
            .limit(order_limit)
        ).scalars()
    )
    detail["orders_total"] = conn.execute(
        sa.select(sa.func.count()).where(orders.exception_id == exception_id)
    ).scalar_one()
    detail["replays"] = [
        {**dict(r), "payload": _json_or_text(r["payload"])}
        for r in conn.execute(
            sa.select(replays).where(replays.c.exception_id == exception_id).order_by(replays.c.replay_id)
        ).mappings()
    ]
    detail["messages"] = messages
    detail["message_counts"] = message_counts(conn, [exception_id]).get(
        exception_id, {"total": 0, "delivered": 0, "failed": 0, "pending": 0}
    )
    detail["actions"] = action_history(conn, exception_id)
    impact = exception_impact(conn, [exception_id]).get(exception_id)
    detail.update((impact or ExceptionImpact()).as_dict())
    detail["incident"] = incident_of(conn, exception_id)
    event = detail["event"] or {}
    detail["known_error"] = known_error(
        conn, [(event.get("error_code"), event.get("error_message")), (row["error_class"], row["first_error"])]
    )
    return detail


def shown_message(
    conn: Connection, row: dict[str, Any], messages: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The failed message the detail panel shows and an edit applies to: the first still undelivered
    (``messages`` in :func:`list_messages` order), else the exception's latest."""
    if messages is None:
        messages = list_messages(conn, int(row["exception_id"]), limit=1)
    shown = next((m["event_id"] for m in messages if m["state"] != "delivered"), row["event_id"])
    return failed_event(conn, shown) if shown else None


def action_history(conn: Connection, exception_id: int) -> list[dict[str, Any]]:
    """The audit trail of one exception, oldest first, with its JSON columns decoded."""
    a = exception_actions.c
    rows = conn.execute(
        sa.select(exception_actions).where(a.exception_id == exception_id).order_by(a.acted_at, a.action_id)
    ).mappings()
    return [{**dict(r), **{k: _json_or_text(r[k]) for k in ("before_state", "after_state", "detail")}} for r in rows]


def failed_event(conn: Connection, event_id: str) -> dict[str, Any] | None:
    """The stored failed message (first stored row of that id) with its payload decoded when JSON."""
    row = (
        conn.execute(sa.select(business_events).where(business_events.c.event_id == event_id).limit(1))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return {**dict(row), "payload_text": row["payload"], "payload": _json_or_text(row["payload"])}


def _json_or_text(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value
