"""Silent non-events: an expected next event that never came opens one missing_event exception per
expectation and cause listing its orders; near misses (in time, a minute early, cancelled, before the
cut-off's lead) are not listed; the catalogue file is validated with clear messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.detection.passes import DetectionSettings, run_detection
from models.detection.silent import deadline
from models.store.expectations import (
    DEFAULT_EXPECTATIONS_FILE,
    ExpectationsConfig,
    ExpectationsError,
    load_expectations,
    sync_expectations,
)
from tests.factories import event, events_table

NOW = datetime(2026, 3, 10, 12, 0)
H, M = timedelta(hours=1), timedelta(minutes=1)
RULES_ONLY = DetectionSettings(resolve_after_passes=1, resolve_after=timedelta(0))

CATALOGUE = ExpectationsConfig.model_validate(
    {
        "cutoffs": {"3pl": "15:00"},
        "expectations": [
            {"expectation_id": "acceptance", "name": "Accepted in the ERP within 15 min", "after": "order.created",
             "expect": "order.accepted", "within_minutes": 15, "system_id": "erp", "unless": ["order.cancelled"]},
            {"expectation_id": "asn", "name": "ASN within 24 h of the 855", "after": "po.acknowledged",
             "expect": "asn.received", "within_minutes": 24 * 60, "system_id": "sup"},
            {"expectation_id": "release", "name": "Released before the 3PL cut-off", "after": "order.accepted",
             "expect": "order.released", "cutoff_system": "3pl", "cutoff_lead_minutes": 60},
        ],
    }
)  # fmt: skip


@pytest.fixture()
def db(fresh):  # type: ignore[no-untyped-def]
    engine, writer = fresh
    with engine.begin() as conn:
        sync_expectations(conn, CATALOGUE)
    yield engine, writer
    engine.dispose()


def add(writer, rows) -> None:  # type: ignore[no-untyped-def]
    writer.append("business_events", events_table(rows))


def po(key: str, acked: datetime, asn: datetime | None = None, *, asn_status: str = "ok") -> list[dict[str, object]]:
    rows = [event(key, "po.acknowledged", acked, source="sup", target="erp", channel=None)]
    if asn is not None:
        rows.append(event(key, "asn.received", asn, source="sup", target="erp", channel=None, status=asn_status))
    return rows


def missing(engine) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Open missing_event exceptions: business key → its orders."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""SELECT x.business_key, o.correlation_id
                       FROM exceptions x JOIN exception_orders o USING (exception_id)
                       WHERE x.kind = 'missing_event' AND x.status = 'open'
                       ORDER BY x.business_key, o.correlation_id""")
        ).all()
    found: dict[str, list[str]] = {}
    for key, order in rows:
        found.setdefault(key, []).append(order)
    return found


def detect(engine, now: datetime = NOW):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return run_detection(conn, now=now, settings=RULES_ONLY)


def test_an_order_that_never_got_its_asn_is_found_and_one_in_time_is_not(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    add(writer, po("PO-1", NOW - 30 * H))  # due NOW-6h: nothing came → listed
    add(writer, po("PO-2", NOW - 30 * H, NOW - 7 * H))  # ASN 23 h after its 855: in time
    add(writer, po("PO-3", NOW - 30 * H, NOW - 1 * H))  # ASN 29 h after: late but it came → not a non-event
    add(writer, po("PO-4", NOW - 23 * H))  # due in 1 h: not yet
    add(writer, po("PO-5", NOW - 24 * H - M))  # due a minute ago → listed
    add(writer, po("PO-6", NOW - 25 * H, NOW - 2 * H, asn_status="failed"))  # an ASN came, and failed
    report = detect(engine)
    assert missing(engine) == {"asn/silent": ["PO-1", "PO-5"], "asn/failing": ["PO-6"]}
    # PO-6's failed ASN is also a failed delivery (that exception carries the message to replay)
    assert sorted(report.opened) == [
        "delivery_failed:-:unknown", "missing_event:-:asn/failing", "missing_event:-:asn/silent",
    ]  # fmt: skip
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM exceptions WHERE business_key = 'asn/silent'")
        ).mappings().one()  # fmt: skip
    assert row["affected_orders"] == 2 and row["occurrences"] == 2 and row["system_id"] == "sup"
    assert row["severity"] == "high" and row["error_class"] == "asn"
    assert row["first_seen"] == NOW - 6 * H  # PO-1's deadline: 30 h ago + 24 h
    assert row["last_seen"] == NOW - M  # PO-5's
    assert row["title"] == (
        "Silent: ASN within 24 h of the 855: nothing received (asn.received within 1 d of po.acknowledged)"
    )

    # The ASN of PO-1 arrives: only PO-5 is left; then PO-5's too: the exception resolves.
    add(writer, [event("PO-1", "asn.received", NOW + M, source="sup", target="erp", channel=None)])
    detect(engine, NOW + 2 * M)
    assert missing(engine)["asn/silent"] == ["PO-5"]
    add(writer, [event("PO-5", "asn.received", NOW + 3 * M, source="sup", target="erp", channel=None)])
    report = detect(engine, NOW + 4 * M)
    assert "missing_event:-:asn/silent" in report.resolved
    assert "asn/silent" not in missing(engine)


