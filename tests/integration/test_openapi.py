"""``/api/openapi.json`` documents what every route answers, and the answers hold nothing undocumented.

Over a seeded demo: each JSON route's 200 schema is a declared model (not ``{}``), and the real
answers of the read routes, walked through their schemas, carry only declared keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.live_server import LiveServer, serve_seeded

ANCHOR = datetime(2026, 3, 12, 14, 0)
#: Routes whose answer is not JSON, with the media type they document instead.
NOT_JSON = {"/v1/traces": "application/x-protobuf", "/metrics": "text/plain", "/login": "text/html"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_seeded(tmp_path_factory.mktemp("openapi") / "flowwatch.duckdb", anchor=ANCHOR) as live:
        yield live


def _spec(live: LiveServer) -> dict[str, Any]:
    return httpx.get(f"{live.url}/api/openapi.json", timeout=10).json()


def _ok_schema(operation: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ok = next(v for k, v in operation["responses"].items() if k.startswith(("2", "3")))
    media, body = next(iter(ok.get("content", {"": {"schema": {}}}).items()))
    return media, body.get("schema", {})


def _names_a_model(schema: dict[str, Any]) -> bool:
    """A declared model, a list of them, a choice between them, or a map with typed values (Slack user
    id → user name) — not a bare ``object``/``{}``."""
    if "$ref" in schema or (isinstance(schema.get("additionalProperties"), dict) and schema["additionalProperties"]):
        return True
    if "items" in schema:
        return _names_a_model(schema["items"])
    return bool(schema.get("anyOf")) and all(_names_a_model(s) for s in schema["anyOf"])


def test_every_route_documents_its_answer(demo: LiveServer) -> None:
    undocumented = []
    for path, methods in _spec(demo)["paths"].items():
        for method, operation in methods.items():
            if {"204", "303"} & set(operation["responses"]):
                continue  # no content, or a redirect (login, logout)
            media, schema = _ok_schema(operation)
            if path in NOT_JSON:
                assert media == NOT_JSON[path], (path, media)
            elif not _names_a_model(schema):
                undocumented.append(f"{method.upper()} {path}")
    assert undocumented == []


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _undeclared(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> Iterator[str]:
    """Keys of ``value`` its schema does not declare (``additionalProperties`` maps are free-form)."""
    schema = _resolve(spec, schema)
    for option in schema.get("anyOf", []):
        option = _resolve(spec, option)
        if option.get("type") != "null" and value is not None:
            yield from _undeclared(spec, option, value, where)
            return
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                yield f"{where}.{key}"
            else:
                yield from _undeclared(spec, schema["properties"][key], item, f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for item in value[:3]:
            yield from _undeclared(spec, schema["items"], item, f"{where}[]")


def test_read_answers_carry_only_documented_keys(demo: LiveServer) -> None:
    spec, base = _spec(demo), f"{demo.url}/api/v1"
    created = httpx.post(f"{base}/users", json={"name": "sam", "role": "viewer", "password": "a long passphrase"})
    assert created.status_code == 201, created.text  # a user, and a key (used below), for the admin lists
    httpx.get(f"{base}/me", headers=demo.auth("ci-reader", "read"), timeout=10)
    assert httpx.post(f"{base}/alerts/evaluate", timeout=60).status_code == 200  # alerts, groups, rule health
    silence = {"comment": "3PL maintenance", "ends_at": "2026-03-12T18:00:00",
               "matchers": [{"name": "flow", "value": "d365-3pl_north-release"}]}  # fmt: skip
    assert httpx.post(f"{base}/alerts/silences", json=silence, timeout=10).status_code == 201
    exception_id = httpx.get(f"{base}/exceptions?limit=1", timeout=10).json()["items"][0]["exception_id"]
    order = httpx.get(f"{base}/orders?q=SHP", timeout=10).json()["results"][0]["correlation_id"]
    flow = httpx.get(f"{base}/flows", timeout=10).json()["flows"][0]["flow_id"]
    reads = {
        "/healthz": f"{demo.url}/healthz",
        "/readyz": f"{demo.url}/readyz",
        "/api/v1/kpis/overview": f"{base}/kpis/overview",
        "/api/v1/kpis": f"{base}/kpis?group_by=channel",
        "/api/v1/orders": f"{base}/orders?q=SHP",
        "/api/v1/orders/{correlation_id}": f"{base}/orders/{order}",
        "/api/v1/flows": f"{base}/flows",
        "/api/v1/flows/{flow_id}/signals": f"{base}/flows/{flow}/signals",
        "/api/v1/exceptions": f"{base}/exceptions?limit=50",
        "/api/v1/exceptions/{exception_id}": f"{base}/exceptions/{exception_id}",
        "/api/v1/exceptions/{exception_id}/likely-cause": f"{base}/exceptions/{exception_id}/likely-cause",
        "/api/v1/kpis/targets": f"{base}/kpis/targets",
        "/api/v1/me": f"{base}/me",
        "/api/v1/users": f"{base}/users",
        "/api/v1/keys": f"{base}/keys",
        "/api/v1/security-audit": f"{base}/security-audit",
        "/api/v1/alerts": f"{base}/alerts",
        "/api/v1/alerts/rules": f"{base}/alerts/rules",
        "/api/v1/alerts/silences": f"{base}/alerts/silences",
        "/api/v1/alerts/notifications": f"{base}/alerts/notifications",
        "/api/v1/alerts/changes": f"{base}/alerts/changes",
    }
    found = []
    for path, url in reads.items():
        response = httpx.get(url, timeout=30)
        assert response.status_code == 200, (url, response.text[:300])
        _, schema = _ok_schema(spec["paths"][path]["get"])
        found += list(_undeclared(spec, schema, response.json(), path))
    assert found == []
