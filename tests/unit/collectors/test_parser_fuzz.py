"""The ingest parsers under hypothesis: any bytes, any JSON shape, any event-ish object — a result or
the parser's own 4xx error, never another exception (which the API would answer with a 500)."""

from __future__ import annotations

import gzip
from datetime import datetime

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.events import EventsDecodeError, parse_events
from collectors.otlp import OtlpDecodeError, decode_traces

NOW = datetime(2026, 3, 4, 12, 0)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
#: Objects close to a canonical event: the real field names with values of any JSON type.
EVENT_FIELDS = ["event_id", "correlation_id", "event_type", "flow_id", "source", "target", "occurred_at", "status",
                "attempt", "error_code", "error_message", "trace_id", "payload", "channel"]  # fmt: skip
eventish = st.dictionaries(st.sampled_from(EVENT_FIELDS), json_values, max_size=len(EVENT_FIELDS))


@FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(["application/json", "application/x-ndjson", "", "text/plain", "application/json; x"]),
)
def test_events_parser_takes_any_bytes(body: bytes, content_type: str) -> None:
    try:
        parse_events(body, content_type=content_type, received_at=NOW)
    except EventsDecodeError as exc:
        assert 400 <= exc.status_code < 500


@FUZZ
@given(doc=st.one_of(eventish, st.lists(eventish, max_size=5), json_values))
def test_events_parser_takes_any_json_document(doc: object) -> None:
    body = orjson.dumps(doc)
    try:
        parsed = parse_events(body, content_type="application/json", received_at=NOW)
    except EventsDecodeError as exc:
        assert 400 <= exc.status_code < 500
        return
    assert parsed.table.num_rows + len(parsed.rejected) == parsed.count


@FUZZ
@given(body=st.binary(max_size=2000), as_json=st.booleans(), gzipped=st.booleans())
def test_otlp_decoder_takes_any_bytes(body: bytes, as_json: bool, gzipped: bool) -> None:
    try:
        decode_traces(gzip.compress(body) if gzipped else body,
                      content_type="application/json" if as_json else "application/x-protobuf",
                      content_encoding="gzip" if gzipped else None, max_bytes=1 << 20)  # fmt: skip
    except OtlpDecodeError as exc:
        assert 400 <= exc.status_code < 500


@FUZZ
@given(doc=json_values)
def test_otlp_json_decoder_takes_any_json_document(doc: object) -> None:
    shaped = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [doc]}]}]}
    for candidate in (doc, shaped):
        try:
            decode_traces(orjson.dumps(candidate), content_type="application/json", content_encoding=None,
                          max_bytes=1 << 20)  # fmt: skip
        except OtlpDecodeError as exc:
            assert 400 <= exc.status_code < 500
