"""Page furniture every page shares: titled cards on the 12-column grid, loading graphs."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
from dash import dcc, html

from dashboards.components.charts import empty_figure
from dashboards.theme import ACCENT

GRAPH_CONFIG = {"displayModeBar": False, "responsive": True}


def card(title: str, subtitle: str, body: Any, *, span: int, controls: Any = None) -> html.Section:
    """A titled card spanning ``span`` of the 12 grid columns."""
    head = [html.Div([html.H2(title), html.P(subtitle, className="card-sub")])]
    if controls is not None:
        head.append(html.Div(controls, className="card-controls"))
    return html.Section(className=f"card span-{span}", children=[html.Div(head, className="card-head"), body])


def graph(graph_id: str, height: int) -> dcc.Loading:
    """A graph that starts blank-with-a-message and shows a spinner only on slow loads."""
    return dcc.Loading(
        dcc.Graph(id=graph_id, figure=empty_figure("Loading…"), config=GRAPH_CONFIG, style={"height": f"{height}px"}),
        type="dot",
        color=ACCENT,
        delay_show=500,
    )


def page_header(title: str, subtitle: str, controls: list[Any]) -> html.Div:
    """The page title, its one-line purpose, and the page's controls on the right."""
    return html.Div(
        className="page-header",
        children=[
            html.Div([html.H1(title), html.P(subtitle, className="page-sub")]),
            html.Div(className="page-controls", children=controls),
        ],
    )


def keyed_grid(
    grid_id: str,
    columns: list[dict[str, Any]],
    *,
    row_id: str,
    empty_text: str,
    row_height: int = 40,
    class_name: str = "",
    **grid_options: Any,
) -> dag.AgGrid:
    """An auto-height AG Grid keyed by ``row_id`` (STYLE.md #8) with the app's look and options."""
    return dag.AgGrid(
        id=grid_id,
        columnDefs=columns,
        rowData=[],
        getRowId=f"params.data.{row_id}",
        defaultColDef={"sortable": True, "resizable": True, "suppressMovable": True},
        dashGridOptions={
            "domLayout": "autoHeight",
            "rowHeight": row_height,
            "headerHeight": 38,
            "tooltipShowDelay": 400,
            "suppressCellFocus": True,
            "localeText": {"noRowsToShow": empty_text},
            **grid_options,
        },
        className=f"ag-theme-quartz fw-grid {class_name}".strip(),
        style={"height": None},
    )
