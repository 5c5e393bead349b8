"""The Dash shell: each app in a process gets exactly its own callbacks."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.settings import load_settings
from tests.live_server import serve


def _outputs(url: str) -> list[str]:
    httpx.get(f"{url}/").raise_for_status()
    return [dep["output"] for dep in httpx.get(f"{url}/_dash-dependencies").json()]


def test_two_apps_in_one_process_each_get_the_page_callbacks_once(tmp_path: Path) -> None:
    with (
        serve(load_settings(db=tmp_path / "a.duckdb")) as first,
        serve(load_settings(db=tmp_path / "b.duckdb")) as second,
    ):
        outputs_second = _outputs(second.url)
        outputs_first = _outputs(first.url)

    assert sorted(outputs_first) == sorted(outputs_second)
    assert len(outputs_second) == len(set(outputs_second)), "duplicate callbacks"
    assert any(o.startswith("..ov-tiles.children") for o in outputs_second)
