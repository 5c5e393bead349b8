"""The Demo panel's builders: one row per breakable system, its switch and its replay counts."""

from __future__ import annotations

from dashboards.components import demo
from tests.dash_tree import props, text, with_class

SYSTEMS = [
    {"system_id": "sup_acme", "name": "Acme Industrial", "kind": "supplier"},
    {"system_id": "3pl_north", "name": "NorthStar Logistics", "kind": "3pl"},
    {"system_id": "d365", "name": "Dynamics 365", "kind": "erp"},
    {"system_id": "mw", "name": "Middleware", "kind": "middleware"},  # not a simulated system
]


def test_systems_in_an_operators_order_with_their_mode_and_counts() -> None:
    state = [{"system": "3pl_north", "mode": "error", "received": 40, "delivered": 12, "duplicates": 3,
              "failed": 25}]  # fmt: skip
    table = demo.systems_table(SYSTEMS, state)
    rows = table.children[1].children
    assert [props(r)["data-system"] for r in rows] == ["d365", "3pl_north", "sup_acme"]
    assert [props(r)["data-mode"] for r in rows] == ["ok", "error", "ok"]
    north = rows[1]
    assert text(with_class(north, "badge")[0]) == "Down"
    assert text(north).endswith("40 12 3 25")
    assert text(rows[0]).endswith("0 0 0 0")


def test_the_story_has_the_readmes_five_steps() -> None:
    steps = demo.story().children
    assert [text(s.children[0]) for s in steps] == ["Break a partner", "See it", "Fix it", "Replay", "Resolved"]
