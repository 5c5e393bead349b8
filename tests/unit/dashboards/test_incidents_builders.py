"""Incident page builders: the list links each incident and puts its impact in words; the summary names
the root cause with links; the timeline reads newest first; the buttons follow the service's refusals."""

from __future__ import annotations

from datetime import datetime

from app.services.incidents import IncidentResult
from dashboards.components import incidents as ib
from models.enums import IncidentAction
from tests.dash_tree import props, text, walk

T = datetime(2026, 3, 4, 14, 0)
ROW = {
    "incident_id": 4, "system_id": "d365", "system_name": "Dynamics 365", "title": "Dynamics 365 unavailable",
    "status": "acknowledged", "owner": "dana", "opened_at": T, "resolved_at": None, "resolution": None,
    "exceptions": 300, "active_exceptions": 298, "flows": 4, "orders": 1250, "value_at_risk": 48210.5,
    "customer_tier": "key", "earliest_ship_by": datetime(2026, 3, 5, 9, 30),
}  # fmt: skip


def _links(tree: object) -> list[str]:
    return [n.href for n in walk(tree) if type(n).__name__ == "Link"]


def test_list_rows_link_the_incident_and_show_its_impact() -> None:
    quiet = {**ROW, "incident_id": 2, "title": "WMS degraded", "status": "resolved", "owner": None,
             "value_at_risk": 0.0, "customer_tier": None}  # fmt: skip
    table = ib.incident_table([ROW, quiet], selected=4)
    rows = [n for n in walk(table) if type(n).__name__ == "Tr" and "data-incident" in props(n)]
    assert [text(r) for r in rows] == [
        "Dynamics 365 unavailable acknowledged dana 298 / 300 $48,210 key 04 Mar 14:00",
        "WMS degraded resolved — 298 / 300 $0 — 04 Mar 14:00",
    ]
    assert props(rows[0])["className"] == "is-selected" and props(rows[1])["className"] == ""
    assert _links(table) == ["/incidents?id=4", "/incidents?id=2"]
    assert "No incidents" in text(ib.incident_table([], selected=None))


def test_summary_names_the_root_cause_and_links_its_flows() -> None:
    detail = {**ROW, "flow_list": [{"flow_id": "shopify-d365-orders", "name": "Shopify → D365 orders"},
                                   {"flow_id": "d365-wms-release", "name": "D365 → WMS release"}]}  # fmt: skip
    summary = ib.incident_summary(detail)
    words = text(summary)
    for fact in ("Root cause Dynamics 365", "Owner dana", "Exceptions 298 open of 300", "Orders affected 1,250",
                 "Value at risk $48,210", "Customer tier key", "Earliest ship-by 05 Mar 09:30"):  # fmt: skip
        assert fact in words, fact
    assert _links(summary) == [
        "/exceptions?system=d365&status=any", "/flows?flow=shopify-d365-orders", "/flows?flow=d365-wms-release",
    ]  # fmt: skip


def test_timeline_is_newest_first_and_links_exceptions() -> None:
    entries = [
        {"at": T, "what": "exception", "actor": None, "detail": "Orders failing", "exception_id": 17},
        {"at": datetime(2026, 3, 4, 14, 5), "what": "open", "actor": "detector", "detail": "3 exceptions",
         "exception_id": None},
        {"at": datetime(2026, 3, 4, 14, 9), "what": "ack", "actor": "dana", "detail": None, "exception_id": None},
    ]  # fmt: skip
    items = [n for n in walk(ib.timeline(entries)) if type(n).__name__ == "Li"]
    assert [text(i) for i in items] == [
        "04 Mar 14:09 Acknowledged by dana",
        "04 Mar 14:05 Incident opened by detector 3 exceptions",
        "04 Mar 14:00 Exception first seen Orders failing",
    ]
    assert _links(items[2]) == ["/exceptions?id=17"]
    assert len([n for n in walk(ib.timeline(entries * 20, limit=40)) if type(n).__name__ == "Li"]) == 40


def test_buttons_follow_the_services_refusals_and_messages_say_what_happened() -> None:
    assert ib.disabled_actions("open") == [False, False, False]
    assert ib.disabled_actions("acknowledged") == [True, False, False]
    assert ib.disabled_actions("resolved") == [True, True, True]
    assert ib.disabled_actions(None) == [True, True, True]
    done = IncidentResult(4, IncidentAction.RESOLVE, {}, {"status": "resolved", "owner": "dana"}, 298)
    assert ib.action_message(done) == "Resolved incident #4 and 298 exceptions"
    acked = IncidentResult(4, IncidentAction.ACK, {}, {"status": "acknowledged", "owner": "dana"})
    assert ib.action_message(acked) == "Acknowledged incident #4; owner dana"


def test_resolve_confirmation_says_what_closes_with_it() -> None:
    title, body, yes = ib.resolve_confirmation(ROW, resolution="  D365 back after failover ")
    assert title == "Resolve incident #4: Dynamics 365 unavailable?"
    assert text(body) == (
        "Its 298 open exceptions across 4 flows close with it: 1,250 orders, $48,210 at risk. Each is audited "
        "under your name; reopening one brings it back. Resolution: D365 back after failover"
    )
    assert yes == "Resolve with 298 open exceptions"
    one = {**ROW, "active_exceptions": 1}
    _title, quiet, yes_one = ib.resolve_confirmation(one, resolution=None)
    assert yes_one == "Resolve with 1 open exception" and text(quiet).endswith("No resolution note given.")
