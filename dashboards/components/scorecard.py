"""Builders of the KPI scorecard: every KPI of DESIGN.md against the previous period, partners, flows.

Inputs are what ``kpi_breakdown`` and ``partner_scorecard`` return (JSON-ready dicts) and
the flow definitions frame. The one judgement made here is which direction of change is
good news for each KPI: the target's direction where a target is set, else the KPI's nature.
KPI targets come from the ``kpi_targets`` table; flows and partners are judged against their SLAs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dash import html

from dashboards.components.format import (
    UNIT_SHORT,
    duration_unit,
    fmt_in_unit,
    fmt_int,
    fmt_unit,
    is_missing,
    short_name,
)
from dashboards.components.tables import badge
from dashboards.components.targets import RAG_TONE, fmt_target, rag_badge, rag_of, sparkline
from models.enums import Direction
from models.queries.flows import lag_status
from models.queries.kpis import KPI_BY_NAME, METRIC_BY_NAME
from models.queries.scorecard import CONFIRMS

#: KPIs (and partner metrics) where a fall is good news; every other one is better higher.
LOWER_IS_BETTER = frozenset({
    "order_cycle_time", "order_to_cash", "sync_lag", "event_delivery_lag", "mttr", "manual_intervention_rate",
    "inventory_sync_delay", "oversell_incidents", "supplier_ack_cycle_time", "confirmation_lag_p95_hours",
    "error_rate",
})  # fmt: skip
HIGHER_IS_BETTER = frozenset({
    "first_pass_sync_success", "sla_adherence", "perfect_order_rate", "otif", "on_time_shipment",
    "event_completeness", "asn_completeness",
})  # fmt: skip
#: A change smaller than this is "flat": 0.05 percentage points of a share, 0.5% of anything else.
FLAT_POINTS, FLAT_SHARE = 0.0005, 0.005
#: The groupings the page offers, named as in a sentence ("per channel"); "total" is the all-up value.
GROUPS: dict[str, str] = {
    "total": "total",
    "channel": "channel",
    "erp": "ERP",
    "fulfiller": "3PL / warehouse",
    "supplier": "supplier",
}
#: What the group of rows without that dimension holds (an order has no ERP until accepted).
UNGROUPED = {"channel": "no channel", "erp": "not accepted yet", "fulfiller": "not released yet",
             "supplier": "no supplier"}  # fmt: skip
#: The headline tiles: (data-kpi key, metric, label).
HEADLINES: tuple[tuple[str, str, str], ...] = (
    ("perfect_order_rate", "perfect_order_rate", "Perfect order rate"),
    ("order_cycle_time", "order_cycle_time_p50_hours", "Order cycle time p50"),
    ("sla_adherence", "sla_adherence", "SLA adherence"),
    ("first_pass_sync_success", "first_pass_sync_success", "First-pass sync success"),
    ("mttr", "mttr_hours", "Mean time to resolve"),
)


#: Stored targets by metric (``list_targets``) and each metric's trend values (``kpi_trend``).
Targets = Mapping[str, Mapping[str, Any]]
Trend = Mapping[str, Sequence[Any]]


def lower_is_better(metric: str) -> bool:
    """Whether a fall of ``metric`` (a KPI metric name or a partner metric) is an improvement."""
    name = next((k for k in LOWER_IS_BETTER | HIGHER_IS_BETTER if metric == k or metric.startswith(f"{k}_")), None)
    if name is None:
        raise KeyError(f"no direction known for {metric!r}")
    return name in LOWER_IS_BETTER


@dataclass(frozen=True)
class Change:
    """A period-over-period change as shown: arrow, text, and whether it is good news."""

    arrow: str
    text: str
    tone: str  # good, bad, flat, none


def change(metric: str, unit: str, value: Any, previous: Any, targets: Targets | None = None) -> Change:
    """The change of ``metric`` from ``previous`` to ``value``: points for shares, relative for
    durations, absolute for counts; green when it moved the right way for that KPI (its target's
    direction when one is set)."""
    if is_missing(value) or is_missing(previous):
        return Change("", "no prior data", "none")
    diff = float(value) - float(previous)
    if unit == "ratio":
        flat, text = abs(diff) < FLAT_POINTS, f"{diff * 100:+.1f} pp"
    elif unit == "orders" or not previous:
        flat, text = diff == 0, f"{diff:+,.0f}" if unit == "orders" else _fmt(unit, abs(diff), signed=diff)
    else:
        rel = diff / float(previous)
        flat, text = abs(rel) < FLAT_SHARE, f"{rel:+.0%}" if abs(rel) >= 0.01 else f"{rel:+.1%}"
    if flat:
        return Change("→", "no change", "flat")
    target = (targets or {}).get(metric)
    lower = target["direction"] == Direction.LOWER if target else lower_is_better(metric)
    good = (diff < 0) == lower
    return Change("▲" if diff > 0 else "▼", text.replace("-", "−"), "good" if good else "bad")


def fmt_value(unit: str, value: Any) -> str:
    """A KPI value in its unit: hours and seconds as durations, shares as %, counts as integers."""
    return _fmt(unit, value)


def _fmt(unit: str, value: Any, *, signed: float | None = None) -> str:
    text = fmt_unit(unit, value)
    return text if signed is None or is_missing(value) else ("+" if signed >= 0 else "−") + text


def change_component(c: Change, *, suffix: str = "") -> html.Span:
    """The change as a coloured arrow and text (``data-tone`` good/bad/flat/none for tests and CSS)."""
    return html.Span(
        [
            html.Span(c.arrow, className="sc-arrow") if c.arrow else None,
            c.text,
            html.Span(suffix, className="sc-vs") if suffix else None,
        ],
        className=f"sc-delta sc-{c.tone}",
        **{"data-tone": c.tone, "data-arrow": c.arrow},
    )


def _by_metric(breakdown: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {k["kpi"]: k for k in breakdown["kpis"]}


def _total_row(entry: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The all-up row of a metric; a count KPI with no rows counted nothing (0, not unknown)."""
    if entry is None:
        return None
    if entry["rows"]:
        return entry["rows"][0]
    if entry["unit"] == "orders":
        return {"value": 0, "previous": 0, "n": 0, "previous_n": 0}
    return {"value": None, "previous": None, "n": 0, "previous_n": 0}


