"""Builders of the Demo panel: the simulated systems, their fault switch and what they received."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import dcc, html

from dashboards.components.format import fmt_int
from dashboards.components.tables import badge

#: Fault modes as the switch offers them, and how each reads.
MODES = {"ok": "OK", "error": "Down", "timeout": "Timing out", "slow": "Slow"}
#: Badge tone of each mode.
MODE_TONE = {"ok": "ok", "error": "breach", "timeout": "breach", "slow": "warning"}
#: Systems the demo can break, in the order an operator thinks of them.
KIND_ORDER = ("erp", "3pl", "wms", "storefront", "supplier")


def systems_table(
    systems: Sequence[Mapping[str, Any]], state: Sequence[Mapping[str, Any]], *, can_switch: bool = True
) -> html.Table:
    """One row per simulated system: name and kind, the fault switch (disabled without ``can_switch``), and
    what its endpoints received from replays (received, delivered once, duplicates answered, failed by the fault)."""
    by_system = {s["system"]: s for s in state}
    ordered = sorted((s for s in systems if s["kind"] in KIND_ORDER),
                     key=lambda s: (KIND_ORDER.index(s["kind"]), s["name"]))  # fmt: skip
    rows = []
    for system in ordered:
        now = by_system.get(system["system_id"], {})
        mode = str(now.get("mode") or "ok")
        rows.append(html.Tr(
            **{"data-system": system["system_id"], "data-mode": mode},
            children=[
                html.Td([html.Div(system["name"], className="demo-system"),
                         html.Div(f"{system['kind'].upper()} · {system['system_id']}", className="muted")]),
                html.Td(badge(MODES[mode], MODE_TONE[mode])),
                html.Td(dcc.RadioItems(
                    id={"type": "demo-mode", "system": system["system_id"]},
                    value=mode, inline=True, className="segmented demo-switch",
                    inputStyle={} if can_switch else {"pointerEvents": "none"},
                    options=[{"label": label, "value": value, "disabled": not can_switch}
                             for value, label in MODES.items()],
                )),
                *(html.Td(fmt_int(now.get(k, 0)), className="num") for k in ("received", "delivered", "duplicates",
                                                                             "failed")),
            ],
        ))  # fmt: skip
    head = html.Thead(html.Tr([html.Th("System"), html.Th("Now"), html.Th("Switch"),
                               *(html.Th(h, className="num") for h in ("Replays", "Delivered",
                                                                       "Duplicates", "Failed"))]))  # fmt: skip
    return html.Table([head, html.Tbody(rows)], className="data-table demo-systems")


STORY = (
    (
        "Break a partner",
        "Switch NorthStar Logistics (3PL) to Down. The live traffic's releases to it fail and wait "
        "in release.3pl_north; its shipment confirmations are dead-lettered into shipments.3pl_north.dlq.",
    ),
    (
        "See it",
        "Within one detection interval the workbench shows a dead-letter exception on the NorthStar → "
        "Dynamics 365 shipment confirmation flow and a failing-release exception on Dynamics 365 → NorthStar, "
        "each counting its orders and messages; the outage opens nothing on flows that do not touch NorthStar.",
    ),
    (
        "Fix it",
        "Switch NorthStar back to OK. Waiting releases are retried and get through: the release queue "
        "drains. Dead letters stay in the DLQ until someone replays them.",
    ),
    (
        "Replay",
        "In the workbench, select the dead-letter exception and Replay: the plan counts messages "
        '(e.g. "1 exception, 23 messages, ~2.3 s at 10/s"); the run delivers each one under its own key.',
    ),
    (
        "Resolved",
        "Each exception resolves when its last message is delivered; the orders show the replay on "
        "their timeline and move on to dispatched, then invoiced. The failing-release exception resolves by itself "
        "after the hold-down (10 minutes clear).",
    ),
)


def story() -> html.Ol:
    """The incident story, step by step, as the README tells it."""
    return html.Ol([html.Li([html.B(title), html.Span(" — " + text)]) for title, text in STORY],
                   className="demo-story")  # fmt: skip
