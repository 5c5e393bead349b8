"""Reconciliation builders: the funnel per day and channel, each gap a link down to its keys.

Pure functions of the query layer's frames (:mod:`models.queries.reconciliation`); the page
only lays them out. A gap links to ``/reconciliation?…&day=&channel=&stage=``, so a selection
is a URL (bookmarkable, and the browser's back button works); each key links to its timeline.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from dashboards.components.charts import empty_figure
from dashboards.components.format import fmt_int
from models.queries.reconciliation import Stage

#: Choices of the page's range, in UTC days (today included).
DAY_CHOICES = (1, 3, 7, 14)


def gap_href(*, days: int, channel: str | None, day: str, gap_channel: str, stage: str) -> str:
    """The page URL selecting one gap (``day`` as YYYY-MM-DD), keeping the page's filters."""
    params = {"days": days, **({"channel": channel} if channel else {}), "day": day, "in": gap_channel,
              "stage": stage}  # fmt: skip
    return "/reconciliation?" + urlencode(params)


def funnel_rows(funnel: pd.DataFrame, stages: tuple[Stage, ...]) -> list[dict[str, Any]]:
    """One row per day and channel (newest day first): per stage its reached, missing and pending keys."""
    rows: list[dict[str, Any]] = []
    if funnel.empty:
        return rows
    ordered = funnel.sort_values(["day", "channel", "position"], ascending=[False, True, True])
    for (day, channel), cells in ordered.groupby(["day", "channel"], sort=False):
        by_stage = {c["stage"]: c for c in cells.to_dict("records")}
        rows.append({
            "day": pd.Timestamp(day).strftime("%Y-%m-%d"), "channel": str(channel),
            "stages": [{"stage": s.stage, "reached": int(by_stage.get(s.stage, {}).get("reached", 0)),
                        "missing": int(by_stage.get(s.stage, {}).get("missing", 0)),
                        "pending": int(by_stage.get(s.stage, {}).get("pending", 0)),
                        "excluded": int(by_stage.get(s.stage, {}).get("excluded", 0))} for s in stages],
        })  # fmt: skip
    return rows


def _cell(cell: dict[str, Any], *, days: int, channel: str | None, day: str, gap_channel: str) -> html.Td:
    parts: list[Any] = [html.Span(fmt_int(cell["reached"]), className="rc-reached")]
    if cell["missing"]:
        href = gap_href(days=days, channel=channel, day=day, gap_channel=gap_channel, stage=cell["stage"])
        parts.append(dcc.Link(f"{fmt_int(cell['missing'])} missing", href=href, className="rc-gap"))
    if cell["pending"]:
        parts.append(html.Span(f"{fmt_int(cell['pending'])} in flight", className="rc-pending"))
    if cell["excluded"]:
        parts.append(html.Span(f"{fmt_int(cell['excluded'])} cancelled/held", className="rc-excluded"))
    return html.Td(parts, className="num rc-cell" + (" rc-has-gap" if cell["missing"] else ""))


def funnel_table(
    funnel: pd.DataFrame, stages: tuple[Stage, ...], *, days: int, channel: str | None
) -> html.Table | html.Div:
    """Day, channel and one column per stage: keys reached, the gap as a link, keys in flight."""
    rows = funnel_rows(funnel, stages)
    if not stages:
        return html.Div("No reconciliation stages configured", className="empty-state")
    if not rows:
        return html.Div("No orders in this range", className="empty-state")
    head = html.Thead(html.Tr([html.Th("Day"), html.Th("Channel")]
                              + [html.Th(s.label, className="num") for s in stages]))  # fmt: skip
    body = [
        html.Tr([html.Td(r["day"]), html.Td(r["channel"])]
                + [_cell(c, days=days, channel=channel, day=r["day"], gap_channel=r["channel"]) for c in r["stages"]])
        for r in rows
    ]  # fmt: skip
    return html.Table([head, html.Tbody(body)], className="data-table rc-funnel")


def funnel_figure(funnel: pd.DataFrame, stages: tuple[Stage, ...]) -> go.Figure:
    """Keys reached per stage over the whole range, one funnel trace per channel."""
    if funnel.empty or not stages:
        return empty_figure("No orders in this range")
    fig = go.Figure()
    totals = funnel.groupby(["channel", "position"], sort=True)["reached"].sum()
    labels = [s.label for s in stages]
    for channel in sorted(funnel["channel"].unique()):
        values = [int(totals.get((channel, s.position), 0)) for s in stages]
        fig.add_trace(go.Funnel(name=str(channel), y=labels, x=values, textinfo="value"))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
    return fig


def gap_keys(gaps: pd.DataFrame, *, day: str, channel: str, stage: str) -> html.Div:
    """The missing keys of one gap, each linked to its order timeline, with when it was due."""
    chosen = gaps[
        (pd.to_datetime(gaps["day"]).dt.strftime("%Y-%m-%d") == day)
        & (gaps["channel"] == channel)
        & (gaps["stage"] == stage)
    ]
    if chosen.empty:
        return html.Div(f"Nothing missing at {stage} for {channel} on {day}", className="empty-state")
    label = str(chosen["label"].iloc[0])
    items = [
        html.Tr([
            html.Td(dcc.Link(key, href=f"/orders?id={quote(str(key))}", className="order-link")),
            html.Td(f"{pd.Timestamp(prev):%Y-%m-%d %H:%M}"),
            html.Td(f"{pd.Timestamp(due):%Y-%m-%d %H:%M}"),
            html.Td(str(src) if src is not None and not pd.isna(src) else "—",
                    title="the previous stage's message" + (" (replayable)" if replay else "")),
        ])
        for key, prev, due, src, replay in zip(chosen["correlation_id"], chosen["previous_at"], chosen["due_at"],
                                               chosen["source_event_id"], chosen["replay"], strict=True)
    ]  # fmt: skip
    return html.Div(
        [
            html.P(f"{len(items)} {channel} orders of {day} not {label.lower()} (UTC times)", className="rc-keys-head"),
            html.Table(
                [html.Thead(html.Tr([html.Th("Order"), html.Th("Previous stage at"), html.Th("Due by"),
                                     html.Th("Source message")])), html.Tbody(items)],
                className="data-table rc-keys",
            ),
        ]
    )  # fmt: skip