def test_erp_acceptance_within_15_minutes_near_misses_and_cancellations(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    add(writer, [event("SHP-1", "order.created", NOW - 20 * M, target="erp")])  # 5 min overdue
    add(
        writer,
        [
            event("SHP-2", "order.created", NOW - 20 * M, target="erp"),
            event("SHP-2", "order.accepted", NOW - 6 * M, target="erp"),
        ],
    )  # 14 min: in time
    add(writer, [event("SHP-3", "order.created", NOW - 14 * M, target="erp")])  # not due yet
    add(
        writer,
        [
            event("SHP-4", "order.created", NOW - 40 * M, target="erp"),
            event("SHP-4", "order.cancelled", NOW - 30 * M, target="erp"),
        ],
    )  # cancelled: left alone
    add(writer, [event("SHP-5", "order.created", NOW - 40 * M, target="erp", status="failed")])  # never delivered
    add(writer, [event("SHP-6", "order.created", NOW - 10 * 24 * H, target="erp")])  # beyond the 7-day look-back
    detect(engine)  # fmt: skip
    assert missing(engine) == {"acceptance/silent": ["SHP-1"]}


def test_release_before_the_cutoff(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    # NOW is 12:00 on 10 March; the 3PL's cut-off is 15:00 with a 60 min lead.
    add(writer, [event("A", "order.accepted", datetime(2026, 3, 9, 13, 59))])  # due 9 Mar 15:00 → late
    add(writer, [event("B", "order.accepted", datetime(2026, 3, 9, 14, 1))])  # inside the lead: due 10 Mar 15:00
    add(
        writer,
        [
            event("C", "order.accepted", datetime(2026, 3, 9, 10, 0)),
            event("C", "order.released", datetime(2026, 3, 9, 14, 50)),
        ],
    )  # released before the cut-off
    detect(engine)  # fmt: skip
    assert missing(engine) == {"release/silent": ["A"]}
    detect(engine, datetime(2026, 3, 10, 15, 1))  # a minute after today's cut-off B is late too
    assert missing(engine) == {"release/silent": ["A", "B"]}


@pytest.mark.parametrize(
    ("start", "within", "cutoff", "lead", "due"),
    [
        (datetime(2026, 3, 9, 10, 0), 900, None, 0, datetime(2026, 3, 9, 10, 15)),
        (datetime(2026, 3, 9, 13, 59), None, "15:00", 3600, datetime(2026, 3, 9, 15, 0)),
        (datetime(2026, 3, 9, 14, 0), None, "15:00", 3600, datetime(2026, 3, 9, 15, 0)),  # exactly the lead
        (datetime(2026, 3, 9, 14, 0, 1), None, "15:00", 3600, datetime(2026, 3, 10, 15, 0)),
        (datetime(2026, 3, 9, 16, 0), None, "15:00", 0, datetime(2026, 3, 10, 15, 0)),  # after the cut-off
        (datetime(2026, 3, 9, 23, 30), None, "00:15", 0, datetime(2026, 3, 10, 0, 15)),  # over midnight
    ],
)
def test_deadline(start: datetime, within: int | None, cutoff: str | None, lead: int, due: datetime) -> None:
    assert deadline(start, within_seconds=within, cutoff=cutoff, lead_seconds=lead) == due


def test_the_default_catalogue_loads_and_bad_files_name_the_key(tmp_path: Path) -> None:
    default = load_expectations()
    assert default.cutoff_of(next(e for e in default.expectations if e.cutoff_system)) == "14:00"
    assert load_expectations(DEFAULT_EXPECTATIONS_FILE) == default
    cases = {
        'cutoffs = { wms = "25:00" }': "cutoffs: wms: '25:00' is not a time of day HH:MM (UTC)",
        '[[expectations]]\nexpectation_id = "x"\nname = "x"\nafter = "a.b"\nexpect = "c.d"':
            "give exactly one of within_minutes, cutoff, cutoff_system",
        '[[expectations]]\nexpectation_id = "x"\nname = "x"\nafter = "a.b"\nexpect = "c.d"\ncutoff_system = "nope"':
            "expectations[0] (x).cutoff_system: no cut-off for 'nope'",
        '[[expectations]]\nexpectation_id = "x"\nname = "x"\nafter = "a.b"\nexpect = "c.d"\nwithin_minutes = 0':
            "expectations.0.within_minutes: Input should be greater than 0",
    }  # fmt: skip
    for text, message in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(ExpectationsError) as err:
            load_expectations(path)
        assert message in str(err.value), str(err.value)
