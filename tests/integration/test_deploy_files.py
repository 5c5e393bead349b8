"""deploy/: the files a company copies to run Flowwatch at scale say only what Flowwatch honours.

No OpenTelemetry Collector, Docker daemon or nginx runs here, so what can run is the contract each
file states: the Collector's exporter settings drive the real OTel SDK exporter into a real server
with access control on; every setting the compose file passes is one Flowwatch reads; the image
installs every package the project ships; the proxy lets through the largest body and the longest
replay Flowwatch allows by default.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from app.settings import Settings, load_settings
from tests.live_server import serve

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SPANS = 2_500  # several of the Collector's batches, and a partial last one


def _expand(value: str, env: dict[str, str]) -> str:
    """The Collector's ``${env:NAME}`` substitution."""
    return re.sub(r"\$\{env:(\w+)\}", lambda m: env[m.group(1)], value)


def test_collector_config_exports_into_flowwatch(tmp_path: Path) -> None:
    config = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"] and pipeline["processors"][-1] == "batch"
    (name,) = pipeline["exporters"]
    exporter: dict[str, Any] = config["exporters"][name]
    assert name.startswith("otlphttp") and exporter["encoding"] == "proto"
    batch = config["processors"]["batch"]

    settings = load_settings(db=tmp_path / "fw.duckdb", auth=True, ingest_max_delay_seconds=0.05,
                             detection_interval_seconds=3600)  # fmt: skip
    with serve(settings) as live:
        key = live.auth("collector", "ingest")["Authorization"].removeprefix("Bearer ")
        env = {"FLOWWATCH_URL": live.url, "FLOWWATCH_INGEST_KEY": key}
        # The otlphttp exporter posts to <endpoint>/v1/traces with the configured headers.
        sdk_exporter = OTLPSpanExporter(
            endpoint=_expand(exporter["endpoint"], env) + "/v1/traces",
            headers={k: _expand(v, env) for k, v in exporter["headers"].items()},
            compression=Compression(exporter["compression"]),
            timeout=float(exporter["timeout"].removesuffix("s")),
        )
        provider = TracerProvider(resource=Resource.create({"service.name": "erp-connector"}))
        provider.add_span_processor(BatchSpanProcessor(sdk_exporter, max_export_batch_size=batch["send_batch_size"],
                                                       max_queue_size=SPANS))  # fmt: skip
        tracer = provider.get_tracer("deploy-test")
        for i in range(SPANS):
            with tracer.start_as_current_span("POST /salesorders", kind=trace.SpanKind.CLIENT) as span:
                span.set_attribute("order.id", f"SO-{i:05d}")
        assert provider.force_flush(30_000)
        provider.shutdown()
        live.ctx.buffer.flush()
        with live.ctx.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*), count(DISTINCT correlation_id), min(service_name) "
                                          "FROM spans")).one()  # fmt: skip
    assert tuple(stored) == (SPANS, SPANS, "erp-connector")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_passes_only_settings_flowwatch_reads() -> None:
    services = _compose()["services"]
    replicas = [s for s in services if s.startswith("flowwatch-")]
    assert len(replicas) >= 2
    known = {f"FLOWWATCH_{name.upper()}" for name in Settings.model_fields}
    for replica in replicas:
        env = services[replica]["environment"]
        assert set(env) <= known, f"{replica} sets what Flowwatch does not read: {set(env) - known}"
        assert env["FLOWWATCH_DB_URL"].startswith("postgresql+psycopg://")
    # Each replica keeps its own write-ahead folder (what it acknowledged and not yet wrote).
    volumes = {services[r]["volumes"][0].split(":")[0] for r in replicas}
    assert len(volumes) == len(replicas)
    # The proxy sends to exactly these replicas, on the port the image serves.
    nginx = (DEPLOY / "nginx.conf").read_text()
    port = re.search(r"FLOWWATCH_PORT=(\d+)", (DEPLOY / "Dockerfile").read_text()).group(1)  # type: ignore[union-attr]
    assert sorted(re.findall(r"server (\S+) max_fails", nginx)) == sorted(f"{r}:{port}" for r in replicas)


def test_image_installs_every_package_the_project_ships() -> None:
    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    shipped = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) ", (DEPLOY / "Dockerfile").read_text(), re.M))
    assert shipped <= copied, f"the image misses {shipped - copied}"


@pytest.mark.parametrize(("directive", "setting", "unit"), [
    ("client_max_body_size", "max_request_bytes", 1024 * 1024),  # nginx "33m"
    ("proxy_read_timeout", "replay_timeout_seconds", 1),  # nginx "60s"
])  # fmt: skip
def test_proxy_lets_through_what_flowwatch_allows(directive: str, setting: str, unit: int) -> None:
    value = re.search(rf"{directive} (\d+)[ms];", (DEPLOY / "nginx.conf").read_text())
    assert value is not None, f"nginx.conf sets no {directive}"
    assert int(value.group(1)) * unit >= Settings.model_fields[setting].default
