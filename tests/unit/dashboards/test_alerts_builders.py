"""Alerts page builders over the shapes GET /api/v1/alerts answers."""

from __future__ import annotations

from datetime import datetime

import pytest

from dashboards.components.alerts import (
    RULE_FORM_FIELDS,
    alert_rows,
    change_rows,
    change_summary,
    channel_cards,
    labels_from_text,
    matchers_from_text,
    notification_rows,
    rule_form_values,
    rule_from_form,
    rule_rows,
    silence_matchers_for,
    silence_rows,
)
from tests.dash_tree import text

NOW = datetime(2026, 3, 4, 12, 0)


def test_rows_say_state_why_and_when() -> None:
    rules = [{"id": "lag", "name": "Sync lag", "kind": "sync_lag", "threshold": 1.0, "for": "5m", "severity": "high",
              "state": "error", "health_detail": "CatalogException: order_facts", "defined_in": "edited",
              "updated_by": "sam", "enabled": True}]  # fmt: skip
    assert [text(c) for c in rule_rows(rules)[0]] == [
        "Sync lag",
        "sync_lag",
        "≥ 1 for 5m",
        "high",
        "error",
        "file, edited",
        "CatalogException: order_facts",
        "Edit Disable",
    ]
    assert text(rule_rows([{**rules[0], "enabled": False, "defined_in": "api"}])[0][7]) == "Edit Enable"
    alerts = {"firing": [{"rule_id": "dlq", "labels": {"queue": "q.dlq"}, "summary": "q.dlq: 5 waiting",
                          "firing_since": NOW}], "pending": [], "resolved": []}  # fmt: skip
    assert [text(c) for c in alert_rows(alerts)[0]] == [
        "firing",
        "dlq",
        "q.dlq",
        "q.dlq: 5 waiting",
        "Mar 4 12:00:00",
        "Silence…",
    ]
    labels = {"alertname": "dlq", "severity": "high", "queue": "q.dlq", "kind": "queue_depth", "flow": "f"}
    assert silence_matchers_for(labels) == 'alertname="dlq", flow="f", queue="q.dlq", kind="queue_depth"'
    health = {"firing": [{"rule_id": "lag", "labels": {"alertname": "lag", "kind": "rule_health",
                                                       "rule_health": "error"}, "summary": "Rule 'Lag' cannot be "
                          "evaluated: boom", "firing_since": NOW}]}  # fmt: skip
    assert text(alert_rows(health)[0][2]) == "the rule (error)"
    silences = [{"silence_id": 3, "matchers": [{"name": "flow", "op": "=", "value": "f"}], "author": "dana",
                 "comment": "ERP upgrade", "ends_at": "2026-03-04T11:00:00"}]  # fmt: skip
    assert silence_rows(silences, NOW)[0] == ["#3", 'flow="f"', "dana", "ERP upgrade", "Mar 4 11:00:00", "ended", ""]
    active = silence_rows([{**silences[0], "ends_at": "2026-03-04T13:00:00"}], NOW)[0]
    assert active[5] == "active" and text(active[6]) == "Expire"
    assert active[6].id == {"type": "al-silence-expire", "silence": 3}
    ended = silence_rows([{**silences[0], "expired_by": "sam"}], NOW)[0]
    assert ended[5] == "ended by sam"
    log = [{"sent_at": NOW, "channel": "slack", "kind": "firing", "result": "failed", "detail": "HTTP 500",
            "payload": {"summary": {"title": "Dead letters · NorthStar"}}}]  # fmt: skip
    assert [text(c) for c in notification_rows(log)[0]][3:] == ["failed", "HTTP 500", "Dead letters · NorthStar"]


def test_a_failing_channel_says_why_and_when_it_is_tried_again() -> None:
    (card,) = channel_cards([{"channel": "slack", "type": "slack", "status": "failing", "last_error": "HTTP 500",
                              "next_try_at": NOW, "last_success_at": None}])  # fmt: skip
    shown = text(card)
    assert "failing" in shown and "HTTP 500 · resting until Mar 4 12:00:00" in shown and "Send test" in shown
    assert text(channel_cards([])[0]) == "No channel configured: set FLOWWATCH_SLACK_* or FLOWWATCH_SMTP_*"


def test_silence_matchers_split_on_commas_outside_quotes() -> None:
    assert matchers_from_text('flow="a,b", kind=~"dead_letter|delivery_failed" ,system=d365') == [
        'flow="a,b"',
        'kind=~"dead_letter|delivery_failed"',
        "system=d365",
    ]
    assert matchers_from_text("  ") == [] and matchers_from_text(None) == []


def test_the_rule_form_round_trips_a_definition_and_names_a_bad_label() -> None:
    definition = {"id": "erp-dlq", "name": "ERP DLQ", "kind": "queue_depth", "threshold": 10.0, "for": "5m",
                  "severity": "critical", "route": None, "flow": ["a", "b"], "labels": {"team": "erp"},
                  "description": None, "dlq": True}  # fmt: skip
    values = dict(zip(RULE_FORM_FIELDS, rule_form_values(definition), strict=True))
    assert values["flow"] == "a, b" and values["labels"] == "team=erp"
    assert rule_from_form(values) == {k: definition[k] for k in RULE_FORM_FIELDS}  # dlq is not the form's
    new = dict(zip(RULE_FORM_FIELDS, rule_form_values(None), strict=True))
    assert rule_from_form({**new, "threshold": None, "for": ""}) == {
        "id": "", "name": "", "kind": "exceptions", "for": "0s", "severity": "high", "route": None, "flow": [],
        "labels": {}, "description": None,
    }  # fmt: skip
    assert labels_from_text('team=erp, tier="1"') == {"team": "erp", "tier": "1"}
    with pytest.raises(ValueError, match="labels: 'tier' is not name=value"):
        labels_from_text("team=erp, tier")


def test_a_change_says_what_it_changed() -> None:
    rule = {"id": "dlq", "kind": "queue_depth", "threshold": 1.0, "for": "2m", "enabled": True, "flow": []}
    assert change_summary(rule, {**rule, "threshold": 10.0, "flow": ["a", "b"]}) == "threshold: 1 → 10; flow: — → a, b"
    assert change_summary(rule, {**rule, "enabled": False}) == "enabled: yes → no"
    assert change_summary(None, rule) == "queue_depth ≥ 1 for 2m"
    assert change_summary(rule, None) == "was queue_depth ≥ 1 for 2m"
    silence = {"matchers": [{"name": "flow", "op": "=", "value": "f"}], "ends_at": "2026-03-04T14:00:00",
               "comment": "ERP upgrade", "expired_by": None}  # fmt: skip
    assert change_summary(None, silence) == 'flow="f" until Mar 4 14:00:00: ERP upgrade'
    ended = {**silence, "ends_at": "2026-03-04T12:30:00", "expired_by": "sam"}
    assert change_summary(silence, ended) == "ends_at: Mar 4 14:00:00 → Mar 4 12:30:00; expired_by: — → sam"
    assert change_summary({"user_name": "a"}, {"user_name": "b"}) == "user_name: a → b"
    row = {"changed_at": NOW, "actor": "sam", "action": "rule_edited", "target": "dlq", "before": rule,
           "after": {**rule, "for": "5m"}}  # fmt: skip
    assert change_rows([row])[0] == ["Mar 4 12:00:00", "sam", "rule edited", "dlq", "for: 2m → 5m"]
