"""Builders of the partner pages: the ranked list of 3PLs and suppliers, one partner's scorecard.

Inputs are what :mod:`models.queries.partner_performance` returns (``partner_scorecards`` rows,
``partner_orders`` frames), ``list_exceptions`` items and ``flows_health`` rows. Each column holds
one unit (hours as hours, shares as %), and each change says whether it is good news for that
measure (``Measure.better``), with an arrow for its direction, so colour is never the only cue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
from dash import dcc, html

from dashboards.components.flows import STATUS, flow_status
from dashboards.components.format import DASH, fmt_duration, fmt_hours, fmt_int, fmt_pct, is_missing
from dashboards.components.scorecard import Change, change_component
from dashboards.components.tables import badge
from dashboards.components.tiles import Tile, tile_component
from models.queries.partner_performance import MEASURE_BY_NAME, MEASURES, Measure
from models.queries.scorecard import CONFIRMS

#: The periods the partner pages offer, as a sentence says them.
PERIODS: dict[str, str] = {"7d": "7 days", "30d": "30 days"}
DEFAULT_PERIOD = "7d"
KIND_LABELS = {"3pl": "3PL", "supplier": "Supplier"}
#: The list's columns (measures), in order; a partner without a measure shows "n/a".
LIST_MEASURES = (
    "event_completeness",
    "confirmation_lag_p95_hours",
    "error_rate",
    "asn_completeness",
    "ack_cycle_time_p50_hours",
    "orders_handled",
)
#: Short column heads of the list, and what each says in full (the head's tooltip).
HEADS: dict[str, tuple[str, str]] = {
    "event_completeness": ("Event completeness", "Confirmations due in the period that arrived"),
    "confirmation_lag_p95_hours": ("Confirm. lag p95", "Hours to confirm: 3PL shipment, supplier 855"),
    "error_rate": ("Error rate", "Delivery attempts on its flows that failed"),
    "asn_completeness": ("ASN complete", "Acknowledged POs due an ASN that got one (suppliers)"),
    "ack_cycle_time_p50_hours": ("Ack time p50", "Median hours 850 → 855 (suppliers)"),
    "orders_handled": ("Orders · value", "Orders (3PL) or POs (supplier) handed over, and their value"),
}
#: A change smaller than this is flat: 0.05 percentage points of a share, 0.5 % of anything else.
FLAT_POINTS, FLAT_SHARE = 0.0005, 0.005
#: Why a partner lacks a measure, said where the number would be.
NOT_APPLICABLE = "n/a"


def period_of(value: str | None) -> str:
    """A known period, else the default (a stale or hand-typed URL still opens)."""
    return value if value in PERIODS else DEFAULT_PERIOD


def fmt_money(value: Any) -> str:
    """An order value sum, whole dollars (the demo's orders are in USD)."""
    return DASH if is_missing(value) else f"${float(value):,.0f}"


def fmt_measure(measure: Measure, value: Any) -> str:
    """A value in its measure's one unit: hours with one decimal, shares as %, counts, money."""
    if is_missing(value):
        return DASH
    return {"hours": fmt_hours, "ratio": fmt_pct, "count": fmt_int, "money": fmt_money}[measure.unit](value)


def trend(measure: Measure, value: Any, previous: Any) -> Change:
    """The change from the previous period: percentage points for shares, the unit's own
    difference otherwise; good or bad by the measure's direction, neutral when it has none."""
    if is_missing(value) or is_missing(previous):
        return Change("", "no prior data", "none")
    diff = float(value) - float(previous)
    if measure.unit == "ratio":
        flat, text = abs(diff) < FLAT_POINTS, f"{diff * 100:+.1f} pp"
    else:
        flat = diff == 0 if measure.unit == "count" else abs(diff) <= FLAT_SHARE * max(abs(float(previous)), 1e-9)
        sign = "+" if diff > 0 else "-"
        text = sign + fmt_measure(measure, abs(diff))
    if flat:
        return Change("→", "no change", "flat")
    tone = "neutral" if measure.better is None else ("good" if (diff < 0) == (measure.better == "lower") else "bad")
    return Change("▲" if diff > 0 else "▼", text.replace("-", "−"), tone)


def _value(card: Mapping[str, Any], name: str) -> Any:
    entry = card["measures"].get(name)
    return None if entry is None else entry["value"]


def rank(cards: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Partners worst first: lowest event completeness, then highest error rate, then longest
    confirmation lag p95; partners with no data in the period last, by name."""

    def key(card: Mapping[str, Any]) -> tuple[Any, ...]:
        complete, errors = _value(card, "event_completeness"), _value(card, "error_rate")
        lag = _value(card, "confirmation_lag_p95_hours")
        return (
            is_missing(complete) and is_missing(errors) and is_missing(lag),
            float("inf") if is_missing(complete) else complete,
            -(errors or 0.0),
            -(lag or 0.0),
            card["name"],
        )

    return sorted(cards, key=key)


def partner_href(partner: str, period: str) -> str:
    """One partner's page for the period."""
    return f"/partners/{quote(partner)}?{urlencode({'period': period})}"


def exceptions_href(partner: str) -> str:
    """The workbench filtered to the partner's exceptions (by system)."""
    return f"/exceptions?{urlencode({'system': partner})}"


def _cell(card: Mapping[str, Any], name: str) -> html.Td:
    """One measure of one partner: its value and its change, or n/a when the partner lacks it."""
    measure = MEASURE_BY_NAME[name]
    entry = card["measures"].get(name)
    if entry is None:
        return html.Td(NOT_APPLICABLE, className="num muted pt-na", title="Not measured for this kind of partner")
    value = fmt_measure(measure, entry["value"])
    parts: list[Any] = [html.Div(value, className="pt-value")]
    if name == "orders_handled" and "value_handled" in card["measures"]:
        parts.append(html.Div(fmt_money(card["measures"]["value_handled"]["value"]), className="pt-sub"))
    parts.append(change_component(trend(measure, entry["value"], entry["previous"])))
    return html.Td(parts, className="num", **{"data-measure": name})


def _exceptions_cell(card: Mapping[str, Any]) -> html.Td:
    """Open now (worst severity, count; a link to them in the workbench) over the number opened in
    the period with its change."""
    pid, open_now = card["partner"], int(card["open_exceptions"])
    opened = card["measures"]["exceptions_opened"]
    now = (
        [badge(card["worst_open_severity"], card["worst_open_severity"]), f" {open_now} open"]
        if open_now
        else "none open"
    )
    return html.Td(
        [
            dcc.Link(
                now, href=exceptions_href(pid), className="pt-open", title="Open them in the exceptions workbench"
            ),
            html.Div(
                [
                    f"{fmt_int(opened['value'])} opened ",
                    change_component(trend(MEASURE_BY_NAME["exceptions_opened"], opened["value"], opened["previous"])),
                ],
                className="pt-sub",
            ),
        ],
        className="num",
        **{"data-measure": "exceptions_opened"},
    )


def partner_list(cards: Sequence[Mapping[str, Any]], *, period: str) -> html.Div:
    """The ranked table: rank, partner (a link to its page), every measure with its change, and
    its open exceptions now (a link to them in the workbench)."""
    if not cards:
        return html.Div("No 3PLs or suppliers in the estate", className="empty-state")
    head = [html.Th("#", className="num pt-rank"), html.Th("Partner")]
    head += [html.Th(HEADS[m][0], className="num", title=HEADS[m][1]) for m in LIST_MEASURES]
    head.append(html.Th("Exceptions", className="num", title="Open or acknowledged now; opened in the period"))
    body = []
    for i, card in enumerate(rank(cards), start=1):
        pid = card["partner"]
        who = html.Td(
            [
                dcc.Link(card["name"], href=partner_href(pid, period), className="pt-name"),
                html.Div(
                    " · ".join(x for x in (KIND_LABELS.get(card["kind"], card["kind"]), card.get("region")) if x),
                    className="pt-sub",
                ),
            ],
            className="pt-partner",
        )
        cells = [html.Td(str(i), className="num pt-rank"), who, *(_cell(card, m) for m in LIST_MEASURES)]
        cells.append(_exceptions_cell(card))
        body.append(html.Tr(cells, **{"data-partner": pid}))
    table = html.Table([html.Thead(html.Tr(head)), html.Tbody(body)], className="data-table pt-table")
    return html.Div(table, className="pt-scroll")


def partner_tiles(card: Mapping[str, Any], *, period: str) -> list[html.Div]:
    """One tile per measure the partner has: the period's value, the previous one, the change."""
    tiles = []
    for measure in MEASURES:
        entry = card["measures"].get(measure.name)
        if entry is None:
            continue
        delta = trend(measure, entry["value"], entry["previous"])
        tone = "idle" if is_missing(entry["value"]) else {"good": "ok", "bad": "warning"}.get(delta.tone, "neutral")
        tiles.append(
            html.Div(
                className=f"tile tone-{tone}",
                **{"data-kpi": measure.name},
                children=[
                    html.Div(
                        "POs handled"
                        if measure.name == "orders_handled" and card["kind"] == "supplier"
                        else measure.label,
                        className="tile-label",
                        title=HEADS.get(measure.name, ("", ""))[1],
                    ),
                    html.Div(fmt_measure(measure, entry["value"]), className="tile-value"),
                    html.Div(_tile_change(measure, entry, delta, period), className="tile-detail sc-detail"),
                ],
            )
        )
    return tiles


def _tile_change(measure: Measure, entry: Mapping[str, Any], delta: Change, period: str) -> list[Any]:
    """'▲ +2.1 h' over 'vs 6.0 h the previous 7 days', or that the previous period had no data."""
    if delta.tone == "none":
        return [html.Span(f"no data for the previous {PERIODS[period]}", className="sc-none")]
    was = fmt_measure(measure, entry["previous"])
    return [change_component(delta), html.Div(f"vs {was} the previous {PERIODS[period]}", className="sc-sub")]


def partner_heading(card: Mapping[str, Any]) -> tuple[str, str]:
    """The partner's name and one line saying what it is and does for us."""
    kind = card["kind"]
    does = (
        "ships our released orders and confirms each shipment"
        if kind == "3pl"
        else "acknowledges our purchase orders (855) and sends ship notices (856)"
    )
    parts = [KIND_LABELS.get(kind, kind), card.get("vendor"), card.get("region") and f"{card['region']} region"]
    return card["name"], " · ".join(p for p in parts if p) + f" — {does}"


def partner_flows(flows: Sequence[Mapping[str, Any]], partner: str) -> html.Div:
    """The partner's flows (either end) with their health over the period, each opening its flow:
    name and status, then lag against SLA, deliveries and failures, open exceptions."""
    mine = [f for f in flows if partner in (f["source_system"], f["target_system"])]
    if not mine:
        return html.Div("No flow goes to or from this partner", className="empty-state")
    items = []
    for f in mine:
        kind, label = STATUS[flow_status(f)]
        deliveries, failures = int(f["deliveries_last_hour"]), int(f["failures_last_hour"])
        facts = [
            f"lag p95 {fmt_duration(f['sync_lag_p95_seconds'])} of {fmt_duration(f['sla_seconds'])} SLA",
            f"{fmt_int(deliveries)} deliveries, {fmt_int(failures)} failed",
            f"{fmt_int(f['open_exceptions'])} open exception{'s' if f['open_exceptions'] != 1 else ''}",
        ]
        items.append(
            html.Li(
                dcc.Link(
                    href=f"/flows?flow={quote(f['flow_id'])}",
                    className="pt-exception",
                    children=[
                        badge(label, kind),
                        html.Span(f["name"], className="pt-exception-title", title=f["name"]),
                        html.Span(" · ".join(facts), className="pt-exception-meta"),
                    ],
                ),
                **{"data-flow": f["flow_id"]},
            )
        )
    return html.Ul(items, className="pt-exceptions pt-flows")


def partner_exceptions(items: Sequence[Mapping[str, Any]], *, total: int, partner: str) -> html.Div:
    """The partner's open exceptions, most severe then oldest, each opening in the workbench; a link
    to all of them there (filtered by the partner's system)."""
    link = dcc.Link(
        f"All {fmt_int(total)} in the workbench →" if total else "Open the workbench →",
        href=exceptions_href(partner),
        className="fm-open pt-all",
    )
    if not items:
        return html.Div([html.Div("No open exceptions for this partner", className="empty-state"), link])
    rows = []
    for x in items:
        rows.append(
            html.Li(
                dcc.Link(
                    href=f"/exceptions?{urlencode({'system': partner, 'id': x['exception_id']})}",
                    className="pt-exception",
                    children=[
                        badge(x["severity"], x["severity"]),
                        html.Span(x["title"], className="pt-exception-title", title=x["title"]),
                        html.Span(
                            f"#{x['exception_id']} · {x['status']} · open {fmt_duration(x['age_seconds'])} · "
                            f"{fmt_int(x['affected_orders'])} order{'s' if x['affected_orders'] != 1 else ''}",
                            className="pt-exception-meta",
                        ),
                    ],
                ),
                **{"data-exception": str(x["exception_id"])},
            )
        )
    return html.Div([html.Ul(rows, className="pt-exceptions"), link])


def order_state(row: Mapping[str, Any], sla_seconds: float | None) -> tuple[str, str]:
    """(badge kind, words) of one handed-over order: cancelled, confirmed, or waiting — overdue once
    it has waited longer than the SLA of the step the partner confirms."""
    if row.get("cancelled"):
        return "idle", "Cancelled"
    if not _no_time(row["confirmed_at"]):
        return "ok", "Confirmed"
    if sla_seconds and float(row["waited_seconds"]) > sla_seconds:
        return "breach", "Overdue"
    return "warning", "Waiting"


def _no_time(value: Any) -> bool:
    """None, NaN and NaT (a frame's missing timestamp, which is_missing cannot read as a number)."""
    return value is None or bool(pd.isna(value))


def _at(value: Any) -> str:
    return DASH if _no_time(value) else pd.Timestamp(value).strftime("%b %-d %H:%M")


def partner_orders_table(orders: pd.DataFrame, *, kind: str, sla_seconds: float | None) -> html.Div:
    """The orders (3PL) or POs (supplier) handed over in the period, waiting ones first, each
    opening its timeline; one unit per column (hours waited)."""
    if orders.empty:
        noun = "orders" if kind == "3pl" else "purchase orders"
        return html.Div(f"No {noun} handed to this partner in the period", className="empty-state")
    confirmed = "Shipped" if kind == "3pl" else "855 ack"
    head = [html.Th("Order" if kind == "3pl" else "PO"), html.Th("Handed over"), html.Th(confirmed)]
    head += [html.Th("ASN (856)")] if kind == "supplier" else [html.Th("Value", className="num")]
    head += [html.Th("Waited (h)", className="num", title="Handed over → confirmed, or → now"), html.Th("State")]
    body = []
    for row in orders.to_dict("records"):
        state_kind, state = order_state(row, sla_seconds)
        cid = row["correlation_id"]
        cells = [
            html.Td(dcc.Link(cid, href=f"/orders?id={quote(cid)}", className="order-link")),
            html.Td(_at(row["handed_at"])),
            html.Td(_at(row["confirmed_at"])),
            html.Td(_at(row["asn_at"]))
            if kind == "supplier"
            else html.Td(fmt_money(row["order_value"]), className="num"),
            html.Td(fmt_hours(float(row["waited_seconds"]) / 3600), className="num"),
            html.Td(badge(state, state_kind)),
        ]
        body.append(html.Tr(cells, **{"data-order": cid}))
    return html.Div(html.Table([html.Thead(html.Tr(head)), html.Tbody(body)], className="data-table pt-orders"))


def confirm_sla(flows: Sequence[Mapping[str, Any]], partner: str, kind: str) -> float | None:
    """The SLA of the step the partner confirms (the longest, if it confirms on several flows)."""
    start, end = CONFIRMS[kind]
    slas = [
        float(f["sla_seconds"])
        for f in flows
        if (f["start_event"], f["end_event"]) == (start, end) and partner in (f["source_system"], f["target_system"])
    ]
    return max(slas) if slas else None


def updated_line(now: datetime) -> str:
    """When the numbers were read."""
    return f"Updated {now:%H:%M:%S} UTC"


def list_tiles(cards: Sequence[Mapping[str, Any]], *, period: str) -> list[html.Div]:
    """The partners in six numbers: how many, the least complete and the slowest to confirm,
    what was handed to 3PLs and to suppliers, and their open exceptions now."""
    tpls = [c for c in cards if c["kind"] == "3pl"]
    sups = [c for c in cards if c["kind"] == "supplier"]
    measured = [c for c in cards if not is_missing(_value(c, "event_completeness"))]
    least = min(measured, key=lambda c: _value(c, "event_completeness"), default=None)
    lagged = [c for c in cards if not is_missing(_value(c, "confirmation_lag_p95_hours"))]
    slowest = max(lagged, key=lambda c: _value(c, "confirmation_lag_p95_hours"), default=None)
    orders = sum(int(_value(c, "orders_handled") or 0) for c in tpls)
    value = sum(float(_value(c, "value_handled") or 0) for c in tpls)
    pos = sum(int(_value(c, "orders_handled") or 0) for c in sups)
    open_now = sum(int(c["open_exceptions"]) for c in cards)
    critical = [c for c in cards if c["worst_open_severity"] == "critical"]
    completeness = _value(least, "event_completeness") if least else None
    tiles = [
        Tile("partners", "Partners", fmt_int(len(cards)), f"{len(tpls)} 3PLs · {len(sups)} suppliers", "neutral"),
        Tile("least_complete", "Least complete", fmt_pct(completeness),
             f"{least['name']}: confirmations due that arrived" if least else "nothing was due",
             "idle" if least is None else ("ok" if completeness >= 0.99 else "warning" if completeness >= 0.95
                                           else "breach")),
        Tile("slowest", "Slowest to confirm", fmt_hours(_value(slowest, "confirmation_lag_p95_hours") if slowest
                                                         else None),
             f"{slowest['name']} · p95" if slowest else "no confirmations", "neutral" if slowest else "idle"),
        Tile("orders", "Orders to 3PLs", fmt_int(orders), f"{fmt_money(value)} of goods", "neutral"),
        Tile("pos", "POs to suppliers", fmt_int(pos), f"in the last {PERIODS[period]}", "neutral"),
        Tile("open", "Open exceptions", fmt_int(open_now),
             f"{len(critical)} partner{'s' if len(critical) != 1 else ''} with a critical one" if open_now
             else "nothing needs attention",
             "breach" if critical else ("warning" if open_now else "ok")),
    ]  # fmt: skip
    return [tile_component(t) for t in tiles]