def headline_tiles(
    totals: Mapping[str, Any],
    exceptions: Mapping[str, Any],
    *,
    period: str,
    targets: Targets | None = None,
    trend: Trend | None = None,
) -> list[html.Div]:
    """Five headline KPIs with their target and status, trend and change against the previous
    period, and the exceptions open now."""
    metrics = _by_metric(totals)
    targets = targets or {}
    tiles = []
    for key, metric, label in HEADLINES:
        entry = metrics.get(metric)
        row = _total_row(entry)
        unit = entry["unit"] if entry else "ratio"
        value = None if row is None else row["value"]
        rag = rag_of(metric, value, targets)
        detail: list[Any] = [
            html.Div([html.Span(f"Target {fmt_target(unit, targets.get(metric))}", className="sc-target"),
                      rag_badge(rag, compact=True)], className="sc-tile-target"),
            html.Div([change_component(change(metric, unit, value, row and row["previous"], targets),
                                       suffix=f" vs previous {period}"),
                      spark_slot(metric, "tile", trend)],
                     className="sc-tile-trend"),
        ]  # fmt: skip
        if metric == "order_cycle_time_p50_hours" and "order_cycle_time_p95_hours" in metrics:
            p95 = _total_row(metrics["order_cycle_time_p95_hours"])
            detail.append(html.Div(f"p95 {fmt_value('hours', p95 and p95['value'])}", className="sc-sub"))
        elif row is not None and row["n"]:
            detail.append(html.Div(_sample(metric, row["n"]), className="sc-sub"))
        tone = "idle" if is_missing(value) else RAG_TONE[rag] if metric in targets else "neutral"
        tiles.append(_tile(key, label, fmt_value(unit, value), detail, tone))
    total = exceptions.get("open_total") or 0
    critical = exceptions.get("critical") or 0
    oldest, mean = exceptions.get("oldest_hours"), exceptions.get("mean_age_hours")
    tiles.append(_tile(
        "exception_aging", "Open exceptions", fmt_int(total),
        [html.Div(f"{fmt_int(critical)} critical · oldest {fmt_value('hours', oldest)}", className="sc-sub"),
         html.Div(f"mean age {fmt_value('hours', mean)} · now, not per period", className="sc-sub")],
        "breach" if critical else ("warning" if total else "ok"),
    ))  # fmt: skip
    return tiles


