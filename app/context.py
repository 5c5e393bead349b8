"""What one Flowwatch process shares: settings, the engine, the writer and a clock."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from alerts.runtime import AlertRuntime
from app.demo_targets import SimTargets
from app.jobs import make_scheduler, register_jobs
from app.metrics import IngestCounters
from app.services.page_cache import PageCache
from app.services.runtime import ActionRuntime
from app.settings import Settings
from collectors.adapters import Adapter, build_adapters
from collectors.brokers import BrokerConsumers
from collectors.filedrop import FileDrop
from collectors.pollers import PollerRunner
from models.ingest.buffer import IngestBuffer
from models.ingest.writer import IngestWriter
from models.queries.common import utcnow
from models.queries.kpi_targets import sync_config_targets
from models.queries.partners import list_partners
from models.store.db import make_engine, make_pg_engine
from models.store.error_catalog import load_error_catalog, sync_error_catalog
from models.store.expectations import load_expectations, sync_expectations
from models.store.flow_config import FlowConfig, load_flow_config, sync_flow_config
from models.store.kpi_targets import load_targets_file
from models.store.lease import LeaderLease
from models.store.schema import create_schema, serialize_config_sync


@dataclass
class AppContext:
    """Built once per process by :func:`open_context`; never at import time."""

    settings: Settings
    engine: Engine
    writer: IngestWriter
    buffer: IngestBuffer
    flow_config: FlowConfig
    scheduler: BackgroundScheduler = field(default_factory=make_scheduler)
    counters: IngestCounters = field(default_factory=IngestCounters)
    clock: Callable[[], datetime] = field(default=utcnow)
    actions: ActionRuntime = field(default_factory=ActionRuntime)  # replays in flight, bulk runs
    sim: SimTargets = field(default_factory=SimTargets)  # the demo's simulated downstream systems
    pollers: PollerRunner = field(default_factory=PollerRunner)
    brokers: BrokerConsumers = field(default_factory=BrokerConsumers)  # [[brokers]]: events from RabbitMQ, NATS
    filedrop: FileDrop | None = None  # set when the collector jobs are registered
    adapters: dict[str, Adapter] = field(default_factory=dict)  # vendor webhooks, by name
    alerts: AlertRuntime | None = None  # alert rules, channels and their jobs (issue 12)
    leader: LeaderLease = field(init=False)  # which replica runs the scheduled jobs (issue 16)
    page_cache: PageCache = field(init=False)  # period reads shared per minute (scorecard, partners, ...)
    replica: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def __post_init__(self) -> None:
        self.leader = LeaderLease(self.engine)
        self.page_cache = PageCache(self.engine, lambda: self.now(), ttl=self.settings.page_cache_seconds)

    def edi_partners(self) -> dict[str, str]:
        """The trading partners now: those added with `flowwatch partners add`, then the settings'."""
        with self.engine.connect() as conn:
            stored = list_partners(conn)
        return {**stored, **{k.strip().upper(): v for k, v in self.settings.edi_partners.items()}}

    def now(self) -> datetime:
        """The process clock (naive UTC); tests may pin it."""
        return self.clock()

    def start(self) -> None:
        """Replay unflushed ingest, then start the flusher and the scheduled jobs."""
        self.buffer.start()
        self.brokers.start(self.settings.brokers, self.buffer.submit, self.now)
        register_jobs(self)
        self.scheduler.start()

    def close(self) -> None:
        """Stop jobs and bulk runs, commit what was acknowledged, release the database file."""
        self.actions.close()
        self.brokers.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.page_cache.close()
        self.leader.release()
        self.buffer.stop()
        self.engine.dispose()


def open_context(settings: Settings) -> AppContext:
    """Open the database, bring its schema up to date and build the writer."""
    engine = (
        make_pg_engine(settings.postgres)
        if settings.postgres
        else make_engine(
            settings.db, checkpoint_threshold=settings.checkpoint_threshold, memory_limit=settings.memory_limit
        )
    )
    create_schema(engine)
    flow_config = load_flow_config(settings.flows_file)
    expectations = load_expectations(settings.expectations_file)
    catalog = load_error_catalog(settings.error_catalog_file)
    targets = load_targets_file(settings.kpi_targets_file)
    with engine.begin() as conn:
        serialize_config_sync(conn)
        sync_flow_config(conn, flow_config)
        sync_expectations(conn, expectations)
        sync_error_catalog(conn, catalog, now=utcnow())
        sync_config_targets(conn, [t.model_dump() for t in targets], now=utcnow())
    writer = IngestWriter(engine)
    buffer = IngestBuffer(
        writer,
        settings.ingest_wal_dir or default_wal_dir(settings),
        max_batch_rows=settings.ingest_batch_rows,
        max_delay_seconds=settings.ingest_max_delay_seconds,
        max_pending_rows=settings.ingest_max_pending_rows,
        fsync=settings.ingest_fsync,
    )
    ctx = AppContext(settings=settings, engine=engine, writer=writer, buffer=buffer, flow_config=flow_config)
    ctx.adapters = build_adapters(ctx.edi_partners)
    ctx.alerts = open_alerts(settings, engine, writer, ctx.now())
    return ctx


def default_wal_dir(settings: Settings) -> Path:
    """``<db>.ingest``; on PostgreSQL ``data/pg-<host>-<port>-<db>-<serve port>.ingest``: replicas on one
    machine must never share a write-ahead folder (each replays what is in its own on start)."""
    suffix = f"-{settings.port}.ingest" if settings.postgres else ".ingest"
    return settings.db.with_name(settings.db.name + suffix)


def open_alerts(settings: Settings, engine: Engine, writer: IngestWriter, now: datetime) -> AlertRuntime:
    """Alerting for this process: channels from the settings, the configured rules brought in."""
    config = settings.alerts.model_copy(update={"channels": settings.alert_channels()})
    runtime = AlertRuntime(config, engine=engine, writer=writer, base_url=settings.base_url())
    runtime.sync_rules(now)
    return runtime
