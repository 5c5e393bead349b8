"""Every page's layout, as Dash sends it to the browser, is a tree React can render: no list inside a
list of children (React error #31 — a component arrives as a plain object), on an empty database."""

from __future__ import annotations

from typing import Any

import dash
import httpx

from tests.live_server import LiveServer


def _nested_lists(node: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "children" and isinstance(value, list):
                found += [f"{path}.children[{i}]" for i, v in enumerate(value) if isinstance(v, list | tuple)]
            found += _nested_lists(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _nested_lists(value, f"{path}[{i}]")
    return found


def _layout(live: LiveServer, pathname: str, search: str = "") -> dict[str, Any]:
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname", "_pages_location.search"],
    }
    response = httpx.post(f"{live.url}/_dash-update-component", json=body, headers={"Origin": live.url}, timeout=30)
    assert response.status_code == 200, (pathname, response.text[:300])
    return response.json()


def test_every_page_layout_renders_as_a_react_tree(server: LiveServer) -> None:
    httpx.get(f"{server.url}/", timeout=30).raise_for_status()  # the pages register with the app
    paths = sorted(
        (p.get("path_template") or p["path"]).replace("<partner>", "3pl_north") for p in dash.page_registry.values()
    )
    assert {"/", "/alerts", "/exceptions", "/flows", "/scorecard"} <= set(paths)
    broken = {path: found for path in paths if (found := _nested_lists(_layout(server, path)))}
    assert broken == {}
