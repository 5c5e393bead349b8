"""KPI scorecard: the week (or month) in every KPI of DESIGN.md, against the period before.

For an executive: headline KPIs with their change, every KPI as a total or per channel,
ERP, 3PL/warehouse or supplier, the partners' scorecards and the flows against their SLAs
(the only targets Flowwatch holds). ``?period=7d|30d&group=<dimension>`` reproduces a view.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, clientside_callback, dcc, html

from dashboards.app import current_ctx
from dashboards.components.charts import aging_figure
from dashboards.components.layout import card, graph, page_header
from dashboards.components.scorecard import (
    GROUPS,
    confirm_slas,
    flow_sla_table,
    headline_tiles,
    kpi_table,
    partner_table,
    system_names,
)
from models.queries.common import Window
from models.queries.flows import flow_definitions
from models.queries.kpis import kpi_breakdown, previous_window
from models.queries.overview import exception_aging, exception_totals
from models.queries.scorecard import partner_scorecard

dash.register_page(__name__, path="/scorecard", name="Scorecard", title="KPI scorecard · Flowwatch", order=40)

PERIODS = {"7d": "7 days", "30d": "30 days"}
READING = html.Ul(
    className="sc-reading",
    children=[
        html.Li("Each period ends now and is compared with the period of the same length just before it."),
        html.Li("Rates change in percentage points (pp); times and counts in per cent of the previous value."),
        html.Li("Percentiles are continuous (linear interpolation); orders count in the period they were created."),
        html.Li("Flowwatch holds no KPI targets: each flow's SLA is its target, so flows and partners are "
                "judged against it and the KPI totals are shown against last period only."),
    ],
)  # fmt: skip
DEFAULT_PERIOD = "7d"


def _window(period: str) -> Window:
    return Window.named(period, now=current_ctx().now())


def layout(**query: str) -> html.Div:
    """The scorecard for ``?period=7d|30d`` grouped by ``?group=total|channel|erp|fulfiller|supplier``."""
    period = query.get("period") if query.get("period") in PERIODS else DEFAULT_PERIOD
    group = query.get("group") if query.get("group") in GROUPS else "total"
    return html.Div(
        className="page",
        children=[
            page_header(
                "KPI scorecard",
                "How the order flow performed, against the period before",
                [
                    html.Span(id="sc-period-label", className="updated", children="loading…"),
                    dcc.RadioItems(
                        id="sc-period",
                        options=[{"label": f"Last {label}", "value": value} for value, label in PERIODS.items()],
                        value=period,
                        inline=True,
                        className="segmented",
                    ),
                ],
            ),
            html.Div(id="sc-tiles", className="tiles"),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Every KPI",
                        "As defined in Flowwatch's KPI table; green moved the right way, red the wrong way",
                        html.Div(id="sc-kpis", className="table-wrap"),
                        span=8,
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
                    html.Div(
                        className="span-4 sc-side",
                        children=[
                            card(
                                "Exception aging",
                                "Open and acknowledged now, by time since first seen",
                                graph("sc-aging-chart", 300),
                                span=12,
                            ),
                            card("Reading the numbers", "What is compared with what", READING, span=12),
                        ],
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
                    card(
                        "Flows against their SLA",
                        "Each flow's SLA is its target; furthest from it first",
                        html.Div(id="sc-flows", className="table-wrap"),
                        span=12,
                    ),
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
)
def _refresh_kpis(period: str, group: str) -> tuple[Any, ...]:
    """Headline tiles (always totals) and the KPI table for the chosen grouping."""
    window = _window(period)
    ctx = current_ctx()
    with ctx.engine.connect() as conn:
        totals = kpi_breakdown(conn, window=window)
        table = totals if group == "total" else kpi_breakdown(conn, window=window, group_by=group)
        exceptions = exception_totals(conn, now=window.until)
        names = system_names(flow_definitions(conn))
    before = previous_window(window)
    label = (
        f"{window.since:%b %-d %H:%M} – {window.until:%b %-d %H:%M} UTC · "
        f"vs {before.since:%b %-d} – {before.until:%b %-d}"
    )
    tiles = headline_tiles(totals, exceptions, period=PERIODS[period])
    return tiles, kpi_table(table, names=names), label


@dash.callback(
    Output("sc-3pl", "children"),
    Output("sc-suppliers", "children"),
    Output("sc-flows", "children"),
    Input("sc-period", "value"),
)
def _refresh_partners(period: str) -> tuple[Any, ...]:
    """Partners and flows are scored per period whatever the KPI grouping."""
    window = _window(period)
    with current_ctx().engine.connect() as conn:
        partners = partner_scorecard(conn, window=window, previous=previous_window(window))
        by_flow = kpi_breakdown(conn, window=window, group_by="flow")
        flows = flow_definitions(conn)
    slas = confirm_slas(flows)
    tables = (partner_table(partners, kind, slas) for kind in ("3pl", "supplier"))
    return *tables, flow_sla_table(by_flow, flows)


@dash.callback(Output("sc-aging-chart", "figure"), Input("sc-period", "value"))
def _refresh_aging(_period: str) -> Any:
    """Exception aging is a state, not a period total: it is drawn as of now."""
    ctx = current_ctx()
    with ctx.engine.connect() as conn:
        return aging_figure(exception_aging(conn, now=ctx.now()))


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
        window.history.pushState(null, "", window.location.pathname + "?" + params.toString());
    }
    """.replace("DEFAULT_PERIOD", DEFAULT_PERIOD),
    Input("sc-period", "value"),
    Input("sc-group", "value"),
)