#: Sparkline sizes by where they sit: (width, height) in px.
SPARK_SIZES = {"tile": (72, 22), "table": (96, 26)}


def spark_label(metric: str) -> str:
    """What a metric's sparkline is of, for its alt text: 'Perfect order rate rate', 'Order cycle … p50'."""
    kpi = _kpi_of(metric)
    return f"{KPI_BY_NAME[kpi].label} {_measure(metric, kpi)}"


def spark_slot(metric: str, place: str, trend: Trend | None) -> html.Div:
    """Where a metric's sparkline goes (``place`` tile or table): drawn now when ``trend`` is given,
    else left empty for the page's trend callback to fill (the trend costs a query per slice)."""
    inner = None if trend is None else spark_fill([{"metric": metric, "place": place}], trend)[0]
    return html.Div(inner, id={"type": "sc-spark", "metric": metric, "place": place}, className="spark-slot")


def spark_fill(slots: Sequence[Mapping[str, str]], trend: Trend) -> list[Any]:
    """The sparkline of each slot id (``{"metric", "place"}``), in order."""
    out = []
    for slot in slots:
        width, height = SPARK_SIZES[slot["place"]]
        unit = METRIC_BY_NAME[slot["metric"]][1].unit
        out.append(sparkline(trend.get(slot["metric"], ()), unit=unit, label=spark_label(slot["metric"]),
                             width=width, height=height))  # fmt: skip
    return out


def _sample(metric: str, n: Any) -> str:
    what = {"sla_adherence": "steps", "first_pass_sync_success": "messages", "mttr_hours": "resolved"}
    return f"{fmt_int(n)} {what.get(metric, 'orders')}"


def _tile(key: str, label: str, value: str, detail: list[Any], tone: str) -> html.Div:
    """The overview's tile, with a detail that can hold a coloured change."""
    return html.Div(
        className=f"tile tone-{tone}",
        **{"data-kpi": key},
        children=[
            html.Div(label, className="tile-label"),
            html.Div(value, className="tile-value"),
            html.Div(detail, className="tile-detail sc-detail"),
        ],
    )


def _measure(metric: str, kpi: str) -> str:
    """'p50' for percentile metrics, else what the number is."""
    rest = metric[len(kpi) :].strip("_")
    if rest.startswith("p") and rest[1:3].isdigit():
        return rest.split("_")[0]
    return {"mttr_hours": "mean", "oversell_incidents": "count"}.get(metric, "rate")


def _kpi_of(metric: str) -> str:
    return max((k for k in KPI_BY_NAME if metric == k or metric.startswith(f"{k}_")), key=len)


