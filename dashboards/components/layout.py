"""Page furniture every page shares: titled cards on the 12-column grid, loading graphs."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
from dash import dcc, html

from dashboards.components.charts import empty_figure
from dashboards.theme import ACCENT

GRAPH_CONFIG = {"displayModeBar": False, "responsive": True}


def card(
    title: str, subtitle: str, body: Any, *, span: int, controls: Any = None, csv: str | None = None
) -> html.Section:
    """A titled card spanning ``span`` of the 12 grid columns. A card showing a chart, a grid or a
    table (``table-wrap`` with an id) gets a "CSV" button that downloads that data; ``csv`` names
    another element to export."""
    head = [html.Div([html.H2(title), html.P(subtitle, className="card-sub")])]
    target = csv or data_target(body)
    tools = list(controls) if isinstance(controls, list | tuple) else [controls] if controls is not None else []
    if target is not None:
        tools.append(csv_button(target, slug(title)))
    if tools:
        head.append(html.Div(tools, className="card-controls"))
    return html.Section(className=f"card span-{span}", children=[html.Div(head, className="card-head"), body])


def csv_button(target: str, name: str) -> html.Button:
    """A small button that downloads the data of element ``target`` as ``<name>-<period>-<date>.csv``
    (done in the browser by assets/fw_export.js, from what the chart, grid or table shows)."""
    return html.Button(
        "CSV",
        className="csv-button no-print",
        title="Download this data as CSV",
        type="button",
        **{"data-csv-target": target, "data-csv-name": name, "aria-label": f"Download {name} as CSV"},
    )


def data_target(body: Any, depth: int = 4) -> str | None:
    """The id of the first chart, grid or table wrapper in ``body`` (a few levels down), if any."""
    nodes = [body]
    for _ in range(depth):
        following = []
        for node in nodes:
            node_id = getattr(node, "id", None)
            if isinstance(node_id, str):
                if isinstance(node, dcc.Graph | dag.AgGrid):
                    return node_id
                if isinstance(node, html.Div) and "table-wrap" in (getattr(node, "className", None) or "").split():
                    return node_id
            children = getattr(node, "children", None)
            following += children if isinstance(children, list) else [children] if children is not None else []
        nodes = following
    return None


def slug(title: str) -> str:
    """'Exception aging' → 'exception-aging' (file names)."""
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split()) or "data"


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
