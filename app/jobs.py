"""Every scheduled job, registered in one place (APScheduler, one background scheduler)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler

from collectors.filedrop import FileDrop
from collectors.pollers import PollerConfig
from models.detection.passes import DetectionReport, run_detection_job
from models.detection.rules import DetectionSettings
from models.queries.jobs import record_run

if TYPE_CHECKING:
    from app.context import AppContext

log = logging.getLogger(__name__)

#: Shared defaults: a late run is merged, never stacked, and skipped when too late.
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}


def timed(job_id: str, fn: Callable[..., Any]) -> Callable[..., None]:
    """Wrap a job so it logs its duration and never lets an error kill the scheduler."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        started = time.monotonic()
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("job %s failed after %.2f s", job_id, time.monotonic() - started)
        else:
            log.debug("job %s ran in %.3f s", job_id, time.monotonic() - started)

    return run


def make_scheduler() -> BackgroundScheduler:
    """A UTC background scheduler with the shared job defaults."""
    return BackgroundScheduler(timezone="UTC", job_defaults=JOB_DEFAULTS)


def add_interval_job(
    scheduler: BackgroundScheduler, job_id: str, fn: Callable[..., Any], seconds: float, **kwargs: Any
) -> None:
    """Register ``fn`` every ``seconds`` under an explicit id (re-registering replaces it)."""
    scheduler.add_job(timed(job_id, fn), "interval", seconds=seconds, id=job_id, replace_existing=True, kwargs=kwargs)


def led(ctx: AppContext, job_id: str, fn: Callable[..., Any]) -> Callable[..., None]:
    """``fn`` as a job that runs on one replica only — the leader (``ctx.leader``; always this
    process on DuckDB) — and counts each run in ``job_runs``."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        if not ctx.leader.held():
            return
        started_at, started = ctx.now(), time.monotonic()
        try:
            fn(*args, **kwargs)
        finally:
            with ctx.writer.transaction() as conn:
                record_run(conn, job_id, replica=ctx.replica, started=started_at, seconds=time.monotonic() - started)

    return run


def register_jobs(ctx: AppContext) -> None:
    """Every periodic job of the process: collectors, then exception detection, then alerts.
    All but the drop-folder scan (a folder of this machine) run on the leader only."""
    register_collector_jobs(ctx)
    add_interval_job(
        ctx.scheduler, "detection", led(ctx, "detection", detect), ctx.settings.detection_interval_seconds, ctx=ctx
    )
    register_alert_jobs(ctx)


def detect(ctx: AppContext) -> DetectionReport:
    """One detection pass with the configured hold-down and re-open window (scheduled and on demand)."""
    settings = ctx.settings
    return run_detection_job(
        ctx,
        DetectionSettings(
            resolve_after_passes=settings.detection_resolve_after_passes,
            resolve_after=timedelta(seconds=settings.detection_resolve_after_seconds),
            reopen_window=timedelta(hours=settings.detection_reopen_window_hours),
            reconciliation_days=settings.reconciliation_days,
            incident_min_exceptions=settings.incident_min_exceptions,
            incident_min_flows=settings.incident_min_flows,
            incident_window=timedelta(minutes=settings.incident_window_minutes),
        ),
    )


def register_collector_jobs(ctx: AppContext) -> None:
    """Queue pollers (``poll:<name>``, one per ``[[pollers]]``) and the drop-folder scan (``filedrop``)."""
    for config in ctx.settings.pollers:
        ctx.pollers.add(config)
        job_id = f"poll:{config.name}"
        add_interval_job(
            ctx.scheduler, job_id, led(ctx, job_id, _poll), config.interval_seconds, ctx=ctx, config=config
        )
    settings = ctx.settings
    drop = FileDrop(
        settings.drop_dir or settings.db.with_name(settings.db.name + ".drops"),
        settle_seconds=settings.filedrop_settle_seconds,
    )
    ctx.filedrop = drop
    add_interval_job(ctx.scheduler, "filedrop", _scan_drops, settings.filedrop_interval_seconds, ctx=ctx, drop=drop)


def _poll(ctx: AppContext, config: PollerConfig) -> None:
    ctx.pollers.run(config, ctx.buffer.submit, ctx.now())


def _scan_drops(ctx: AppContext, drop: FileDrop) -> None:
    for outcome in drop.scan(ctx.buffer.submit, ctx.now()):
        ctx.counters.add("filedrop", accepted=outcome.accepted, rejected=outcome.rejected + bool(outcome.error))


# -- alerts (issue 12) ---------------------------------------------------------------------------
def register_alert_jobs(ctx: AppContext) -> None:
    """Rule evaluation (``alerts:evaluate``), the notifier (``alerts:notify``, apart, so a slow or failing
    channel never holds up evaluation) and shift digests (``alerts:digest``, checked every minute)."""
    if ctx.alerts is None:
        return
    settings = ctx.settings
    evaluate, notify = led(ctx, "alerts:evaluate", _evaluate_alerts), led(ctx, "alerts:notify", _notify_alerts)
    add_interval_job(ctx.scheduler, "alerts:evaluate", evaluate, settings.alert_evaluation_interval_seconds, ctx=ctx)
    add_interval_job(ctx.scheduler, "alerts:notify", notify, settings.alert_notify_interval_seconds, ctx=ctx)
    if settings.alerts.digests:
        add_interval_job(ctx.scheduler, "alerts:digest", led(ctx, "alerts:digest", _send_digests), 60, ctx=ctx)


def _evaluate_alerts(ctx: AppContext) -> None:
    assert ctx.alerts is not None
    ctx.alerts.evaluate(ctx.now())


def _notify_alerts(ctx: AppContext) -> None:
    assert ctx.alerts is not None
    ctx.alerts.notify(ctx.now())


def _send_digests(ctx: AppContext) -> None:
    assert ctx.alerts is not None
    ctx.alerts.send_digests(ctx.now())