def kpi_table(
    breakdown: Mapping[str, Any],
    *,
    names: Mapping[str, str],
    targets: Targets | None = None,
    trend: Trend | None = None,
) -> html.Div:
    """Every KPI for the period against its target: as one total (value, previous, change, target,
    status, trend) or one column per group (each value tinted by its status)."""
    entries = breakdown["kpis"]
    grouped = breakdown["group_by"] is not None
    targets = targets or {}
    if grouped:
        groups = sorted({r["group"] for e in entries for r in e["rows"]}, key=lambda g: (g is None, str(g)))
        ungrouped = UNGROUPED[breakdown["group_by"]]
        head = [html.Th("KPI"), html.Th(""), html.Th("Target", className="num")] + [
            html.Th(_group_name(g, names, ungrouped), className="num") for g in groups
        ]
    else:
        groups = [None]
        head = [html.Th("KPI"), html.Th(""), html.Th("This period", className="num"),
                html.Th("Previous", className="num"), html.Th("Change", className="num"),
                html.Th("Target", className="num"), html.Th("Status"),
                html.Th("Trend", className="sc-trend-h")]  # fmt: skip
    body = []
    previous_kpi = None
    for e in entries:
        kpi = _kpi_of(e["kpi"])
        label = KPI_BY_NAME[kpi].label if kpi != previous_kpi else ""
        previous_kpi = kpi
        rows = {r["group"]: r for r in e["rows"]} if e["rows"] else {g: _total_row(e) for g in groups}
        cells: list[Any] = [html.Td(label, className="sc-kpi"),
                            html.Td(_measure(e["kpi"], kpi), className="sc-measure")]  # fmt: skip
        if grouped:
            cells.append(html.Td(fmt_target(e["unit"], targets.get(e["kpi"])), className="num sc-target"))
        for g in groups:
            row = rows.get(g)
            value, prev = (row["value"], row["previous"]) if row else (None, None)
            delta = change(e["kpi"], e["unit"], value, prev, targets)
            rag = rag_of(e["kpi"], value, targets)
            if grouped:
                sample = f"{fmt_int(row['n'])} in the period" if row else ""
                cells.append(html.Td([html.Div(fmt_value(e["unit"], value)), change_component(delta)],
                                     className=f"num rag-cell rag-cell-{rag}", title=sample,
                                     **{"data-rag": str(rag)}))  # fmt: skip
            else:
                cells += [html.Td(fmt_value(e["unit"], value), className="num sc-value"),
                          html.Td(fmt_value(e["unit"], prev), className="num muted"),
                          html.Td(change_component(delta), className="num"),
                          html.Td(fmt_target(e["unit"], targets.get(e["kpi"])), className="num sc-target"),
                          html.Td(rag_badge(rag) if e["kpi"] in targets else "—"),
                          html.Td(spark_slot(e["kpi"], "table", trend), className="sc-trend")]  # fmt: skip
        body.append(html.Tr(cells, className="sc-first" if label else "", **{"data-metric": e["kpi"]}))
    table = html.Table([html.Thead(html.Tr(head)), html.Tbody(body)], className="data-table sc-kpis")
    missing = [KPI_BY_NAME[k].label for k in breakdown["not_applicable"]]
    note = None
    if missing:
        where = f"per {GROUPS[breakdown['group_by']]}" if grouped else "as one total (see the flows below)"
        note = html.Div(f"Not measured {where}: {', '.join(missing)}", className="table-note")
    return html.Div([table, note])


def _group_name(group: Any, names: Mapping[str, str], ungrouped: str) -> str:
    if group is None:
        return ungrouped
    return short_name(names.get(group, str(group)))


def system_names(flows: pd.DataFrame) -> dict[str, str]:
    """System id → name, from the flow definitions' two ends."""
    names = dict(zip(flows["source_system"], flows["source_name"], strict=True))
    names.update(zip(flows["target_system"], flows["target_name"], strict=True))
    return names


#: The KPIs (per flow) :func:`flow_sla_table` shows.
FLOW_TABLE_KPIS = ("sync_lag", "sla_adherence", "first_pass_sync_success")


