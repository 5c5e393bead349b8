"""Alerts page builders over the shapes GET /api/v1/alerts answers."""

from __future__ import annotations

from datetime import datetime

from dashboards.components.alerts import alert_rows, channel_cards, notification_rows, rule_rows, silence_rows
from tests.dash_tree import text

NOW = datetime(2026, 3, 4, 12, 0)


def test_rows_say_state_why_and_when() -> None:
    rules = [{"id": "lag", "name": "Sync lag", "kind": "sync_lag", "threshold": 1.0, "for": "5m", "severity": "high",
              "state": "error", "health_detail": "CatalogException: order_facts"}]  # fmt: skip
    assert [text(c) for c in rule_rows(rules)[0]] == [
        "Sync lag",
        "sync_lag",
        "≥ 1 for 5m",
        "high",
        "error",
        "CatalogException: order_facts",
    ]
    alerts = {"firing": [{"rule_id": "dlq", "labels": {"queue": "q.dlq"}, "summary": "q.dlq: 5 waiting",
                          "firing_since": NOW}], "pending": [], "resolved": []}  # fmt: skip
    assert [text(c) for c in alert_rows(alerts)[0]] == ["firing", "dlq", "q.dlq", "q.dlq: 5 waiting", "Mar 4 12:00:00"]
    silences = [{"silence_id": 3, "matchers": [{"name": "flow", "op": "=", "value": "f"}], "author": "dana",
                 "comment": "ERP upgrade", "ends_at": "2026-03-04T11:00:00"}]  # fmt: skip
    assert silence_rows(silences, NOW)[0] == ["#3", 'flow="f"', "dana", "ERP upgrade", "Mar 4 11:00:00", "ended"]
    log = [{"sent_at": NOW, "channel": "slack", "kind": "firing", "result": "failed", "detail": "HTTP 500",
            "payload": {"summary": {"title": "Dead letters · NorthStar"}}}]  # fmt: skip
    assert [text(c) for c in notification_rows(log)[0]][3:] == ["failed", "HTTP 500", "Dead letters · NorthStar"]


def test_a_failing_channel_says_why_and_when_it_is_tried_again() -> None:
    (card,) = channel_cards([{"channel": "slack", "type": "slack", "status": "failing", "last_error": "HTTP 500",
                              "next_try_at": NOW, "last_success_at": None}])  # fmt: skip
    shown = text(card)
    assert "failing" in shown and "HTTP 500 · resting until Mar 4 12:00:00" in shown and "Send test" in shown
    assert text(channel_cards([])[0]) == "No channel configured: set FLOWWATCH_SLACK_* or FLOWWATCH_SMTP_*"
