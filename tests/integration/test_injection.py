"""SQL injection attempts in every filter and sort parameter of the read API: the right rows (none,
for a text that matches nothing) or a 422 naming the parameter — never a database error, never extra
rows. Runs with auth on, as a read key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.services import access
from tests.integration.replay_world import add_failures, add_flow, workbench_server
from tests.live_server import LiveServer

FLOW = "3pl-shipments"
ATTACKS = ["' OR '1'='1", "x'); DROP TABLE exceptions; --", "1 OR 1=1", "open' UNION SELECT * FROM users --",
           '"; SELECT password_hash FROM users; --', "%' --", "\\' OR 1=1 /*"]  # fmt: skip


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    with workbench_server(tmp_path, auth=True) as server:
        add_flow(server.ctx, FLOW, target=None)
        add_failures(server.ctx, FLOW, 3)
        with server.ctx.writer.transaction() as conn:
            key = access.create_key(conn, "reader", "read", by="test", now=server.ctx.now())
            access.create_user(conn, "ada", "admin", "correct horse", by="test", now=server.ctx.now())
        yield server, {"Authorization": f"Bearer {key}"}


def test_injection_in_filters_and_sorts_returns_the_right_rows_or_422(live: tuple[LiveServer, dict[str, str]]) -> None:
    server, auth = live
    url = f"{server.url}/api/v1/exceptions"

    def rows() -> list[tuple[int, str, str | None]]:
        return [(r["exception_id"], r["status"], r["assignee"]) for r in httpx.get(url, headers=auth).json()["items"]]

    everything = rows()
    assert [r[1] for r in everything] == ["open"] * 3
    for attack in ATTACKS:
        for param in ("q", "flow", "system", "kind", "assignee"):  # free text: matches nothing
            answer = httpx.get(url, params={param: attack}, headers=auth)
            assert (answer.status_code, answer.json()["total"], answer.json()["items"]) == (200, 0, []), (param, attack)
        for param in ("status", "severity", "age_band", "sort", "order", "offset", "limit", "seen_since",
                      "snoozed"):  # fmt: skip
            answer = httpx.get(url, params={param: attack}, headers=auth)
            assert answer.status_code == 422, (param, attack, answer.text)
            assert "internal error" not in answer.text
        orders = httpx.get(f"{server.url}/api/v1/orders", params={"q": attack}, headers=auth)
        assert orders.status_code in (200, 422) and (orders.status_code == 422 or orders.json()["results"] == [])
        for param, value in (("group_by", attack), ("from", attack), ("range", attack)):
            path = "/api/v1/kpis/overview" if param == "range" else "/api/v1/kpis"
            assert httpx.get(f"{server.url}{path}", params={param: value}, headers=auth).status_code == 422
        audit = httpx.get(f"{server.url}/api/v1/security-audit", params={"kind": attack, "principal": attack},
                          headers={"Authorization": auth["Authorization"]})  # fmt: skip
        assert audit.status_code == 403  # a read key may not read the audit, injection or not
    assert rows() == everything  # nothing changed, nothing dropped
    assert httpx.get(f"{server.url}/api/v1/exceptions/1%20OR%201=1", headers=auth).status_code == 422