def flow_sla_table(by_flow: Mapping[str, Any], flows: pd.DataFrame) -> html.Div:
    """Per flow: p95 sync lag against its SLA (the one target there is), SLA adherence and
    first-pass success, each with its change; flows furthest from their SLA first."""
    metrics = _by_metric(by_flow)

    def rows_of(metric: str) -> dict[str, Mapping[str, Any]]:
        return {r["group"]: r for r in metrics[metric]["rows"]} if metric in metrics else {}

    lag, adherence = rows_of("sync_lag_p95_seconds"), rows_of("sla_adherence")
    first = rows_of("first_pass_sync_success")

    def furthest_first(f: Any) -> tuple[bool, float]:
        p95 = lag.get(f.flow_id, {}).get("value")
        return is_missing(p95), -float(p95 or 0) / float(f.sla_seconds)

    body = []
    for f in sorted(flows.itertuples(), key=furthest_first):
        health = lag_status(lag.get(f.flow_id, {}).get("value"), f.sla_seconds)
        cells = [html.Td(f.name, className="cell-flow", title=f.flow_id),
                 html.Td(fmt_in_unit(f.sla_seconds, 3600.0), className="num")]  # fmt: skip
        for metric, source, unit in (("sync_lag_p95_seconds", lag, "seconds"), ("sla_adherence", adherence, "ratio"),
                                     ("first_pass_sync_success", first, "ratio")):  # fmt: skip
            row = source.get(f.flow_id)
            value, prev = (row["value"], row["previous"]) if row else (None, None)
            lag_column = metric == "sync_lag_p95_seconds"
            cls = f"num sc-value cell-{health}" if lag_column else "num sc-value"
            delta = change_component(change(metric, unit, value, prev))
            shown = fmt_in_unit(value, 3600.0) if lag_column else fmt_value(unit, value)
            cells.append(html.Td([html.Div(shown), delta], className=cls))  # the change under its value
        cells.append(html.Td(badge({"breach": "Over SLA", "warning": "Near SLA", "ok": "Within SLA",
                                    "idle": "No steps"}[health], health)))  # fmt: skip
        body.append(html.Tr(cells, **{"data-flow": f.flow_id}))
    head = html.Thead(html.Tr([
        html.Th("Flow"), html.Th("SLA, target (h)", className="num"), html.Th("Sync lag p95 (h)", className="num"),
        html.Th("SLA adherence", className="num"), html.Th("First-pass success", className="num"),
        html.Th("p95 vs SLA"),
    ]))  # fmt: skip
    return html.Div(html.Table([head, html.Tbody(body)], className="data-table sc-flows"))


#: Partner metrics per kind, with their column label and unit.
PARTNER_METRICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "3pl": (("confirmation_lag_p95_hours", "Shipment confirmation p95", "hours"),
            ("event_completeness", "Confirmations complete", "ratio"),
            ("error_rate", "Error rate", "ratio")),
    "supplier": (("confirmation_lag_p95_hours", "855 ack p95", "hours"),
                 ("asn_completeness", "ASN completeness", "ratio"),
                 ("event_completeness", "855 completeness", "ratio"),
                 ("error_rate", "Error rate", "ratio")),
}  # fmt: skip


def confirm_slas(flows: pd.DataFrame) -> dict[str, float]:
    """Per partner: the SLA of the step it confirms (the longest, if it confirms on several flows)."""
    slas: dict[str, float] = {}
    for f in flows.itertuples():
        for kind, (start, end) in CONFIRMS.items():
            if (f.start_event, f.end_event) == (start, end):
                partner = f.source_system if kind == "3pl" else f.target_system
                slas[partner] = max(slas.get(partner, 0.0), float(f.sla_seconds))
    return slas


