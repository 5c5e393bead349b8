"""KPI scorecard: the week (or month) in every KPI of DESIGN.md, against its target and the period before.

For an executive: headline KPIs with target, status and trend, every KPI as a total or per
channel, ERP, 3PL/warehouse or supplier, the partners' scorecards and the flows against their
SLAs; for an admin, the targets themselves. ``?period=7d|30d&group=<dimension>`` reproduces a
view (also on paper: the print stylesheet gives one clean A4/Letter report).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import dash
from dash import ALL, Input, Output, State, clientside_callback, dcc, html, no_update
from sqlalchemy.engine import Connection

from app.services.errors import ServiceError
from app.services.kpi_targets import set_target
from dashboards.app import acting_as, acts, can, current_ctx, shared
from dashboards.components.charts import aging_figure
from dashboards.components.layout import card, graph, page_header
from dashboards.components.scorecard import (
    FLOW_TABLE_KPIS,
    GROUPS,
    confirm_slas,
    flow_sla_table,
    headline_tiles,
    kpi_table,
    partner_table,
    perfect_order_table,
    spark_fill,
    system_names,
)
from dashboards.components.static import static_html
from dashboards.components.targets import input_unit, target_options, targets_admin_table
from models.enums import Access
from models.queries.common import Window
from models.queries.flows import flow_definitions
from models.queries.kpi_targets import list_targets
from models.queries.kpis import kpi_breakdown, kpi_trend, perfect_order_components, previous_window
from models.queries.overview import exception_aging_in_period, exception_totals
from models.queries.scorecard import partner_scorecard
from models.store.kpi_targets import TOLERANCE

T = TypeVar("T")

dash.register_page(
    __name__, path="/scorecard", name="Scorecard", title="KPI scorecard · Flowwatch", order=40,
    filters_note="The scorecard compares every channel, ERP and 3PL: pick one under “Group by”",
)  # fmt: skip

PERIODS = {"7d": "7 days", "30d": "30 days"}
#: Sparkline points per period: daily for a week, three-day slices for a month.
TREND_POINTS = {"7d": 7, "30d": 10}
READING = html.Ul(
    className="sc-reading",
    children=[
        html.Li("Each period ends now and is compared with the period of the same length just before it."),
        html.Li(f"Status: on target (✓) at or better than the target, near target (!) within {TOLERANCE:.0%} of it, "
                "off target (✕) beyond. Targets are set below by an admin, or in the targets file."),
        html.Li("Rates change in percentage points (pp); times and counts in per cent of the previous value."),
        html.Li("Trend: the KPI over the period, one point a day (7 days) or per three days (30 days)."),
        html.Li("Percentiles are continuous (linear interpolation); orders count in the period they were created."),
        html.Li("Flows and partners are judged against each flow's SLA."),
    ],
)  # fmt: skip
DEFAULT_PERIOD = "7d"


def _window(period: str) -> Window:
    return Window.named(period, now=current_ctx().now())


def _shared(name: str, period: str, read: Callable[[Connection, Window], T]) -> tuple[Window, T]:
    """``read`` of the period ending now, and that period (what the labels show): :func:`shared`."""
    now, value = shared(("scorecard", name, period), lambda conn, now: read(conn, Window.named(period, now=now)))
    return Window.named(period, now=now), value


def _admin() -> html.Details:
    """The admin's form: one metric's target and direction, saved through the targets service."""
    return html.Details(
        className="sc-admin",
        id="sc-admin",
        children=[
            html.Summary("Edit KPI targets (admin)"),
            html.Div(
                className="sc-admin-form",
                children=[
                    html.Label(
                        [
                            "KPI",
                            dcc.Dropdown(
                                id="sc-target-kpi",
                                options=target_options(),
                                value="perfect_order_rate",
                                clearable=False,
                            ),
                        ],
                        className="sc-field sc-field-wide",
                    ),
                    html.Label(
                        [
                            html.Span("Target", id="sc-target-unit"),
                            dcc.Input(id="sc-target-value", type="number", min=0, step="any", className="sc-input"),
                        ],
                        className="sc-field",
                    ),
                    html.Label(
                        [
                            "Better when",
                            dcc.RadioItems(
                                id="sc-target-direction",
                                options=[{"label": "Higher", "value": "higher"}, {"label": "Lower", "value": "lower"}],
                                inline=True,
                                className="segmented",
                            ),
                        ],
                        className="sc-field",
                    ),
                    html.Button("Save target", id="sc-target-save", className="button-primary", n_clicks=0),
                ],
            ),
            html.Div(id="sc-target-message", className="sc-target-message", role="status"),
            html.Div(id="sc-targets", className="table-wrap"),
        ],
    )


def layout(**query: str) -> html.Div:
    """The scorecard for ``?period=7d|30d`` grouped by ``?group=total|channel|erp|fulfiller|supplier``."""
    asked = query.get("period") or query.get("range")  # the global range, when it is a period
    period = asked if asked in PERIODS else DEFAULT_PERIOD
    group = query.get("group") if query.get("group") in GROUPS else "total"
    return html.Div(
        className="page sc-page",
        children=[
            dcc.Store(id="sc-targets-version", data=0),
            dcc.Store(id="sc-printed"),
            page_header(
                "KPI scorecard",
                "How the order flow performed against its targets and the period before",
                [
                    html.Span(id="sc-period-label", className="updated", children="loading…"),
                    dcc.RadioItems(
                        id="sc-period",
                        options=[{"label": f"Last {label}", "value": value} for value, label in PERIODS.items()],
                        value=period,
                        inline=True,
                        className="segmented",
                    ),
                    html.Button(
                        "Print / PDF",
                        id="sc-print",
                        className="button-quiet no-print",
                        n_clicks=0,
                        title="A4/Letter report of this view; choose 'Save as PDF' to keep a copy",
                    ),
                ],
            ),
            html.Div(id="sc-tiles", className="tiles sc-tiles"),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Every KPI against its target",
                        "Value, target and status this period, the change against the previous one (green moved "
                        "the right way), and the trend",
                        html.Div(id="sc-kpis", className="table-wrap"),
                        span=12,
                        controls=dcc.Dropdown(
                            id="sc-group",
                            options=[
                                {"label": f"By {noun}" if key != "total" else "All (total)", "value": key}
                                for key, noun in GROUPS.items()
                            ],
                            value=group,
                            clearable=False,
                            searchable=False,
                            className="category-select",
                        ),
                    ),
                    card(
                        "Perfect order, component by component",
                        "SCOR's order-level definition, and the events each component is read from",
                        html.Div(id="sc-perfect", className="table-wrap"),
                        span=6,
                    ),
                    card(
                        "Exception aging",
                        "Exceptions raised in the period, by how long they stayed open",
                        graph("sc-aging-chart", 280),
                        span=6,
                    ),
                    card(
                        "3PL scorecard",
                        "Shipment confirmations of released orders",
                        html.Div(id="sc-3pl", className="table-wrap"),
                        span=6,
                    ),
                    card(
                        "Supplier scorecard",
                        "Acknowledgements (855) and advance ship notices (856) of POs",
                        html.Div(id="sc-suppliers", className="table-wrap"),
                        span=6,
                    ),
                    card("Reading the numbers", "What is compared with what", READING, span=12),
                    card(
                        "Flows against their SLA",
                        "Each flow's SLA is its target; furthest from it first; times in hours",
                        html.Div(id="sc-flows", className="table-wrap"),
                        span=12,
                    ),
                    html.Section(className="card span-12 no-print", children=[_admin()], hidden=not can(Access.ADMIN)),
                ],
            ),
        ],
    )


@dash.callback(
    Output("sc-tiles", "children"),
    Output("sc-kpis", "children"),
    Output("sc-period-label", "children"),
    Input("sc-period", "value"),
    Input("sc-group", "value"),
    Input("sc-targets-version", "data"),
)
def _refresh_kpis(period: str, group: str, _version: int) -> tuple[Any, ...]:
    """Headline tiles (always totals) and the KPI table for the chosen grouping, against the targets."""
    ctx = current_ctx()

    def breakdown(group_by: str | None) -> Callable[[Connection, Window], dict[str, Any]]:
        return lambda conn, window: kpi_breakdown(conn, window=window, group_by=group_by, engine=ctx.engine)

    window, totals = _shared("totals", period, breakdown(None))
    table = totals if group == "total" else _shared(f"by {group}", period, breakdown(group))[1]
    with ctx.engine.connect() as conn:
        exceptions = exception_totals(conn, now=window.until)
        names = system_names(flow_definitions(conn))
        targets = list_targets(conn)
    before = previous_window(window)
    label = (
        f"{window.since:%b %-d %H:%M} – {window.until:%b %-d %H:%M} UTC · "
        f"vs {before.since:%b %-d} – {before.until:%b %-d}"
    )
    tiles = headline_tiles(totals, exceptions, period=PERIODS[period], targets=targets)
    return tiles, kpi_table(table, names=names, targets=targets), label


@dash.callback(
    Output({"type": "sc-spark", "metric": ALL, "place": ALL}, "children"),
    Input({"type": "sc-spark", "metric": ALL, "place": ALL}, "id"),
    State("sc-period", "value"),
)
def _sparklines(slots: list[dict[str, str]], period: str) -> list[Any]:
    """The trend of every KPI shown, once the tiles and the table are on screen (each trend point
    is the KPI's own query over a slice of the period, so it comes second, not first)."""
    if not slots:
        return []
    engine = current_ctx().engine

    def read(conn: Connection, window: Window) -> dict[str, list[float | None]]:
        return kpi_trend(conn, window=window, points=TREND_POINTS[period], engine=engine)

    return spark_fill(slots, _shared("trend", period, read)[1])


@dash.callback(
    Output("sc-3pl", "children"),
    Output("sc-suppliers", "children"),
    Input("sc-period", "value"),
)
def _refresh_partners(period: str) -> tuple[Any, ...]:
    """Partners are scored per period whatever the KPI grouping (the flows beside, in a callback of
    their own: each table shows as soon as it is ready)."""
    engine = current_ctx().engine

    def read(conn: Connection, window: Window) -> list[dict[str, Any]]:
        return partner_scorecard(conn, window=window, previous=previous_window(window), engine=engine)

    partners = _shared("partners", period, read)[1]
    with engine.connect() as conn:
        slas = confirm_slas(flow_definitions(conn))
    return tuple(static_html(partner_table(partners, kind, slas)) for kind in ("3pl", "supplier"))


@dash.callback(Output("sc-flows", "children"), Input("sc-period", "value"))
def _refresh_flows(period: str) -> Any:
    """Every flow against its SLA over the period, whatever the KPI grouping."""
    engine = current_ctx().engine

    def read(conn: Connection, window: Window) -> dict[str, Any]:
        return kpi_breakdown(conn, window=window, group_by="flow", only=FLOW_TABLE_KPIS, engine=engine)

    by_flow = _shared("flows", period, read)[1]
    with engine.connect() as conn:
        flows = flow_definitions(conn)
    return static_html(flow_sla_table(by_flow, flows))


@dash.callback(Output("sc-perfect", "children"), Input("sc-period", "value"))
def _refresh_perfect(period: str) -> Any:
    """The perfect order rate taken apart into its four components."""

    def read(conn: Connection, window: Window) -> dict[str, Any]:
        return perfect_order_components(conn, window=window)

    return static_html(perfect_order_table(_shared("perfect", period, read)[1]))


@dash.callback(Output("sc-aging-chart", "figure"), Input("sc-period", "value"))
def _refresh_aging(period: str) -> Any:
    """Exceptions first seen in the period, aged to their resolution (or to now while open)."""
    with current_ctx().engine.connect() as conn:
        aging = exception_aging_in_period(conn, window=_window(period))
    return aging_figure(aging, x_title="Time open (to resolution, or to now)", y_title="Exceptions raised",
                        empty="No exceptions raised in the period")  # fmt: skip


@dash.callback(
    Output("sc-targets", "children"),
    Input("sc-targets-version", "data"),
)
def _refresh_targets(_version: int) -> Any:
    """Every metric's target and who set it."""
    with current_ctx().engine.connect() as conn:
        return static_html(targets_admin_table(list_targets(conn)))


@dash.callback(
    Output("sc-target-value", "value"),
    Output("sc-target-direction", "value"),
    Output("sc-target-unit", "children"),
    Input("sc-target-kpi", "value"),
    Input("sc-targets-version", "data"),
)
def _fill_form(metric: str, _version: int) -> tuple[Any, ...]:
    """The chosen metric's current target, in the unit the admin types (shares as per cent)."""
    if not metric:
        return None, None, "Target"
    with current_ctx().engine.connect() as conn:
        current = list_targets(conn).get(metric)
    unit, factor = input_unit(metric)
    if current is None:
        return None, None, f"Target ({unit})"
    return round(current["target"] / factor, 6), current["direction"], f"Target ({unit})"


@dash.callback(
    Output("sc-target-message", "children"),
    Output("sc-target-message", "className"),
    Output("sc-targets-version", "data"),
    Input("sc-target-save", "n_clicks"),
    State("sc-target-kpi", "value"),
    State("sc-target-value", "value"),
    State("sc-target-direction", "value"),
    State("sc-targets-version", "data"),
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _save_target(_n: int, metric: str, value: Any, direction: str, version: int) -> tuple[Any, ...]:
    """Save through the same service as ``PUT /api/v1/kpis/targets/{kpi}``; refusals are shown as said."""
    if value is None:
        return "Enter a target value.", "sc-target-message error", no_update
    unit, factor = input_unit(metric)
    try:
        row = set_target(current_ctx(), metric, target=float(value) * factor, direction=direction, actor=acting_as())
    except ServiceError as exc:
        return f"Not saved: {exc}", "sc-target-message error", no_update
    shown = f"{row['target'] / factor:g} {unit}".replace(" %", "%")
    return (f"Saved: {metric} target {shown}, {row['direction']} is better (by {row['updated_by']}).",
            "sc-target-message ok", (version or 0) + 1)  # fmt: skip


# Period and grouping go into the URL without a reload (a Location update would rebuild the page).
clientside_callback(
    """
    function (period, group) {
        const params = new URLSearchParams(window.location.search);
        if ((params.get("period") || "DEFAULT_PERIOD") === period && (params.get("group") || "total") === group) {
            return;
        }
        params.set("period", period);
        if (group === "total") { params.delete("group"); } else { params.set("group", group); }
        window.fwPushState(window.location.pathname + "?" + params.toString());
    }
    """.replace("DEFAULT_PERIOD", DEFAULT_PERIOD),
    Input("sc-period", "value"),
    Input("sc-group", "value"),
)

# The browser's own print (A4/Letter by assets/print.css; "Save as PDF" keeps a copy).
clientside_callback(
    """
    function (n) { if (n) { window.print(); } return n; }
    """,
    Output("sc-printed", "data"),
    Input("sc-print", "n_clicks"),
    prevent_initial_call=True,
)
