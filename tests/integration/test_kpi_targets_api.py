"""KPI targets over HTTP on a real server: the shipped defaults are there on start, an admin's PUT is
stored with who made it (and survives a restart over the file), bad inputs are 422s naming the field."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.settings import load_settings
from tests.live_server import serve


@pytest.fixture()
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(db=tmp_path / "fw.duckdb")


def test_defaults_then_an_admin_edit_kept_over_the_file(settings) -> None:  # type: ignore[no-untyped-def]
    with serve(settings) as live:
        body = httpx.get(f"{live.url}/api/v1/kpis/targets").json()
        targets = {t["kpi"]: t for t in body["targets"]}
        assert body["rule"] == "green at or better than target, amber within 10% of it, red beyond"
        assert (targets["perfect_order_rate"]["target"], targets["perfect_order_rate"]["direction"]) == (0.95, "higher")
        assert targets["perfect_order_rate"]["updated_by"] is None

        r = httpx.put(f"{live.url}/api/v1/kpis/targets/perfect_order_rate", headers=live.auth("dana.okafor", "admin"),
                      json={"target": 0.975, "direction": "higher"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert (r.json()["target"], r.json()["updated_by"], r.json()["origin"]) == (0.975, "dana.okafor", "config")
        kpis = {k["kpi"]: k for k in httpx.get(f"{live.url}/api/v1/kpis").json()["kpis"]}
        assert (kpis["perfect_order_rate"]["target"], kpis["perfect_order_rate"]["direction"]) == (0.975, "higher")
        assert all(r["rag"] in ("green", "amber", "red", "none") for k in kpis.values() for r in k["rows"])
    with serve(settings) as live:  # a restart syncs the file again: Dana's edit stays
        targets = {t["kpi"]: t for t in httpx.get(f"{live.url}/api/v1/kpis/targets").json()["targets"]}
        assert targets["perfect_order_rate"]["target"] == 0.975


@pytest.mark.parametrize(
    ("kpi", "body", "status", "says"),
    [
        ("nope", {"target": 1, "direction": "lower"}, 422, "kpi: unknown kpi 'nope'"),
        ("sla_adherence", {"target": 98, "direction": "higher"}, 422,
         "target: target of sla_adherence is a share: between 0 and 1"),
        ("mttr_hours", {"target": -2, "direction": "lower"}, 422,
         "target: Input should be greater than or equal to 0"),
        ("mttr_hours", {"target": 4, "direction": "up"}, 422, "body.direction"),
        ("mttr_hours", {"target": 4, "direction": "lower", "actor": "a"}, 422, "body.actor"),  # who is the login
        ("mttr_hours", {"target": "soon", "direction": "lower"}, 422, "body.target"),
    ],
)  # fmt: skip
def test_bad_targets_are_refused_naming_the_field(settings, kpi, body, status, says) -> None:  # type: ignore[no-untyped-def]
    with serve(settings) as live:
        r = httpx.put(f"{live.url}/api/v1/kpis/targets/{kpi}", json=body)
        assert r.status_code == status
        assert says in r.text
        assert "Traceback" not in r.text
