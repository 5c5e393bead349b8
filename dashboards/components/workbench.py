"""Builders of the exception workbench: URL query ⇄ filter, grid pages, tiles, replay outcomes, toasts.

Inputs are what the query layer and the action services return (``list_exceptions`` items,
``exception_totals``, a ``ReplayOutcome``); outputs are an :class:`ExceptionFilter`, grid rows
and Dash components. No I/O, so every label, count and refusal is unit-tested. The detail
panel's builders are in :mod:`exception_detail`, the bulk panel's in :mod:`bulk`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from dash import html

from app.services.replay import ReplayOutcome
from dashboards.components.format import fmt_duration, fmt_in_unit, fmt_int, is_missing, short_name
from dashboards.components.tiles import Tile
from models.enums import ExceptionStatus, ReplayStatus
from models.queries.common import SEVERITIES
from models.queries.exceptions import BAND_LABELS, ExceptionFilter, SortKey
from models.queries.impact import TIERS

DEFAULT_STATUSES: tuple[str, ...] = (ExceptionStatus.OPEN, ExceptionStatus.ACKNOWLEDGED)
#: The URL value of a filter that allows every status (an absent ``status`` means the default).
ANY_STATUS = "any"
UNASSIGNED = "unassigned"
#: ``snoozed`` in the URL: snoozed exceptions are hidden by default, like in a mail inbox.
SNOOZED_CHOICES = ("hide", "include", "only")

#: What each detection kind is called on screen; unknown kinds fall back to their id, capitalised.
KIND_LABELS: dict[str, str] = {
    "delivery_failed": "Delivery failed",
    "dead_letter": "Dead letter",
    "retries_exhausted": "Retries exhausted",
    "sla_breach": "SLA breach",
    "queue_backlog": "Queue backlog",
    "missing_ack": "Missing 855",
    "missing_asn": "Missing ASN",
    "missing_event": "Silent non-event",
    "reconciliation_gap": "Reconciliation gap",
    "inventory_gap": "Inventory gap",
}

#: Snooze choices of the detail panel: label → how long.
SNOOZE_CHOICES: dict[str, timedelta] = {
    "1 hour": timedelta(hours=1),
    "4 hours": timedelta(hours=4),
    "24 hours": timedelta(hours=24),
    "3 days": timedelta(days=3),
}

#: Rows per grid page (and per block of AG Grid's infinite row model), and the grid's geometry.
PAGE_SIZE = 50
ROW_HEIGHT, HEADER_HEIGHT, PAGER_HEIGHT, MAX_GRID_HEIGHT = 50, 38, 48, 640


def kind_label(kind: str | None) -> str:
    """The on-screen name of an exception kind."""
    if not kind:
        return "—"
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def fmt_time(value: datetime | None) -> str:
    """A stored (naive UTC) time as an operator reads it in a table: '04 Mar 14:47'."""
    return "—" if value is None or is_missing(value) else value.strftime("%d %b %H:%M")


# -- URL query ⇄ filter -------------------------------------------------------------------
def _values(raw: Any) -> list[str]:
    """A query value as a list: comma-separated strings and lists alike, blanks dropped."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list | tuple) else [raw]
    return list(dict.fromkeys(v.strip() for item in items for v in str(item).split(",") if v.strip()))


