"""The exception lifecycle's transition table: every legal move, every refusal and its reason, the API's 409."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.context import open_context
from app.main import create_app
from app.services import lifecycle
from app.services.access import create_key
from app.services.errors import IllegalTransition, InvalidRequest, NotFound
from app.services.lifecycle import TRANSITIONS, Action
from app.settings import load_settings
from models.enums import ExceptionStatus
from models.ingest.writer import IngestWriter
from models.store.tables import exception_actions, exceptions
from tests.factories import fresh_db

NOW = datetime(2026, 11, 20, 12, 0)
S = ExceptionStatus

#: Every lifecycle action with an operator function (replay runs through app/services/replay.py).
RUN: dict[Action, Callable[..., lifecycle.ActionResult]] = {
    Action.ACK: lambda i, c: lifecycle.ack(i, conn=c, actor="dana", now=NOW),
    Action.ASSIGN: lambda i, c: lifecycle.assign(i, conn=c, actor="dana", assignee="sam", now=NOW),
    Action.NOTE: lambda i, c: lifecycle.note(i, conn=c, actor="dana", text="called the 3PL", now=NOW),
    Action.RESOLVE: lambda i, c: lifecycle.resolve(i, conn=c, actor="dana", now=NOW, resolution="fixed"),
    Action.IGNORE: lambda i, c: lifecycle.ignore(i, conn=c, actor="dana", now=NOW, reason="test order"),
    Action.REOPEN: lambda i, c: lifecycle.reopen(i, conn=c, actor="dana", now=NOW),
    Action.SNOOZE: lambda i, c: lifecycle.snooze(i, conn=c, actor="dana", until=NOW + timedelta(hours=4), now=NOW),
    Action.SET_SEVERITY: lambda i, c: lifecycle.set_severity(i, conn=c, actor="dana", severity="critical", now=NOW),
}


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[tuple[Engine, IngestWriter]]:
    engine, writer = fresh_db(tmp_path)
    yield engine, writer
    engine.dispose()


def _exception(engine: Engine, status: str, n: int = 1) -> int:
    resolved = NOW - timedelta(minutes=5) if status == "resolved" else None
    with engine.begin() as conn:
        return int(
            conn.execute(
                exceptions.insert()
                .values(
                    fingerprint=f"delivery_failed:f:{status}:{n}",
                    kind="delivery_failed",
                    flow_id="f",
                    title="t",
                    severity="medium",
                    status=status,
                    first_seen=NOW - timedelta(hours=3),
                    last_seen=NOW,
                    occurrences=1,
                    affected_orders=1,
                    resolved_at=resolved,
                    updated_at=NOW - timedelta(hours=1),
                )
                .returning(exceptions.c.exception_id)
            ).scalar_one()
        )


def _row(engine: Engine, exception_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.select(exceptions).where(exceptions.c.exception_id == exception_id)).mappings().one()
        )


def _trail(engine: Engine, exception_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.select(exception_actions).where(exception_actions.c.exception_id == exception_id)
            ).mappings()
        ]


#: Every legal move, written out from the domain (not derived from the table under test).
LEGAL = [
    (Action.ACK, S.OPEN, S.ACKNOWLEDGED),
    (Action.ASSIGN, S.OPEN, S.OPEN),
    (Action.ASSIGN, S.ACKNOWLEDGED, S.ACKNOWLEDGED),
    (Action.NOTE, S.OPEN, S.OPEN),
    (Action.NOTE, S.ACKNOWLEDGED, S.ACKNOWLEDGED),
    (Action.NOTE, S.RESOLVED, S.RESOLVED),
    (Action.NOTE, S.IGNORED, S.IGNORED),
    (Action.RESOLVE, S.OPEN, S.RESOLVED),
    (Action.RESOLVE, S.ACKNOWLEDGED, S.RESOLVED),
    (Action.IGNORE, S.OPEN, S.IGNORED),
    (Action.IGNORE, S.ACKNOWLEDGED, S.IGNORED),
    (Action.REOPEN, S.RESOLVED, S.OPEN),
    (Action.REOPEN, S.IGNORED, S.OPEN),
    (Action.SNOOZE, S.OPEN, S.OPEN),
    (Action.SNOOZE, S.ACKNOWLEDGED, S.ACKNOWLEDGED),
    (Action.SET_SEVERITY, S.OPEN, S.OPEN),
    (Action.SET_SEVERITY, S.ACKNOWLEDGED, S.ACKNOWLEDGED),
]


@pytest.mark.parametrize(("action", "before", "after"), LEGAL, ids=[f"{a}:{b}" for a, b, _ in LEGAL])
def test_every_legal_transition_changes_the_status_and_is_audited(
    db: tuple[Engine, IngestWriter], action: Action, before: S, after: S
) -> None:
    engine, writer = db
    eid = _exception(engine, before)

    with writer.transaction() as conn:
        result = RUN[action](eid, conn)

    row = _row(engine, eid)
    assert row["status"] == after and row["updated_at"] == NOW
    assert (result.before["status"], result.after["status"]) == (before, after)
    (audit,) = _trail(engine, eid)
    assert (audit["action"], audit["actor"], audit["acted_at"], audit["outcome"]) == (str(action), "dana", NOW, "done")
    assert f'"status": "{before}"' in audit["before_state"] and f'"status": "{after}"' in audit["after_state"]


def test_the_changes_each_action_makes(db: tuple[Engine, IngestWriter]) -> None:
    engine, writer = db
    eid = _exception(engine, "open")
    with writer.transaction() as conn:
        RUN[Action.ACK](eid, conn)
        RUN[Action.SNOOZE](eid, conn)
        RUN[Action.SET_SEVERITY](eid, conn)
    row = _row(engine, eid)
    assert (row["assignee"], row["snoozed_until"], row["severity"]) == ("dana", NOW + timedelta(hours=4), "critical")
    with writer.transaction() as conn:
        RUN[Action.RESOLVE](eid, conn)
    row = _row(engine, eid)
    assert (row["resolved_at"], row["resolution"], row["snoozed_until"]) == (NOW, "fixed", None)
    with writer.transaction() as conn:
        RUN[Action.REOPEN](eid, conn)
    row = _row(engine, eid)
    assert (row["status"], row["resolved_at"], row["resolution"]) == ("open", None, None)
    assert [a["action"] for a in _trail(engine, eid)] == ["ack", "snooze", "set_severity", "resolve", "reopen"]


#: Every refused move and the reason the operator reads, written out by hand.
REASONS = {
    (Action.ACK, S.ACKNOWLEDGED): "cannot ack an acknowledged exception; it is already acknowledged",
    (Action.ACK, S.RESOLVED): "cannot ack a resolved exception; reopen it first",
    (Action.ACK, S.IGNORED): "cannot ack an ignored exception; reopen it first",
    (Action.ASSIGN, S.RESOLVED): "cannot assign a resolved exception; reopen it first",
    (Action.ASSIGN, S.IGNORED): "cannot assign an ignored exception; reopen it first",
    (Action.RESOLVE, S.RESOLVED): "cannot resolve a resolved exception; reopen it first",
    (Action.RESOLVE, S.IGNORED): "cannot resolve an ignored exception; reopen it first",
    (Action.IGNORE, S.RESOLVED): "cannot ignore a resolved exception; reopen it first",
    (Action.IGNORE, S.IGNORED): "cannot ignore an ignored exception; reopen it first",
    (Action.REOPEN, S.OPEN): "cannot reopen an open exception; only resolved or ignored exceptions reopen",
    (Action.REOPEN, S.ACKNOWLEDGED): (
        "cannot reopen an acknowledged exception; only resolved or ignored exceptions reopen"
    ),
    (Action.SNOOZE, S.RESOLVED): "cannot snooze a resolved exception; reopen it first",
    (Action.SNOOZE, S.IGNORED): "cannot snooze an ignored exception; reopen it first",
    (Action.SET_SEVERITY, S.RESOLVED): "cannot change the severity of a resolved exception; reopen it first",
    (Action.SET_SEVERITY, S.IGNORED): "cannot change the severity of an ignored exception; reopen it first",
}
ILLEGAL = list(REASONS)


@pytest.mark.parametrize(("action", "status"), ILLEGAL, ids=[f"{a}:{s}" for a, s in ILLEGAL])
def test_every_illegal_transition_is_refused_with_a_reason(
    db: tuple[Engine, IngestWriter], action: Action, status: S
) -> None:
    engine, writer = db
    eid = _exception(engine, status)

    with pytest.raises(IllegalTransition) as refused, writer.transaction() as conn:
        RUN[action](eid, conn)

    assert (refused.value.action, refused.value.status) == (action, status)
    assert str(refused.value) == REASONS[(action, status)]
    assert _row(engine, eid)["status"] == status and _trail(engine, eid) == []


def test_the_table_is_exactly_the_moves_written_out_here() -> None:
    table = {(a, before, after) for a, moves in TRANSITIONS.items() if a in RUN for before, after in moves.items()}
    assert table == set(LEGAL)
    every = {(a, s) for a in RUN for s in S}
    assert every == {(a, b) for a, b, _ in LEGAL} | set(ILLEGAL)  # each pair is legal or refused, never both
    assert set(TRANSITIONS) == set(Action)
    assert lifecycle.refusal(Action.REPLAY, "resolved") == "cannot replay a resolved exception; reopen it first"
    assert lifecycle.refusal(Action.NOTE, "resolved") is None
    assert lifecycle.refusal(Action.ACK, "reopened") == "cannot ack an exception in the unknown status 'reopened'"


def test_bad_input_and_missing_exceptions(db: tuple[Engine, IngestWriter]) -> None:
    engine, writer = db
    eid = _exception(engine, "open")
    with writer.transaction() as conn:
        with pytest.raises(InvalidRequest, match="is not in the future"):
            lifecycle.snooze(eid, conn=conn, actor="dana", until=NOW - timedelta(minutes=1), now=NOW)
        with pytest.raises(InvalidRequest, match="unknown severity 'urgent'"):
            lifecycle.set_severity(eid, conn=conn, actor="dana", severity="urgent", now=NOW)
        with pytest.raises(InvalidRequest, match="assignee is required"):
            lifecycle.assign(eid, conn=conn, actor="dana", assignee=" ", now=NOW)
        with pytest.raises(InvalidRequest, match="actor is required"):
            lifecycle.ack(eid, conn=conn, actor="", now=NOW)
        with pytest.raises(NotFound, match="exception 424242 does not exist"):
            lifecycle.resolve(424242, conn=conn, actor="dana", now=NOW)
    assert _trail(engine, eid) == []


def test_apply_many_changes_the_allowed_and_skips_the_rest(db: tuple[Engine, IngestWriter]) -> None:
    engine, writer = db
    ids = [_exception(engine, s, n) for n, s in enumerate(["open", "acknowledged", "resolved", "ignored"])]
    with writer.transaction() as conn:
        items = lifecycle.apply_many(Action.RESOLVE, [*ids, 999], conn=conn, actor="lead", now=NOW, text="bulk")
    assert [(i.done, i.reason) for i in items] == [
        (True, None),
        (True, None),
        (False, "cannot resolve a resolved exception; reopen it first"),
        (False, "cannot resolve an ignored exception; reopen it first"),
        (False, "exception 999 does not exist"),
    ]
    assert [_row(engine, i)["status"] for i in ids] == ["resolved", "resolved", "resolved", "ignored"]
    assert [len(_trail(engine, i)) for i in ids] == [1, 1, 0, 0]


def test_the_api_answers_409_with_the_reason_404_and_422(tmp_path: Path) -> None:
    app = create_app(load_settings(db=tmp_path / "api.duckdb"))
    with TestClient(app) as client:
        engine = app.state.ctx.engine
        resolved, open_ = _exception(engine, "resolved", 1), _exception(engine, "open", 2)

        ctx = app.state.ctx
        with ctx.writer.transaction() as conn:  # the actor is who authenticated: an act key per person
            dana, sam = ({"Authorization": f"Bearer {create_key(conn, n, 'act', by='test', now=ctx.now())}"}
                         for n in ("dana", "sam"))  # fmt: skip

        refused = client.post(f"/api/v1/exceptions/{resolved}/ack", headers=dana)
        assert refused.status_code == 409
        assert refused.json() == {"detail": "cannot ack a resolved exception; reopen it first"}
        missing = client.post("/api/v1/exceptions/777/resolve", headers=dana)
        assert missing.status_code == 404 and missing.json() == {"detail": "exception 777 does not exist"}
        assert client.post(f"/api/v1/exceptions/{open_}/assign", json={}, headers=dana).status_code == 422
        typed = client.post(f"/api/v1/exceptions/{open_}/ack", json={"actor": "mallory"}, headers=dana)
        assert typed.status_code == 422
        assert typed.json()["errors"] == [{"where": "body.actor", "error": "Extra inputs are not permitted"}]
        severity = client.post(f"/api/v1/exceptions/{open_}/severity", json={"severity": "urgent"}, headers=dana)
        assert severity.status_code == 422

        acked = client.post(f"/api/v1/exceptions/{open_}/ack", headers=dana)
        assert acked.status_code == 200
        assert (acked.json()["before"]["status"], acked.json()["after"]["status"]) == ("open", "acknowledged")
        assert acked.json()["exception"]["assignee"] == "dana"
        twice = client.post(f"/api/v1/exceptions/{open_}/ack", headers=sam)
        assert twice.status_code == 409
        assert twice.json()["detail"] == "cannot ack an acknowledged exception; it is already acknowledged"
        grid = client.get("/api/v1/exceptions", params={"status": "acknowledged,resolved", "sort": "age"}).json()
        assert (grid["total"], [r["exception_id"] for r in grid["items"]]) == (2, [open_, resolved])
        assert client.get("/api/v1/exceptions", params={"status": "closed"}).status_code == 422
        assert client.get("/api/v1/exceptions", params={"sort": "title"}).status_code == 422
        assert client.get("/api/v1/exceptions/777").status_code == 404
        assert client.get("/api/v1/bulk-runs/777").json() == {"detail": "bulk run 777 does not exist"}
        history = client.get(f"/api/v1/exceptions/{open_}").json()["actions"]
        assert [(a["action"], a["actor"], a["after_state"]["status"]) for a in history] == [
            ("ack", "dana", "acknowledged")
        ]


def test_perform_is_the_one_entry_with_its_own_transaction(tmp_path: Path) -> None:
    ctx = open_context(load_settings(db=tmp_path / "fw.duckdb"))
    ctx.clock = lambda: NOW
    try:
        eid = _exception(ctx.engine, "open")
        result, row = lifecycle.perform(ctx, Action.ASSIGN, eid, actor="dana", change=lifecycle.Change(assignee="sam"))
        assert (result.action, result.after["assignee"], row["assignee"], row["status"]) == (
            Action.ASSIGN, "sam", "sam", "open"
        )  # fmt: skip
        with pytest.raises(InvalidRequest, match="until is required"):
            lifecycle.perform(ctx, Action.SNOOZE, eid, actor="dana")
        with pytest.raises(InvalidRequest, match=r"replays go through app\.services\.replay"):
            lifecycle.perform(ctx, Action.REPLAY, eid, actor="dana")
        with pytest.raises(NotFound):
            lifecycle.perform(ctx, Action.ACK, 999_999, actor="dana")
        assert [a["action"] for a in _trail(ctx.engine, eid)] == ["assign"]  # the refusals wrote nothing
    finally:
        ctx.close()
