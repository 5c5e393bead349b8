"""The flow model from TOML: the demo's by default, a customer's file when named, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import models.store
from app.context import open_context
from app.settings import load_settings
from models.store.flow_config import DEFAULT_FLOWS_FILE, FlowConfigError, load_flow_config, sync_flow_config
from tests.factories import fresh_db

CUSTOM = """
company = "Acme Wholesale"

[[systems]]
system_id = "shop"
name = "Web shop"
kind = "storefront"

[[systems]]
system_id = "erp"
name = "SAP S/4HANA"
kind = "erp"

[[flows]]
flow_id = "shop-erp-orders"
name = "Web shop → SAP orders"
category = "orders"
source_system = "shop"
target_system = "erp"
start_event = "order.created"
end_event = "order.accepted"
sla_seconds = 600
lag_threshold_seconds = 300
replay_target = "https://erp.example/orders"
"""


def test_default_is_the_demo_distributor() -> None:
    config = load_flow_config()
    assert config.company == "Northwind Supply Co."
    assert len(config.systems) == 12 and len(config.flows) == 19
    shipment = next(f for f in config.flows if f.flow_id == "3pl_north-d365-shipment")
    assert (shipment.start_event, shipment.end_event, shipment.sla_seconds) == (
        "order.released",
        "shipment.dispatched",
        24 * 3600,
    )


def test_server_syncs_a_named_file(tmp_path: Path) -> None:
    path = tmp_path / "flows.toml"
    path.write_text(CUSTOM, encoding="utf-8")
    ctx = open_context(load_settings(db=tmp_path / "fw.duckdb", flows_file=path))
    try:
        with ctx.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT flow_id, sla_seconds, replay_kind FROM flows").fetchall()
        assert [tuple(r) for r in rows] == [("shop-erp-orders", 600, "http")]
        assert ctx.flow_config.company == "Acme Wholesale"
    finally:
        ctx.close()


def test_sync_updates_in_place_and_is_idempotent(tmp_path: Path) -> None:
    engine, _ = fresh_db(tmp_path)
    path = tmp_path / "flows.toml"
    path.write_text(CUSTOM, encoding="utf-8")
    for sla in (600, 900, 900):
        path.write_text(CUSTOM.replace("sla_seconds = 600", f"sla_seconds = {sla}"), encoding="utf-8")
        with engine.begin() as conn:
            sync_flow_config(conn, load_flow_config(path))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*), max(sla_seconds) FROM flows").one() == (1, 900)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('target_system = "erp"', 'target_system = "wms"'),
            "flows[0] (shop-erp-orders).target_system: unknown system 'wms'",
        ),
        (
            lambda t: t.replace("sla_seconds = 600", "sla_seconds = -5"),
            "flows.0.sla_seconds: Input should be greater than 0",
        ),
        (lambda t: t.replace('end_event = "order.accepted"', 'end_event = "Order Accepted"'), "flows.0.end_event"),
        (lambda t: t.replace('kind = "erp"', 'kind = "mainframe"'), "systems.1.kind"),
        (lambda t: t + "\nsla = 5\n", "sla: Extra inputs are not permitted"),
        (lambda t: t.replace('name = "Web shop"', 'name = "Web shop'), "is not valid TOML"),
        (lambda t: t + t.split("[[flows]]")[1].join(["\n[[flows]]", ""]), "flow ids declared twice: shop-erp-orders"),
    ],
)
def test_bad_files_name_the_file_and_the_key(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "flows.toml"
    path.write_text(edit(CUSTOM), encoding="utf-8")
    with pytest.raises(FlowConfigError) as info:
        load_flow_config(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_cli_reports_a_bad_flow_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "flows.toml"
    bad.write_text("[[flows]]\nflow_id = 3\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "app", "seed", "--db", str(tmp_path / "fw.duckdb"), "--days", "1"],
        env={"FLOWWATCH_FLOWS_FILE": str(bad), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[4],
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"flowwatch: error: flow file {bad}")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_default_file_ships_with_the_package() -> None:
    assert DEFAULT_FLOWS_FILE.is_file() and DEFAULT_FLOWS_FILE.parent == Path(models.store.__file__).parent