def _amount(raw: Any) -> float | None:
    """A minimum value from the URL or the input: a non-negative number, else no minimum."""
    try:
        value = float(str(raw).replace(",", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def filter_from_query(query: Mapping[str, Any]) -> ExceptionFilter:
    """The grid filter a URL query string (or the filter controls) describe; values it does not know are
    dropped rather than refused, so a stale bookmark still opens a sensible view."""
    statuses = _values(query.get("status"))
    if not statuses:
        status = list(DEFAULT_STATUSES)
    elif ANY_STATUS in statuses:
        status = []
    else:
        status = [s for s in statuses if s in set(ExceptionStatus)]
    assignee = (str(query.get("assignee") or "")).strip()
    text = (str(query.get("q") or "")).strip()
    snoozed = str(query.get("snoozed") or "hide")
    return ExceptionFilter(
        status=status,
        kind=_values(query.get("kind")),
        flow_id=_values(query.get("flow")),
        system_id=_values(query.get("system")),
        severity=[s for s in _values(query.get("severity")) if s in SEVERITIES],
        age_band=[b for b in _values(query.get("age")) if b in BAND_LABELS],
        assignee=assignee if assignee and assignee.lower() != UNASSIGNED else None,
        unassigned=assignee.lower() == UNASSIGNED,
        text=text or None,
        snoozed={"include": None, "only": True}.get(snoozed, False),
        min_value=_amount(query.get("min")),
        customer_tier=[t for t in _values(query.get("tier")) if t in TIERS],
        # The global filter (the page checked it against the estate before it came here).
        **{dim: str(query[dim]) for dim in ("channel", "erp", "fulfiller") if query.get(dim)},
    )


def query_from_filter(flt: ExceptionFilter) -> dict[str, str]:
    """The shortest URL query that reproduces ``flt`` (defaults left out)."""
    query: dict[str, str] = {}
    statuses = [str(s) for s in flt.status]
    if not statuses:
        query["status"] = ANY_STATUS
    elif sorted(statuses) != sorted(DEFAULT_STATUSES):
        query["status"] = ",".join(statuses)
    for key, values in (
        ("kind", flt.kind),
        ("flow", flt.flow_id),
        ("system", flt.system_id),
        ("severity", flt.severity),
        ("age", flt.age_band),
        ("tier", flt.customer_tier),
    ):
        if values:
            query[key] = ",".join(values)
    if flt.min_value is not None:
        query["min"] = f"{flt.min_value:g}"
    if flt.unassigned:
        query["assignee"] = UNASSIGNED
    elif flt.assignee:
        query["assignee"] = flt.assignee
    if flt.text:
        query["q"] = flt.text
    if flt.snoozed is None:
        query["snoozed"] = "include"
    elif flt.snoozed:
        query["snoozed"] = "only"
    return query | flt.scope.chosen()


def controls_from_filter(flt: ExceptionFilter) -> dict[str, Any]:
    """The filter bar's control values for ``flt`` (keyed like the controls' id suffixes)."""
    return {
        "status": [str(s) for s in flt.status],
        "kind": list(flt.kind),
        "flow": list(flt.flow_id),
        "system": list(flt.system_id),
        "severity": list(flt.severity),
        "age": list(flt.age_band),
        "assignee": UNASSIGNED if flt.unassigned else (flt.assignee or ""),
        "q": flt.text or "",
        "snoozed": "include" if flt.snoozed is None else ("only" if flt.snoozed else "hide"),
        "tier": list(flt.customer_tier),
        "min": flt.min_value,
    }


def query_from_controls(values: Mapping[str, Any]) -> dict[str, str]:
    """The canonical URL query for the filter bar's values; an emptied status picker means any status."""
    raw = dict(values)
    if not _values(raw.get("status")):
        raw["status"] = ANY_STATUS
    return query_from_filter(filter_from_query(raw))


def filter_options(flows: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Flow and system picker options from the flow definitions (systems named, sorted by name)."""
    flow_options = sorted(({"label": f["name"], "value": f["flow_id"]} for f in flows), key=lambda o: o["label"])
    systems: dict[str, str] = {}
    for f in flows:
        systems[f["source_system"]] = f["source_name"]
        systems[f["target_system"]] = f["target_name"]
    system_options = sorted(
        ({"label": short_name(n), "value": s} for s, n in systems.items()), key=lambda o: o["label"]
    )
    return flow_options, system_options


def system_names(flows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """system id → short display name, from the flow definitions."""
    names: dict[str, str] = {}
    for f in flows:
        names[f["source_system"]] = short_name(f["source_name"])
        names[f["target_system"]] = short_name(f["target_name"])
    return names


# -- the grid ------------------------------------------------------------------------------
#: Grid column id → the query layer's sort key (columns missing here are not sortable).
SORT_KEYS: dict[str, SortKey] = {
    "value_at_risk": "value_at_risk",
    "tier": "customer_tier",
    "ship_by": "earliest_ship_by",
    "severity": "severity",
    "kind": "kind",
    "flow": "flow_id",
    "system": "system_id",
    "affected_orders": "affected_orders",
    "occurrences": "occurrences",
    "age": "age",
    "status": "status",
    "assignee": "assignee",
    "last_seen": "last_seen",
}
#: Business impact first: the most order value at risk on top.
DEFAULT_SORT: tuple[SortKey, bool] = ("value_at_risk", True)

_NUMBER = {
    "type": "rightAligned",
    "valueFormatter": {"function": "params.value == null ? '' : d3.format(',')(params.value)"},
}

#: Column definitions of the workbench grid (dash_ag_grid, infinite row model), keyed by ``exception_id``.
GRID_COLUMNS: list[dict[str, Any]] = [
    {"field": "severity", "headerName": "Severity", "width": 106, "cellRenderer": "SeverityBadge"},
    {"field": "title", "headerName": "Exception", "flex": 3, "minWidth": 230, "tooltipField": "title",
     "sortable": False, "cellRenderer": "TwoLines", "cellClass": "ex-flex-cell ex-title-cell"},
    {"field": "kind", "headerName": "Kind", "width": 112},
    {"field": "flow", "headerName": "Flow", "flex": 2, "minWidth": 150, "tooltipField": "flow",
     "cellRenderer": "TwoLines", "cellClass": "ex-flex-cell"},
    {"field": "system", "headerName": "System", "width": 108, "tooltipField": "system"},
    {"field": "value_at_risk", "headerName": "Value", "width": 104, "sort": "desc", "type": "rightAligned",
     "headerTooltip": "Value at risk: the affected orders' totals",
     "valueFormatter": {"function": "params.value == null ? '' : d3.format('$,.0f')(params.value)"}},
    {"field": "tier", "headerName": "Tier", "width": 90, "headerTooltip": "The most important customer tier"},
    {"field": "ship_by", "headerName": "Ship by", "width": 104,
     "headerTooltip": "Earliest promised ship-by of its open orders (UTC)"},
    {"field": "affected_orders", "headerName": "Orders", "width": 80, "headerTooltip": "Orders affected", **_NUMBER},
    {"field": "occurrences", "headerName": "Seen", "width": 70, "headerTooltip": "Occurrences", **_NUMBER},
    {"field": "age", "headerName": "Age (h)", "width": 116, "cellRenderer": "AgeBand",
     "headerTooltip": "Hours since first seen, with its aging band"},
    {"field": "status", "headerName": "Status", "width": 118, "cellRenderer": "ExceptionStatus"},
    {"field": "assignee", "headerName": "Assignee", "width": 104, "tooltipField": "assignee"},
    {"field": "last_seen", "headerName": "Last seen", "width": 100, "headerTooltip": "Last seen (UTC)"},
]  # fmt: skip


def page_request(request: Mapping[str, Any] | None) -> tuple[int, int, SortKey, bool]:
    """offset, limit, sort key and direction of an AG Grid ``getRowsRequest`` (infinite row model)."""
    request = request or {}
    start = max(int(request.get("startRow") or 0), 0)
    end = int(request.get("endRow") or start + PAGE_SIZE)
    sort, descending = DEFAULT_SORT
    for item in request.get("sortModel") or []:
        if item.get("colId") in SORT_KEYS:
            sort, descending = SORT_KEYS[item["colId"]], item.get("sort") != "asc"
            break
    return start, max(min(end - start, 500), 1), sort, descending


def grid_height(total: int) -> int:
    """Pixels that show a page without a well of empty rows (at least three rows high, at most 640)."""
    rows = min(max(total, 3), PAGE_SIZE)
    return min(HEADER_HEIGHT + rows * ROW_HEIGHT + PAGER_HEIGHT + 4, MAX_GRID_HEIGHT)


def _age_level(band: str) -> int:
    """0 (under an hour) … 4 (over three days): how stale the band is, for its colour."""
    return BAND_LABELS.index(band) if band in BAND_LABELS else 0


def grid_rows(items: Sequence[Mapping[str, Any]], systems: Mapping[str, str]) -> list[dict[str, Any]]:
    """One grid row per ``list_exceptions`` item, keyed by ``exception_id`` as a string (getRowId)."""
    return [
        {
            "exception_id": str(x["exception_id"]),
            "severity": x["severity"],
            "title": x["title"],
            "kind": kind_label(x["kind"]),
            "flow": x.get("flow_name") or x.get("flow_id") or "—",
            "system": systems.get(x["system_id"], x["system_id"]) if x.get("system_id") else "—",
            "value_at_risk": float(x.get("value_at_risk") or 0),
            "tier": x.get("customer_tier") or "—",
            "ship_by": fmt_time(x.get("earliest_ship_by")),
            "affected_orders": int(x["affected_orders"] or 0),
            "occurrences": int(x["occurrences"] or 0),
            "age": fmt_in_unit(x["age_seconds"], 3600.0),  # hours, the column's one unit
            "age_band": x["age_band"],
            "age_level": _age_level(x["age_band"]),
            "status": x["status"],
            "snoozed": bool(x.get("snoozed")),
            "assignee": x.get("assignee") or "—",
            "last_seen": fmt_time(x["last_seen"]),
        }
        for x in items
    ]


def selection_summary(selected: int, matching: int, *, all_matching: bool) -> list[Any]:
    """'N selected / M matching', or that the whole filtered set is selected."""
    noun = "exception" if matching == 1 else "exceptions"
    if all_matching:
        return [html.B(f"All {fmt_int(matching)}"), f" matching {noun} selected"]
    return [html.B(fmt_int(selected)), " selected / ", html.B(fmt_int(matching)), f" matching {noun}"]


def selection_size(selected: int, matching: int, *, all_matching: bool) -> int:
    """How many exceptions a bulk action would touch."""
    return matching if all_matching else selected


# -- tiles ---------------------------------------------------------------------------------
def workbench_tiles(totals: Mapping[str, Any], matching: int | None = None) -> list[Tile]:
    """Active exceptions, critical and high ones, and the oldest: the counts that move after each action."""
    total = int(totals.get("open_total") or 0)
    critical, high = int(totals.get("critical") or 0), int(totals.get("high") or 0)
    oldest, mean = totals.get("oldest_hours"), totals.get("mean_age_hours")
    rest = total - critical - high
    return [
        Tile("active", "Active exceptions", fmt_int(total), "open or acknowledged", "neutral" if total else "ok"),
        Tile("critical", "Critical", fmt_int(critical), "act now" if critical else "none open",
             "breach" if critical else "ok"),
        Tile("high", "High", fmt_int(high), f"{fmt_int(rest)} medium or low" if total else "none open",
             "warning" if high else "ok"),
        Tile("oldest", "Oldest active", "—" if is_missing(oldest) else fmt_duration(float(oldest) * 3600),
             "nothing waiting" if is_missing(mean) else f"mean age {fmt_duration(float(mean) * 3600)}",
             "idle" if is_missing(oldest) else ("breach" if float(oldest) >= 72 else "warning" if float(oldest) >= 24
                                                else "neutral")),
    ]  # fmt: skip


# -- toasts --------------------------------------------------------------------------------
def toast(message: str, tone: str = "ok") -> html.Div:
    """A short notice of what just happened (tone ok, warning or breach; breach ones stay until closed)."""
    return html.Div(
        className=f"ex-toast-body tone-{tone}",
        role="status",
        children=[
            html.Span(message, className="ex-toast-text"),
            html.Button("×", id="ex-toast-close", className="ex-toast-close", title="Dismiss"),
        ],
    )


def target_label(target: str | None) -> str:
    """Where a delivery went, short: 'POST http://host/sim/erp/d365/shipments' → '/sim/erp/d365/shipments'."""
    if not target:
        return "its target"
    address = target.split(" ", 1)[-1]
    parts = urlsplit(address)
    return parts.path or address if parts.scheme in ("http", "https") else address


def outcome_message(outcome: ReplayOutcome) -> tuple[str, str]:
    """What a replay did, in one line, and the toast tone: how many of the exception's messages are delivered."""
    subject = f"#{outcome.exception_id}"
    if outcome.status is ReplayStatus.PENDING_APPROVAL:
        return f"Replay of {subject} requested — it waits for a second operator to approve it (four-eyes)", "warning"
    last = outcome.messages[-1] if outcome.messages else None
    where = target_label(last.target) if last is not None else "its target"
    sent = f"{fmt_int(outcome.sent)} message" + ("" if outcome.sent == 1 else "s")
    if outcome.status is ReplayStatus.DELIVERED:
        after = "exception resolved" if outcome.resolved else "the exception was already closed"
        return f"Replayed {subject}: {sent} delivered to {where} — {after}", "ok"
    return f"Replay of {subject}: {outcome.summary} — it stays open", "breach"
