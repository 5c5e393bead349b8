"""Workbench builders on hand-made inputs: URL ⇄ filter, grid pages, bulk plans and runs, the detail panel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from app.services import replay
from app.services.replay import MessageOutcome, ReplayOutcome
from dashboards.components import bulk as bulk_panel
from dashboards.components import exception_detail as xd
from dashboards.components import workbench as wb
from models.enums import ReplayStatus
from models.queries.exceptions import ExceptionFilter
from tests.dash_tree import having, props, text, with_class

NOW = datetime(2026, 3, 4, 15, 0)


def words(component: Any) -> str:
    """The text as a person reads it: pieces joined, runs of spaces collapsed."""
    return " ".join(text(component).split())


FLOWS = [
    {"flow_id": "3pl_north-d365-shipment", "name": "NorthStar Logistics → Dynamics 365 shipment confirmation",
     "source_system": "3pl_north", "source_name": "NorthStar Logistics", "target_system": "d365",
     "target_name": "Dynamics 365 (main ERP)"},
    {"flow_id": "shopify-d365-orders", "name": "Shopify storefront → Dynamics 365 orders",
     "source_system": "shopify", "source_name": "Shopify storefront", "target_system": "d365",
     "target_name": "Dynamics 365 (main ERP)"},
]  # fmt: skip


# ---- URL query ⇄ filter ---------------------------------------------------------------
def test_an_empty_query_is_the_default_view_open_and_acknowledged_without_snoozed() -> None:
    flt = wb.filter_from_query({})
    assert flt == ExceptionFilter(status=["open", "acknowledged"], snoozed=False)
    assert wb.query_from_filter(flt) == {}


def test_a_query_string_reproduces_its_view_and_the_canonical_query_round_trips() -> None:
    query = {"status": "open", "flow": "3pl_north-d365-shipment,shopify-d365-orders", "severity": "critical,high",
             "age": "1–3d", "kind": "dead_letter", "system": "d365", "assignee": "dana.okafor", "q": "SHP-1000437",
             "snoozed": "include", "tier": "key", "min": "2500"}  # fmt: skip
    flt = wb.filter_from_query(query)
    assert (flt.customer_tier, flt.min_value) == (["key"], 2500.0)

    assert [str(s) for s in flt.status] == ["open"]
    assert flt.flow_id == ["3pl_north-d365-shipment", "shopify-d365-orders"]
    assert flt.severity == ["critical", "high"]
    assert flt.age_band == ["1–3d"]
    assert (flt.kind, flt.system_id, flt.assignee, flt.text, flt.snoozed) == (
        ["dead_letter"], ["d365"], "dana.okafor", "SHP-1000437", None,
    )  # fmt: skip
    assert wb.query_from_filter(flt) == query


def test_unknown_values_are_dropped_so_a_stale_bookmark_still_opens() -> None:
    flt = wb.filter_from_query({"status": "open,closed", "severity": "urgent,low", "age": "ancient", "q": "  ",
                                "tier": "gold,standard", "min": "-5"})  # fmt: skip
    assert (flt.customer_tier, flt.min_value) == (["standard"], None)
    assert wb.filter_from_query({"min": "lots"}).min_value is None
    assert [str(s) for s in flt.status] == ["open"]
    assert flt.severity == ["low"]
    assert flt.age_band == []
    assert flt.text is None


def test_any_status_unassigned_and_only_snoozed() -> None:
    flt = wb.filter_from_query({"status": "any", "assignee": "Unassigned", "snoozed": "only"})
    assert flt.status == []
    assert flt.unassigned and flt.assignee is None
    assert flt.snoozed is True
    assert wb.query_from_filter(flt) == {"status": "any", "assignee": "unassigned", "snoozed": "only"}


def test_filter_bar_values_become_the_canonical_query_and_back() -> None:
    controls = {"status": [], "kind": [], "flow": ["shopify-d365-orders"], "system": None, "severity": ["high"],
                "age": [], "assignee": " ", "q": "SKU", "snoozed": "hide", "tier": ["key"], "min": 1000.5}  # fmt: skip
    query = wb.query_from_controls(controls)
    assert query == {"status": "any", "flow": "shopify-d365-orders", "severity": "high", "q": "SKU", "tier": "key",
                     "min": "1000.5"}  # fmt: skip
    assert wb.controls_from_filter(wb.filter_from_query(query)) == {
        "status": [], "kind": [], "flow": ["shopify-d365-orders"], "system": [], "severity": ["high"], "age": [],
        "assignee": "", "q": "SKU", "snoozed": "hide", "tier": ["key"], "min": 1000.5,
    }  # fmt: skip


def test_flow_and_system_pickers_are_named_and_sorted() -> None:
    flows, systems = wb.filter_options(FLOWS)
    assert [o["label"] for o in flows] == [
        "NorthStar Logistics → Dynamics 365 shipment confirmation", "Shopify storefront → Dynamics 365 orders",
    ]  # fmt: skip
    assert systems == [
        {"label": "Dynamics 365", "value": "d365"},
        {"label": "NorthStar Logistics", "value": "3pl_north"},
        {"label": "Shopify storefront", "value": "shopify"},
    ]


# ---- the grid ---------------------------------------------------------------------------
def test_a_grid_block_request_becomes_offset_limit_and_a_server_sort() -> None:
    request = {"startRow": 50, "endRow": 100, "sortModel": [{"colId": "affected_orders", "sort": "asc"}]}
    assert wb.page_request(request) == (50, 50, "affected_orders", False)
    assert wb.page_request({"startRow": 0, "endRow": 50, "sortModel": [{"colId": "age", "sort": "desc"}]}) == (
        0, 50, "age", True,
    )  # fmt: skip
    # the title is not sortable on the server: the default order (most value at risk first) stays
    unsortable = {"startRow": 0, "endRow": 50, "sortModel": [{"colId": "title"}]}
    assert wb.page_request(unsortable) == (0, 50, "value_at_risk", True)
    assert wb.page_request(None) == (0, wb.PAGE_SIZE, "value_at_risk", True)
    assert wb.page_request({"sortModel": [{"colId": "ship_by", "sort": "desc"}]}) == (0, 50, "earliest_ship_by", True)


def test_every_sortable_column_has_a_server_sort_key() -> None:
    fields = {c["field"] for c in wb.GRID_COLUMNS if c.get("sortable", True)}
    assert fields == set(wb.SORT_KEYS)


def _item(**over: Any) -> dict[str, Any]:
    """One row as list_exceptions returns it."""
    row = {
        "exception_id": 17, "title": "NorthStar Logistics → Dynamics 365 shipment confirmation: 12 dead-lettered",
        "kind": "dead_letter", "flow_id": "3pl_north-d365-shipment",
        "flow_name": "NorthStar Logistics → Dynamics 365 shipment confirmation", "system_id": "3pl_north",
        "severity": "critical", "status": "acknowledged", "assignee": None, "occurrences": 1440,
        "affected_orders": 312, "age_seconds": 2 * 86400 + 3600, "age_band": "1–3d", "snoozed": False,
        "last_seen": datetime(2026, 3, 2, 16, 55), "value_at_risk": 48210.5, "customer_tier": "key",
        "earliest_ship_by": datetime(2026, 3, 3, 9, 30),
    }  # fmt: skip
    return {**row, **over}


def test_grid_rows_are_keyed_by_string_id_and_say_what_an_operator_reads() -> None:
    systems = wb.system_names(FLOWS)
    [row] = wb.grid_rows([_item()], systems)
    assert row == {
        "exception_id": "17", "severity": "critical",
        "title": "NorthStar Logistics → Dynamics 365 shipment confirmation: 12 dead-lettered", "kind": "Dead letter",
        "flow": "NorthStar Logistics → Dynamics 365 shipment confirmation", "system": "NorthStar Logistics",
        "value_at_risk": 48210.5, "tier": "key", "ship_by": "03 Mar 09:30",
        "affected_orders": 312, "occurrences": 1440, "age": "49.0", "age_band": "1–3d", "age_level": 3,
        "status": "acknowledged", "snoozed": False, "assignee": "—", "last_seen": "02 Mar 16:55",
    }  # fmt: skip
    [bare] = wb.grid_rows([_item(flow_name=None, flow_id=None, system_id=None, kind="new_rule", snoozed=True)], {})
    assert (bare["flow"], bare["system"], bare["kind"], bare["snoozed"]) == ("—", "—", "New rule", True)


def test_the_grid_is_as_tall_as_its_page_needs() -> None:
    assert wb.grid_height(0) == wb.grid_height(3) == 38 + 3 * 50 + 48 + 4
    assert wb.grid_height(8) == 38 + 8 * 50 + 48 + 4
    assert wb.grid_height(10_000) == wb.MAX_GRID_HEIGHT


def test_selection_header_counts_selected_and_matching() -> None:
    assert words(wb.selection_summary(2, 12, all_matching=False)) == "2 selected / 12 matching exceptions"
    assert words(wb.selection_summary(0, 1, all_matching=False)) == "0 selected / 1 matching exception"
    assert words(wb.selection_summary(2, 1200, all_matching=True)) == "All 1,200 matching exceptions selected"
    assert wb.selection_size(2, 1200, all_matching=True) == 1200
    assert wb.selection_size(2, 1200, all_matching=False) == 2


def test_tiles_tone_by_what_is_active() -> None:
    tiles = {t.key: t for t in wb.workbench_tiles(
        {"open_total": 21, "critical": 1, "high": 2, "oldest_hours": 139.2, "mean_age_hours": 37.3})}  # fmt: skip
    assert (tiles["active"].value, tiles["critical"].tone, tiles["high"].detail) == ("21", "breach", "18 medium or low")
    assert (tiles["oldest"].value, tiles["oldest"].detail, tiles["oldest"].tone) == (
        "5.8 d",
        "mean age 37.3 h",
        "breach",
    )
    calm = {t.key: t for t in wb.workbench_tiles({"open_total": 0, "oldest_hours": None, "mean_age_hours": None})}
    assert (calm["active"].tone, calm["critical"].tone, calm["oldest"].value, calm["oldest"].tone) == (
        "ok", "ok", "—", "idle",
    )  # fmt: skip


# ---- toasts -------------------------------------------------------------------------------
def _sent(n: int, status: ReplayStatus, target: str, **kw: Any) -> list[MessageOutcome]:
    return [MessageOutcome(f"e{i}", f"SO-{i}", i, status, f"e{i}:replay:1", target, **kw) for i in range(n)]


def test_replay_outcomes_in_one_line() -> None:
    sent = _sent(32, ReplayStatus.DELIVERED, "POST http://127.0.0.1:8000/sim/erp/d365/shipments", http_status=201)
    delivered = ReplayOutcome(10, ReplayStatus.DELIVERED, sent, 32, 32, 0, True, "32 of 32 delivered")
    assert wb.outcome_message(delivered) == (
        "Replayed #10: 32 messages delivered to /sim/erp/d365/shipments — exception resolved", "ok",
    )  # fmt: skip
    mixed = _sent(29, ReplayStatus.DELIVERED, "POST http://h/sim/erp/d365/sales-orders") + _sent(
        3, ReplayStatus.FAILED, "POST http://h/sim/erp/d365/sales-orders", error_code="HTTP-500",
        error="d365 answered 500", http_status=500)  # fmt: skip
    failed = ReplayOutcome(
        9, ReplayStatus.FAILED, mixed, 32, 29, 3, False, "29 of 32 delivered, 3 failed: HTTP-500: d365 answered 500"
    )
    assert failed.sent == 32
    assert wb.outcome_message(failed) == (
        "Replay of #9: 29 of 32 delivered, 3 failed: HTTP-500: d365 answered 500 — it stays open", "breach",
    )  # fmt: skip
    parked = wb.outcome_message(ReplayOutcome(4, ReplayStatus.PENDING_APPROVAL))
    assert parked[1] == "warning" and "second operator" in parked[0]
    assert wb.target_label("shipments.3pl_north.dlq") == "shipments.3pl_north.dlq"


def test_bulk_toast_says_how_many_changed_and_why_the_rest_did_not() -> None:
    report = {
        "counts": {"done": 2, "skipped": 1},
        "items": [
            {"status": "done", "error": None},
            {"status": "done", "error": None},
            {"status": "skipped", "error": "cannot resolve a resolved exception; reopen it first"},
        ],
    }
    assert bulk_panel.bulk_message("resolve", report) == (
        "Resolved 2 exceptions; 1 skipped (cannot resolve a resolved exception; reopen it first)", "ok",
    )  # fmt: skip
    assert bulk_panel.bulk_message("assign", {"counts": {"done": 1}, "items": []}, "sam") == (
        "Assigned 1 exception to sam",
        "ok",
    )
    assert bulk_panel.bulk_message("ignore", {"counts": {"skipped": 1}, "items": []})[1] == "warning"


def test_a_toast_that_failed_carries_the_breach_tone() -> None:
    node = wb.toast("Replay of #9 failed", "breach")
    assert "tone-breach" in props(node)["className"]
    assert text(node).startswith("Replay of #9 failed")
    assert having(node, "id", "ex-toast-close")


# ---- bulk replay --------------------------------------------------------------------------
#: Items are messages: exception 1 has two (one at risk of a duplicate), 3 has one, 4 and 5 none.
PLAN: dict[str, Any] = {
    "action": "replay", "selected": 4, "runnable": 3, "duplicate_risk": 1, "skipped": 2, "rate_per_second": 5.0,
    "text": "2 exceptions, 3 messages, ~0.6 s at 5/s",
    "items": [
        {"exception_id": 1, "event_id": "e1a", "flow_id": "shopify-d365-orders",
         "target": "http://h/sim/erp/d365/sales-orders", "duplicate_risk": False, "skip_reason": None},
        {"exception_id": 1, "event_id": "e1b", "flow_id": "shopify-d365-orders",
         "target": "http://h/sim/erp/d365/sales-orders", "duplicate_risk": True, "skip_reason": None},
        {"exception_id": 3, "flow_id": "3pl_north-d365-shipment", "target": "http://h/sim/erp/d365/shipments",
         "duplicate_risk": False, "skip_reason": None},
        {"exception_id": 4, "flow_id": "3pl_north-d365-shipment", "target": None, "duplicate_risk": False,
         "skip_reason": "exception 4 (sla_breach) has no failed message to replay"},
        {"exception_id": 5, "flow_id": "3pl_north-d365-shipment", "target": None, "duplicate_risk": False,
         "skip_reason": "exception 5 (queue_backlog) has no failed message to replay"},
    ],
}  # fmt: skip


def test_plan_breakdown_per_flow() -> None:
    names = {f["flow_id"]: f["name"] for f in FLOWS}
    assert bulk_panel.plan_breakdown(PLAN["items"], names) == [
        {"flow_id": "shopify-d365-orders", "flow": "Shopify storefront → Dynamics 365 orders", "selected": 2,
         "runnable": 2, "duplicate_risk": 1, "skipped": 0, "target": "/sim/erp/d365/sales-orders"},
        {"flow_id": "3pl_north-d365-shipment", "flow": "NorthStar Logistics → Dynamics 365 shipment confirmation",
         "selected": 3, "runnable": 1, "duplicate_risk": 0, "skipped": 2, "target": "/sim/erp/d365/shipments"},
    ]  # fmt: skip


def test_plan_view_shows_counts_duplicate_risk_and_grouped_skip_reasons() -> None:
    view = bulk_panel.plan_view(PLAN, {f["flow_id"]: f["name"] for f in FLOWS})
    facts = [text(f) for f in with_class(view, "ex-fact")]
    assert facts == ["Exceptions selected 4", "Messages to replay 3", "Of exceptions 2", "Duplicate risk 1",
                     "Skipped 2", "Paced at 5/s", "Takes about under 1 s"]  # fmt: skip
    assert text(with_class(view, "ex-plan-headline")[0]) == "2 exceptions, 3 messages, ~0.6 s at 5/s"
    assert "#1" in text(with_class(view, "ex-callout")) and "#3" not in text(with_class(view, "ex-callout"))
    assert [text(li) for li in with_class(view, "ex-skips")[0].children] == [
        "1 skipped: it (queue_backlog) has no failed message to replay",
        "1 skipped: it (sla_breach) has no failed message to replay",
    ]
    assert "/sim/erp/d365/sales-orders" in text(view)


def test_default_canary_is_small_and_never_more_than_the_run() -> None:
    assert [bulk_panel.default_canary(n) for n in (0, 3, 40, 200, 5000)] == [0, 3, 5, 20, 50]


def _report(status: str, **counts: int) -> dict[str, Any]:
    total = sum(counts.values())
    return {
        "run_id": 7,
        "actor": "ops.manager",
        "status": status,
        "total": total,
        "canary": 5,
        "rate_per_second": 10.0,
        "counts": counts,
        "processed": total - counts.get("pending", 0),
        "detail": None,
    }


def test_run_progress_draws_delivered_failed_and_skipped_shares() -> None:
    view = bulk_panel.run_progress(_report("running", delivered=5, failed=2, skipped=1, pending=2))
    widths = [props(s)["style"]["width"] for s in with_class(view, "ex-bar")[0].children]
    assert widths == ["50.00%", "20.00%", "10.00%"]
    assert text(with_class(view, "ex-run-counts")) == \
        "8 of 10 processed · 5 delivered · 2 failed · 1 skipped · 10/s · canary 5"  # fmt: skip
    assert props(view)["data-status"] == "running"
    assert bulk_panel.run_controls("running") == {"pause": False, "resume": True, "abort": False}
    assert bulk_panel.run_controls("paused") == {"pause": True, "resume": False, "abort": False}
    assert bulk_panel.run_controls("completed") == {"pause": True, "resume": True, "abort": True}


def test_a_finished_run_reports_its_outcome_and_items() -> None:
    canary = {**_report("canary_failed", failed=1, skipped=9), "detail": "canary failed on exception 3: HTTP-500: x"}
    assert bulk_panel.run_finished_message(canary) == (
        "Bulk replay #7 canary failed: 0 delivered, 1 failed, 9 skipped",
        "breach",
    )
    assert "canary failed on exception 3" in text(bulk_panel.run_progress(canary))
    assert bulk_panel.run_finished_message(_report("completed", delivered=3)) == (
        "Bulk replay #7 completed: 3 delivered, 0 failed, 0 skipped", "ok",
    )  # fmt: skip
    table = bulk_panel.run_items_table([
        {"exception_id": 3, "title": "Order SHP-1 rejected", "status": "failed", "error": "HTTP-500: down",
         "exception_status": "open"},
        {"exception_id": 4, "title": "Order SHP-2 rejected", "status": "delivered", "error": None,
         "exception_status": "resolved"},
    ])  # fmt: skip
    rows = [text(r) for r in table.children[0].children[1].children]
    assert rows == ["#3 Order SHP-1 rejected failed HTTP-500: down open", "#4 Order SHP-2 rejected delivered resolved"]


# ---- the detail panel -------------------------------------------------------------------------
PAYLOAD = {"order_id": "SHP-1000437", "lines": [{"sku": "PP-0440-CS", "qty": 2}]}


def _detail(**over: Any) -> dict[str, Any]:
    """A detail as get_exception returns it: a failed order message on a flow with a /sim target."""
    detail = {
        "exception_id": 9, "title": "Order SHP-1000437 rejected by Dynamics 365: SKU PP-0440-CS not mapped",
        "kind": "delivery_failed", "flow_id": "shopify-d365-orders", "system_id": "d365",
        "business_key": "SHP-1000437", "severity": "medium", "status": "open", "assignee": None,
        "first_seen": NOW - timedelta(hours=5), "last_seen": NOW - timedelta(hours=1), "occurrences": 2,
        "affected_orders": 1, "first_error": "SKU PP-0440-CS not mapped in D365 item master", "last_error": None,
        "event_id": "evt_1", "snoozed_until": None, "snoozed": False, "resolved_at": None, "resolution": None,
        "age_seconds": 5 * 3600.0, "age_band": "4–24h",
        "flow": {"flow_id": "shopify-d365-orders", "name": "Shopify storefront → Dynamics 365 orders",
                 "end_event": "order.accepted", "replay_kind": "http", "replay_four_eyes": None,
                 "replay_target": "/sim/erp/d365/sales-orders"},
        "event": {"event_id": "evt_1", "event_type": "order.created", "source": "shopify", "target": "d365",
                  "attempt": 1, "status": "failed", "received_at": NOW - timedelta(hours=5), "payload": PAYLOAD,
                  "payload_text": '{"order_id":"SHP-1000437"}'},
        "orders": ["SHP-1000437"], "orders_total": 1, "replays": [], "actions": [],
    }  # fmt: skip
    return {**detail, **over}


#: A failed message as the replay service reads it (flow settings beside it).
MESSAGE = {"event_id": "evt_1", "payload": '{"order_id":"SHP-1000437"}', "replay_kind": "http",
           "replay_target": "/sim/erp/d365/sales-orders", "event_type": "order.created",
           "end_event": "order.accepted", "replay_four_eyes": None}  # fmt: skip


def _refused(detail: dict[str, Any], messages: list[dict[str, Any]] | None = None,
             active: list[dict[str, Any]] | None = None) -> str | None:  # fmt: skip
    """What the replay service says of this exception (the page hands it to action_states)."""
    return replay.refusal(detail, [MESSAGE] if messages is None else messages, active or [])


def test_an_open_failed_message_can_take_every_action_but_reopen_and_approval() -> None:
    states = xd.action_states(_detail(), _refused(_detail()))
    assert set(states) == set(xd.BUTTONS)
    allowed = sorted(k for k, v in states.items() if v is None)
    assert allowed == ["ack", "assign", "fix", "ignore", "note", "replay", "resolve", "severity", "snooze"]
    assert states["reopen"] == "cannot reopen an open exception; only resolved or ignored exceptions reopen"
    assert states["approve"] == "no replay of this exception awaits approval"


def test_a_resolved_exception_greys_out_everything_but_reopen_and_note_with_the_lifecycle_reason() -> None:
    states = xd.action_states(_detail(status="resolved"), _refused(_detail(status="resolved")))
    assert sorted(k for k, v in states.items() if v is None) == ["note", "reopen"]
    assert states["resolve"] == "cannot resolve a resolved exception; reopen it first"
    assert states["replay"] == states["fix"] == "cannot replay a resolved exception; reopen it first"
    assert states["ack"] == "cannot ack a resolved exception; reopen it first"


@pytest.mark.parametrize(
    ("over", "messages", "active", "reason"),
    [
        ({"kind": "sla_breach"}, [], [], "exception 9 (sla_breach) has no failed message to replay"),
        ({}, [{**MESSAGE, "payload": None}], [], "the failed messages of exception 9 have no stored payload"),
        ({}, [{**MESSAGE, "replay_target": None}], [],
         "flow shopify-d365-orders has no replay target; its messages cannot be replayed"),
        ({}, None, [{"status": "running", "requested_by": "sam"}], "a replay of exception 9 is already in flight"),
        ({"status": "ignored"}, None, [], "cannot replay an ignored exception; reopen it first"),
    ],
)  # fmt: skip
def test_replay_is_refused_with_the_services_reason(over: dict[str, Any], messages: Any, active: Any,
                                                    reason: str) -> None:  # fmt: skip
    refused = _refused(_detail(**over), messages, active)
    assert refused == reason
    states = xd.action_states(_detail(**over), refused)
    assert states["replay"] == states["fix"] == reason


def test_a_parked_four_eyes_request_enables_approval_and_blocks_another_replay() -> None:
    pending = {"replay_id": 3, "status": "pending_approval", "requested_by": "dana.okafor",
               "requested_at": NOW, "diff": "--- a\n+++ b\n", "reason": "data_correction"}  # fmt: skip
    detail = _detail(replays=[pending])
    states = xd.action_states(detail, _refused(detail, active=[pending]))
    assert states["approve"] is None and states["reject"] is None
    assert states["replay"] == "a replay of exception 9 requested by dana.okafor awaits approval by a second operator"
    assert xd.approval_note(detail) == (
        "Replay requested by dana.okafor 04 Mar 15:00, edited (data_correction): another operator must approve it"
    )
    assert "replay awaits approval" in text(xd.detail_header(detail, now=NOW))


def test_invoice_flows_say_they_need_four_eyes_and_text_payloads_cannot_be_edited() -> None:
    invoice = _detail(flow={**_detail()["flow"], "end_event": "invoice.posted"})
    assert xd.four_eyes(invoice)
    assert "second operator" in xd.approval_note(invoice)
    edi = _detail(event={**_detail()["event"], "payload": "ISA*00*~"})
    states = xd.action_states(edi, _refused(edi))
    assert states["replay"] is None
    assert states["fix"] == "the stored payload is not JSON, so it cannot be edited; replay it unchanged"


def test_header_facts_and_orders() -> None:
    detail = _detail(orders=[f"SHP-{i}" for i in range(30)], orders_total=312, snoozed=True,
                     snoozed_until=NOW + timedelta(hours=4), assignee="sam")  # fmt: skip
    head = xd.detail_header(detail, now=NOW)
    assert text(head).startswith("#9 · Delivery failed Order SHP-1000437 rejected")
    assert [text(b) for b in with_class(head, "badge")] == ["medium", "open", "snoozed until 04 Mar 19:00"]
    assert having(head, "href", "/flows?flow=shopify-d365-orders")
    facts = text(xd.facts(detail))
    assert "Age 5.0 h · 4–24h" in facts and "Orders affected 312" in facts and "Assignee sam" in facts
    assert "Value at risk — Customer tier not known Earliest ship-by —" in facts  # nothing known of its orders
    valued = text(xd.facts(_detail(value_at_risk=48210.5, customer_tier="key", earliest_ship_by=NOW)))
    assert "Value at risk $48,210 Customer tier key Earliest ship-by 04 Mar 15:00" in valued
    part = xd.detail_header(_detail(incident={"incident_id": 3, "title": "Dynamics 365 unavailable",
                                              "status": "open"}), now=NOW)  # fmt: skip
    assert having(part, "href", "/incidents?id=3")
    assert "part of incident #3: Dynamics 365 unavailable (open)" in text(part)
    orders = xd.orders_section(detail)
    links = having(orders, "href")
    assert len(links) == xd.ORDER_LINKS
    assert props(links[0])["href"] == "/orders?id=SHP-0"
    assert text(orders).endswith("+288 more")
    assert props(xd.order_link("PO 45/1"))["href"] == "/orders?id=PO%2045/1"


def test_errors_show_the_latest_replay_failure_above_the_first_error() -> None:
    errors = xd.error_section(_detail(last_error="HTTP-500: d365 answered 500"))
    assert text(errors) == "Latest error HTTP-500: d365 answered 500 First error SKU PP-0440-CS not mapped in D365 " \
                           "item master"  # fmt: skip
    assert text(xd.error_section(_detail())) == "SKU PP-0440-CS not mapped in D365 item master"


def test_cause_and_payload() -> None:
    assert text(xd.cause_section(None)) == xd.NO_CAUSE
    cause = {"text": "NorthStar Logistics API errors rose to 80% of calls 12 min before the dead letters"}
    assert text(xd.cause_section(cause)) == "Likely cause " + cause["text"]
    payload = xd.payload_section(_detail())
    assert xd.pretty_payload(PAYLOAD) in text(payload)
    assert "order.created" in text(payload) and "attempt 1" in text(payload)
    assert xd.pretty_payload(PAYLOAD).startswith('{\n  "lines": [')
    assert "no failed message" in text(xd.payload_section(_detail(event=None)))


DIFF = """--- original
+++ edited
@@ -2,5 +2,5 @@
   "lines": [
     {
-      "sku": "PP-0440-CS",
+      "sku": "PP-0440-C",
       "qty": 2
"""


def test_diff_lines_are_classed_by_what_they_are() -> None:
    view = xd.diff_view(DIFF)
    classes = [props(line)["className"] for line in view.children]
    assert classes == ["ex-diff-file", "ex-diff-file", "ex-diff-hunk", "ex-diff-ctx", "ex-diff-ctx", "ex-diff-del",
                       "ex-diff-add", "ex-diff-ctx"]  # fmt: skip
    assert text(view.children[5]) == '-      "sku": "PP-0440-CS",'
    assert text(xd.diff_view(None)) == "Sent the stored payload unchanged"


def test_replays_newest_first_with_the_diff_of_an_edited_one() -> None:
    replays = [
        {"replay_id": 1, "status": "failed", "requested_by": "ops.manager", "requested_at": NOW, "approved_by": None,
         "bulk_run_id": None, "replay_event_id": "evt_1:replay:1", "error": "HTTP-500: down", "reason": None,
         "diff": None},
        {"replay_id": 2, "status": "delivered", "requested_by": "ops.manager", "requested_at": NOW,
         "approved_by": "sam", "bulk_run_id": None, "replay_event_id": "evt_1:replay:2", "error": None,
         "reason": "unmapped_sku", "diff": DIFF},
    ]  # fmt: skip
    view = xd.replays_section(_detail(replays=replays))
    items = with_class(view, "ex-replay")
    assert [props(i)["data-status"] for i in items] == ["delivered", "failed"]
    assert "approved by sam" in words(items[0]) and "Edited: unmapped sku" in words(items[0])
    assert with_class(items[0], "ex-diff-add")
    assert "HTTP-500: down" in text(items[1]) and "Sent the stored payload unchanged" in text(items[1])


def _action(action: str, actor: str = "ops.manager", outcome: str = "done", **parts: Any) -> dict[str, Any]:
    return {
        "action": action,
        "actor": actor,
        "acted_at": NOW,
        "outcome": outcome,
        "detail": parts.get("detail"),
        "before_state": parts.get("before", {}),
        "after_state": parts.get("after", {}),
    }


def test_each_audit_row_is_described_in_a_line() -> None:
    replayed = _action(
        "replay",
        outcome="failed",
        detail={
            "target": "POST http://h/sim/erp/d365/sales-orders",
            "http_status": 500,
            "error_code": "HTTP-500",
            "error": "down",
            "edited": True,
            "reason": "unmapped_sku",
        },
    )
    assert xd.describe_action(replayed) == "to /sim/erp/d365/sales-orders · HTTP-500: down · edited (unmapped_sku)"
    delivered = _action("replay", outcome="delivered", detail={"target": "POST http://h/sim/x", "http_status": 201})
    assert xd.describe_action(delivered) == "to /sim/x · HTTP 201"
    assert xd.describe_action(_action("assign", before={"assignee": None}, after={"assignee": "sam"})) == \
        "assignee none → sam"  # fmt: skip
    assert xd.describe_action(_action("set_severity", before={"severity": "low"}, after={"severity": "high"})) == \
        "severity low → high"  # fmt: skip
    assert xd.describe_action(_action("snooze", after={"snoozed_until": "2026-03-04T19:00:00"})) == \
        "until 2026-03-04 19:00"  # fmt: skip
    assert xd.describe_action(_action("note", detail={"text": "called NorthStar"})) == "called NorthStar"
    assert xd.describe_action(_action("resolve", detail={"resolution": None, "bulk": True})) == "bulk action"
    assert xd.describe_action(_action("resolve", actor="replay", detail={"replay_event_id": "evt_1:replay:2"})) == \
        "the replay delivered evt_1:replay:2"  # fmt: skip


def test_history_is_newest_first_with_actor_action_and_outcome() -> None:
    table = xd.history_section([
        _action("ack", before={"assignee": None}, after={"assignee": "ops.manager"}),
        _action("replay", outcome="delivered", detail={"target": "POST http://h/sim/x", "http_status": 201}),
        _action("resolve", actor="replay", detail={"replay_event_id": "evt_1:replay:1"}),
    ])  # fmt: skip
    rows = table.children[1].children
    assert [props(r)["data-action"] for r in rows] == ["resolve", "replay", "ack"]
    assert text(rows[0]) == "04 Mar 15:00 replay Resolved done the replay delivered evt_1:replay:1"
    assert text(rows[2]) == "04 Mar 15:00 ops.manager Acknowledged done assignee none → ops.manager"
    assert text(xd.history_section([])) == "No actions yet"


def test_detail_body_sections_in_reading_order() -> None:
    sections = xd.detail_body(_detail(orders_total=3), None)
    assert [text(s.children[0]) for s in sections] == [
        "What failed", "Known error and runbook", "Likely cause", "Affected orders (3)", "Failed messages (0)",
        "Replays (0)", "History", "Failed message",
    ]  # fmt: skip


def test_known_error_explains_offers_the_safe_action_and_renders_the_runbook() -> None:
    known = {
        "class_id": "unmapped_sku",
        "name": "SKU not mapped",
        "explanation": "A line names an unknown SKU.",
        "runbook": "1. Map the SKU.\n2. *Edit and replay*.",
        "action": "edit_and_replay",
        "suggested_patch": '[{"op": "replace", "path": "/lines/0/sku", "value": "X"}]',
        "resolve_reason": None,
    }
    view = xd.known_error_section(known)
    assert props(view)["data-class"] == "unmapped_sku"
    assert text(with_class(view, "ex-known-action")[0]) == "Edit and replay: fix the payload first"
    assert "A line names an unknown SKU." in text(view) and '"path": "/lines/0/sku"' in text(view)
    [runbook] = with_class(view, "ex-runbook")
    assert runbook.children == "1. Map the SKU.\n2. *Edit and replay*."  # Markdown, rendered by dcc.Markdown
    assert text(xd.known_error_section(None)) == "Not a known error class: see the error and the payload"


def test_failed_messages_list_undelivered_first_with_the_progress_line() -> None:
    messages = [
        {"event_id": f"evt_{n}", "correlation_id": f"SHP-{n}", "state": state, "replays": replays,
         "last_failed_at": NOW - timedelta(minutes=n), "last_error": err, "delivered_at": None}
        for n, state, replays, err in ((3, "failed", 1, "HTTP-500: down"), (1, "pending", 0, "503 upstream"),
                                       (2, "delivered", 1, None))
    ]  # fmt: skip
    counts = {"total": 60, "delivered": 57, "failed": 1, "pending": 2}
    view = xd.messages_section(_detail(messages=messages, message_counts=counts))
    assert text(with_class(view, "ex-message-progress")[0]) == (
        "57 of 60 delivered · 1 failed on replay · 2 not replayed yet"
    )
    rows = view.children[1].children[1].children
    assert [props(r)["data-state"] for r in rows] == ["failed", "pending", "delivered"]
    assert text(rows[0]).startswith("SHP-3 evt_3 failed 1")
    assert "+57 more messages" in text(view)
    assert "No failed messages" in text(xd.messages_section(_detail(kind="sla_breach")))


def test_replay_confirmation_states_counts_pace_duration_and_canary() -> None:
    summary = {"runnable": 120, "exceptions": 3, "rate_per_second": 5.0, "duplicate_risk": 4, "skipped": 6}
    title, body, yes = bulk_panel.replay_confirmation(summary, canary=10, rate=2.0, include_risky=False)
    assert title == "Start replaying 120 messages?" and yes == "Start replay of 120 messages"
    said = text(body)
    # 120 messages at the 2/s typed over the plan's 5/s: 60 s, which reads as "60 s"
    assert "Messages to replay 120" in said and "Of exceptions 3" in said and "Paced at 2/s" in said
    assert "Takes about 60 s" in said and "Canary batch 10" in said
    assert "The first 10 messages are a canary: if one of them fails, the run stops there." in said
    assert "4 messages at duplicate risk are left out." in said and "6 messages will not be sent" in said
    single = {"runnable": 1, "exceptions": 1, "rate_per_second": 50.0}
    _, one, _ = bulk_panel.replay_confirmation(single, canary=0, rate=None, include_risky=True)
    assert "Takes about under 1 s" in text(one) and "No canary batch" in text(one)