def partner_table(scorecard: Sequence[Mapping[str, Any]], kind: str, slas: Mapping[str, float]) -> html.Div:
    """One partner kind's scorecard: each metric this period with its change; the confirmation
    lag is coloured against the SLA of the step the partner confirms."""
    partners = [p for p in scorecard if p["kind"] == kind]
    if not partners:
        return html.Div(f"No {'3PLs' if kind == '3pl' else 'suppliers'} configured", className="empty-state")
    columns = PARTNER_METRICS[kind]
    lags = [p["metrics"].get("confirmation_lag_p95_hours", {}).get("value") for p in partners]
    lags += [slas[p["partner"]] / 3600 for p in partners if p["partner"] in slas]
    word, per = duration_unit(max([float(v) * 3600 for v in lags if not is_missing(v)], default=0.0))
    short = UNIT_SHORT[word]
    body = []
    for p in partners:
        cells: list[Any] = [html.Td(p["name"], className="sc-partner")]
        for metric, _label, unit in columns:
            m = p["metrics"].get(metric, {})
            value = m.get("value")
            cls = "num sc-value"
            extra = None
            if metric == "confirmation_lag_p95_hours" and p["partner"] in slas:
                sla = slas[p["partner"]]
                cls += f" cell-{lag_status(None if value is None else value * 3600, sla)}"
                extra = html.Div(f"SLA {fmt_in_unit(sla, per)}", className="sc-sub")
            delta = change_component(change(metric, unit, value, m.get("previous")))
            shown = (
                fmt_in_unit(None if value is None else value * 3600, per) if unit == "hours" else fmt_value(unit, value)
            )
            cells.append(html.Td([html.Div(shown), extra, delta], className=cls))
        body.append(html.Tr(cells, **{"data-partner": p["partner"]}))
    head = html.Thead(html.Tr([html.Th("3PL" if kind == "3pl" else "Supplier")]
                              + [html.Th(f"{label} ({short})" if unit == "hours" else label, className="num")
                                 for _m, label, unit in columns]))  # fmt: skip
    return html.Div(html.Table([head, html.Tbody(body)], className="data-table sc-partners"))


#: The perfect-order components as a reader meets them: (name, how Flowwatch knows it).
PERFECT_ORDER_TEXT: dict[str, tuple[str, str]] = {
    "perfect": ("Perfect order", "all four at once, counted per order"),
    "on_time": ("On time", "dispatched by the promised ship-by: creation + acceptance, release and shipment SLAs"),
    "in_full": ("In full", "dispatched with no stock shortfall: no STOCK… acceptance failure, no stock hold"),
    "damage_free": ("Damage-free", "no return received for it (returns stand in for damage claims)"),
    "documents_right": ("Documents right", "every message accepted first time; no delivery-failure exception"),
}


def perfect_order_table(components: Mapping[str, Any]) -> html.Div:
    """The perfect order rate taken apart (SCOR's four components) with the proxy each one uses,
    this period against the previous; the component furthest from 100 % is where orders fail."""
    if not components["n"]:
        return html.Div("No order decided in this period yet", className="empty-state")
    body = []
    for row in components["rows"]:
        name, how = PERFECT_ORDER_TEXT[row["component"]]
        delta = change("perfect_order_rate", "ratio", row["value"], row["previous"])
        body.append(html.Tr([
            html.Td([html.Div(name, className="sc-kpi"), html.Div(how, className="sc-sub")]),
            html.Td(fmt_value("ratio", row["value"]), className="num sc-value"),
            html.Td(fmt_value("ratio", row["previous"]), className="num muted"),
            html.Td(change_component(delta), className="num"),
        ], className="sc-first" if row["component"] == "perfect" else "",
           **{"data-component": row["component"]}))  # fmt: skip
    head = html.Thead(html.Tr([html.Th("Component"), html.Th("This period", className="num"),
                               html.Th("Previous", className="num"), html.Th("Change", className="num")]))  # fmt: skip
    note = html.Div(f"{fmt_int(components['n'])} orders decided this period (shipped, or past their ship-by), "
                    f"{fmt_int(components['previous_n'])} the period before", className="table-note")  # fmt: skip
    return html.Div([html.Table([head, html.Tbody(body)], className="data-table sc-perfect"), note])
