"""The Dash shell: each app in a process gets exactly its own callbacks."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import load_settings


def _outputs(client: TestClient) -> list[str]:
    client.get("/")
    return [dep["output"] for dep in client.get("/_dash-dependencies").json()]


def test_two_apps_in_one_process_each_get_the_page_callbacks_once(tmp_path: Path) -> None:
    first = create_app(load_settings(db=tmp_path / "a.duckdb"))
    second = create_app(load_settings(db=tmp_path / "b.duckdb"))

    with TestClient(second) as client:
        outputs_second = _outputs(client)
    with TestClient(first) as client:
        outputs_first = _outputs(client)

    assert sorted(outputs_first) == sorted(outputs_second)
    assert len(outputs_second) == len(set(outputs_second)), "duplicate callbacks"
    assert any(o.startswith("..ov-tiles.children") for o in outputs_second)

