"""Error catalog admin builders: the class list links each class and says who edited it; the form's
change set holds only what changed, emptied optional fields as null, emptied required ones as ''."""

from __future__ import annotations

from dashboards.components.error_catalog import changes_from_form, class_table, form_values
from tests.dash_tree import props, text, walk

ROW = {"class_id": "rate_limited", "name": "Rate limited by the target", "codes": ["429", "ERP-429"],
       "explanation": "Throttled.", "runbook": "1. Wait.", "action": "replay", "suggested_patch": None,
       "resolve_reason": None, "position": 7, "origin": "config", "updated_by": None}  # fmt: skip


def test_list_links_and_source() -> None:
    edited = {**ROW, "class_id": "x", "name": "X", "codes": [], "updated_by": "dana", "position": 8}
    table = class_table([ROW, edited], selected="x")
    rows = [n for n in walk(table) if type(n).__name__ == "Tr" and "data-class" in props(n)]
    assert [text(r) for r in rows] == [
        "8 Rate limited by the target 429, ERP-429 Replay file",
        "9 X — Replay edited by dana",
    ]
    assert props(rows[1])["className"] == "is-selected"
    assert next(n.href for n in walk(table) if type(n).__name__ == "Link") == "/error-catalog?class=rate_limited"


def test_form_round_trip_and_change_set() -> None:
    values = form_values(ROW)
    assert values == ["Throttled.", "1. Wait.", "replay", "", ""]
    assert changes_from_form(ROW, values) == {}
    assert changes_from_form(ROW, ["Throttled.", "1. Wait.\n2. Replay.", "replay", " ", ""]) == {
        "runbook": "1. Wait.\n2. Replay."
    }
    assert changes_from_form(ROW, ["", "1. Wait.", "resolve", "", "handled"]) == {
        "explanation": "", "action": "resolve", "resolve_reason": "handled",
    }  # fmt: skip
    assert form_values(None) == ["", "", "", "", ""]
