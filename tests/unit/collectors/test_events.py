"""Canonical business events: bodies in, business_events rows and per-record errors out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from collectors import events
from collectors.events import (
    EventIn,
    EventsDecodeError,
    EventStatus,
    ParsedEvents,
    UnsupportedMediaType,
    parse_events,
    validate_events,
)
from models.store.tables import business_events

SAMPLES = Path(__file__).parent / "samples"
RECEIVED = datetime(2024, 5, 1, 9, 0, 0)
NDJSON = "application/x-ndjson"
JSON = "application/json"


def event(**overrides: Any) -> dict[str, Any]:
    base = {
        "event_id": "evt-1",
        "correlation_id": "SHP-1001",
        "event_type": "order.created",
        "source": "shopify",
        "occurred_at": "2024-05-01T08:00:00Z",
    }
    return {**base, **overrides}


def parse(body: bytes, content_type: str = JSON, received_at: datetime = RECEIVED) -> ParsedEvents:
    return parse_events(body, content_type=content_type, received_at=received_at)


def only_error(record: dict[str, Any]) -> str:
    parsed = parse(orjson.dumps(record))
    assert parsed.table.num_rows == 0, parsed.table.to_pylist()
    (rejection,) = parsed.rejected
    assert rejection["index"] == 0
    return rejection["error"]


def test_mixed_ndjson_keeps_the_good_lines_and_reports_the_bad() -> None:
    parsed = parse((SAMPLES / "events_mixed.ndjson").read_bytes(), NDJSON)

    assert parsed.count == 8  # the blank line is not a record
    assert [r["event_id"] for r in parsed.table.to_pylist()] == ["evt-1", "evt-2", "evt-4", "evt-8"]
    assert parsed.rejected == [
        {"index": 2, "error": "occurred_at: invalid datetime 'yesterday'"},
        {"index": 4, "error": "occurred_at: required; occured_at: unknown field"},
        {"index": 5, "error": "invalid JSON at line 7 column 50: unexpected end of data"},
        {
            "index": 6,
            "error": "event_id: expected a string, got number 7; attempt: expected an integer, got string '2'",
        },
    ]
    first, second, fourth, eighth = parsed.table.to_pylist()
    assert first == {
        "event_id": "evt-1",
        "correlation_id": "SHP-1001",
        "event_type": "order.created",
        "flow_id": "storefront-erp-orders",
        "source": "shopify",
        "target": "d365",
        "channel": "shopify",
        "occurred_at": datetime(2024, 5, 1, 8, 0, 0, 250000),  # +02:00 → UTC
        "received_at": RECEIVED,
        "status": "ok",
        "attempt": 1,
        "error_code": None,
        "error_message": None,
        "trace_id": None,
        "payload": '{"order":{"name":"#1001","lines":[{"sku":"SKU-1","qty":2}]}}',
    }
    assert second["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert second["occurred_at"] == datetime(2024, 5, 1, 8, 3, 10)
    assert (fourth["status"], fourth["attempt"], fourth["error_code"]) == ("failed", 3, "D365-409")
    assert fourth["occurred_at"] == datetime(2024, 5, 1, 8, 5)  # naive input is UTC already
    assert eighth["occurred_at"] == datetime(2024, 5, 1, 4, 30)  # -05:00 across midnight
    assert eighth["received_at"] == datetime(2024, 5, 1, 4, 31)  # the sender's, not ours
    assert eighth["payload"] is None


def test_table_has_the_business_events_columns_and_types() -> None:
    table = parse(orjson.dumps(event())).table
    assert table.schema.names == [c.name for c in business_events.columns]
    assert table.schema.field("occurred_at").type == pa.timestamp("us")
    assert table.schema.field("received_at").type == pa.timestamp("us")
    assert table.schema.field("attempt").type == pa.int16()
    assert table.schema.field("payload").type == pa.string()


def test_empty_result_still_has_the_schema() -> None:
    parsed = parse(orjson.dumps(event(occurred_at="soon")))
    assert parsed.table.num_rows == 0
    assert parsed.table.schema.names == [c.name for c in business_events.columns]


def test_single_object_and_array() -> None:
    single = parse(orjson.dumps(event()))
    assert (single.count, single.table.num_rows, single.rejected) == (1, 1, [])

    array = parse(orjson.dumps([event(event_id="a"), event(event_id=""), event(event_id="c"), 5]))
    assert array.count == 4
    assert array.table.column("event_id").to_pylist() == ["a", "c"]
    assert array.rejected == [
        {"index": 1, "error": "event_id: must not be empty"},
        {"index": 3, "error": "record: expected a JSON object, got number 5"},
    ]


def test_pretty_printed_object_is_one_record() -> None:
    parsed = parse(orjson.dumps(event(), option=orjson.OPT_INDENT_2))
    assert (parsed.count, parsed.table.num_rows) == (1, 1)


def test_ndjson_sent_as_application_json_is_detected() -> None:
    body = b"\n".join(orjson.dumps(event(event_id=f"e{i}")) for i in range(3))
    parsed = parse(body, "application/json; charset=utf-8")
    assert parsed.table.column("event_id").to_pylist() == ["e0", "e1", "e2"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{\n  "event_id": "evt-1",\n  "source": shopify\n}', "invalid JSON at line 3 column 13"),
        (b'[{"event_id": "a"},', "invalid JSON at line 1 column 20"),
        (b"  \n ", "body is empty"),
    ],
    ids=["broken-object", "truncated-array", "empty"],
)
def test_unreadable_json_body(body: bytes, message: str) -> None:
    with pytest.raises(EventsDecodeError, match=message):
        parse(body)


def test_invalid_utf8_names_the_byte() -> None:
    body = orjson.dumps(event(source="café")).replace("é".encode(), b"\xe9")
    position = body.index(b"\xe9")
    with pytest.raises(EventsDecodeError, match=f"body is not valid UTF-8 at byte {position}$"):
        parse(body, NDJSON)


def test_unsupported_content_type() -> None:
    with pytest.raises(UnsupportedMediaType, match="text/csv"):
        parse(b"event_id\n1", "text/csv")


def test_empty_ndjson_is_zero_records() -> None:
    parsed = parse(b"\n\n", NDJSON)
    assert (parsed.count, parsed.table.num_rows, parsed.rejected) == (0, 0, [])


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"event_id": None}, "event_id: expected a string, got null"),
        ({"event_id": "x" * 201}, "event_id: must be at most 200 characters, got 201"),
        ({"correlation_id": 1001}, "correlation_id: expected a string, got number 1001"),
        ({"source": ""}, "source: must not be empty"),
        (
            {"event_type": "OrderCreated"},
            "event_type: must look like 'order.created' (lower case, one dot), got 'OrderCreated'",
        ),
        ({"occurred_at": "yesterday"}, "occurred_at: invalid datetime 'yesterday'"),
        ({"occurred_at": "2024-05-01"}, "occurred_at: invalid datetime '2024-05-01'"),
        ({"occurred_at": "2024-02-30T10:00:00Z"}, "occurred_at: invalid datetime '2024-02-30T10:00:00Z'"),
        (
            {"occurred_at": 1714550400},
            "occurred_at: expected an RFC 3339 datetime string, got number 1714550400",
        ),
        ({"received_at": "01/05/2024 10:00"}, "received_at: invalid datetime '01/05/2024 10:00'"),
        ({"status": "done"}, "status: must be one of ok, failed, retrying, dead_lettered; got string 'done'"),
        ({"attempt": 0}, "attempt: must be at least 1, got number 0"),
        ({"attempt": 40000}, "attempt: must be at most 32767, got number 40000"),
        ({"attempt": 1.5}, "attempt: expected an integer, got number 1.5"),
        ({"attempt": True}, "attempt: expected an integer, got boolean true"),
        ({"trace_id": "abc"}, "trace_id: must be 32 hexadecimal characters, got 'abc'"),
        ({"target": ["d365"]}, "target: expected a string, got array"),
        ({"tenant": "acme", "sku": "A1"}, "tenant: unknown field; sku: unknown field"),
    ],
)
def test_record_errors_are_human_readable(overrides: dict[str, Any], error: str) -> None:
    assert only_error(event(**overrides)) == error


def test_missing_fields_are_all_listed() -> None:
    assert only_error({"payload": {}}) == (
        "event_id: required; correlation_id: required; event_type: required; source: required; occurred_at: required"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00+02:00", datetime(2024, 5, 1, 8, 0)),
        ("2024-05-01T01:30:00+05:30", datetime(2024, 4, 30, 20, 0)),
        ("2024-05-01T22:15:00.5-03:00", datetime(2024, 5, 2, 1, 15, 0, 500000)),
        ("2024-05-01t08:00:00z", datetime(2024, 5, 1, 8, 0)),
        ("2024-05-01 08:00:00.123456789Z", datetime(2024, 5, 1, 8, 0, 0, 123456)),  # ns truncated
        ("2024-05-01T08:00:00", datetime(2024, 5, 1, 8, 0)),
    ],
)
def test_offsets_are_normalised_to_naive_utc(text: str, expected: datetime) -> None:
    row = parse(orjson.dumps(event(occurred_at=text))).table.to_pylist()[0]
    assert row["occurred_at"] == expected


def test_received_at_argument_is_normalised_too() -> None:
    received = datetime(2024, 5, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    row = parse(orjson.dumps(event()), received_at=received).table.to_pylist()[0]
    assert row["received_at"] == datetime(2024, 5, 1, 9, 0)


def test_fast_path_and_pydantic_path_give_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The msgspec fast path must agree with EventIn, which is the authority."""
    body = b"\n".join(
        orjson.dumps(e)
        for e in (
            event(),
            event(event_id="é" * 200, trace_id="ABCDEF0123456789abcdef0123456789", status="dead_lettered"),
            event(received_at="2024-05-01T10:00:00.000001+01:00", attempt=32767, payload=[1, {"a": None}]),
            event(
                target=None,
                channel="b2b",
                flow_id="edi-850",
                error_code="E1",
                error_message="x",
                payload=None,
            ),
        )
    )
    assert all(events._fast_row(line, RECEIVED) for line in body.split(b"\n"))  # really the fast path
    fast = parse(body, NDJSON)
    monkeypatch.setattr(events, "_fast_row", lambda record, received_at: None)
    checked = parse(body, NDJSON)

    assert fast.rejected == checked.rejected == []
    fast_rows, checked_rows = fast.table.to_pylist(), checked.table.to_pylist()
    for fast_row, checked_row in zip(fast_rows, checked_rows, strict=True):
        # payload text may differ in whitespace (the fast path keeps the client's bytes)
        fast_payload, checked_payload = fast_row.pop("payload"), checked_row.pop("payload")
        assert fast_row == checked_row
        assert (fast_payload is None) == (checked_payload is None)
        if fast_payload is not None:
            assert orjson.loads(fast_payload) == orjson.loads(checked_payload)
    assert fast_rows[1]["trace_id"] == "abcdef0123456789abcdef0123456789"
    assert fast_rows[2]["received_at"] == datetime(2024, 5, 1, 9, 0, 0, 1)


def test_event_model_accepts_python_datetimes_for_adapters() -> None:
    model = EventIn.model_validate(
        event(occurred_at=datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))), status="failed")
    )
    assert model.occurred_at == datetime(2024, 5, 1, 8, 0)
    assert model.status is EventStatus.FAILED
    assert model.received_at is None


def test_validate_events_for_adapter_dicts() -> None:
    parsed = validate_events(
        [event(occurred_at=datetime(2024, 5, 1, 8, tzinfo=UTC)), event(event_type="bad")],
        received_at=RECEIVED,
    )
    assert parsed.count == 2
    assert parsed.table.column("occurred_at").to_pylist() == [datetime(2024, 5, 1, 8)]
    assert parsed.rejected == [
        {
            "index": 1,
            "error": "event_type: must look like 'order.created' (lower case, one dot), got 'bad'",
        }
    ]


def test_adapter_payload_with_decimal_amounts_is_stored_as_json_text() -> None:
    parsed = validate_events([event(payload={"total": Decimal("12.50"), "lines": 2})], received_at=RECEIVED)
    assert parsed.table.column("payload").to_pylist() == ['{"total":"12.50","lines":2}']
