"""What every route answers, as models: ``/api/openapi.json`` documents each response from these.

Rows that carry a table's columns declare them all; ``extra="allow"`` only keeps a column added to
a table from being silently dropped before its model learns it (``tests/integration/test_openapi.py``
fails when an answer holds a key its model does not declare).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.services.bulk import PlanItem


class Out(BaseModel):
    """Base of the response models."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# -- health ---------------------------------------------------------------------------------
class Healthz(Out):
    status: str = Field(examples=["ok"])


class Readyz(Out):
    status: str = Field(description="ready, schema_outdated or unavailable")
    schema_version: int | None = None
    expected_schema_version: int | None = None
    error: str | None = None


# -- KPIs -----------------------------------------------------------------------------------
class Span(Out):
    since: datetime
    until: datetime


class OrderCounts(Out):
    orders_today: int
    orders_in_range: int
    in_flight: int


class CycleTime(Out):
    shipped: int
    p50_hours: float | None
    p90_hours: float | None
    p95_hours: float | None


class FlowLag(Out):
    flow_id: str
    name: str
    sla_seconds: int
    steps: int
    p50_seconds: float | None
    p95_seconds: float | None
    over_sla: int


class AgingCell(Out):
    band: str
    severity: str
    exceptions: int


class ExceptionCounts(Out):
    open_total: int
    critical: int
    high: int
    medium: int
    low: int
    oldest_hours: float | None
    mean_age_hours: float | None
    aging: list[AgingCell]


class QueueNow(Out):
    broker: str
    queue: str
    flow_id: str | None
    is_dlq: bool
    depth: int
    consumers: int | None
    oldest_age_seconds: float | None
    sampled_at: datetime


class Overview(Out):
    """The overview page's numbers for one range."""

    as_of: datetime
    window: Span
    orders: OrderCounts
    cycle_time: CycleTime
    sync_lag: list[FlowLag]
    exceptions: ExceptionCounts
    queues: list[QueueNow]


class Period(Out):
    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime


class KpiSeries(Out):
    kpi: str
    label: str
    unit: str
    group_by: str | None
    rows: list[dict[str, Any]] = Field(description="one row per group: value, previous, change, n, rag")
    target: float | None = Field(None, description="the metric's target, in its unit")
    direction: str | None = Field(None, description="higher or lower: which way is better")


class PartnerScore(Out):
    partner: str
    name: str
    kind: str
    metrics: dict[str, dict[str, Any]] = Field(description="per measure: value, previous, count")


class KpiReport(Out):
    """Every KPI over a period and the one before it."""

    period: Period
    previous_period: Period
    group_by: str | None
    percentiles: str
    kpis: list[KpiSeries]
    not_applicable: list[str] = Field(description="KPIs that cannot be grouped by the requested dimension")
    scorecard: list[PartnerScore]


class KpiTarget(Out):
    kpi: str
    target: float
    direction: str = Field(description="higher or lower: which way is better")
    origin: str = Field(description="config (the targets file) or api (set by an admin)")
    updated_at: datetime
    updated_by: str | None


class KpiTargets(Out):
    rule: str = Field(description="the RAG rule the targets are judged by")
    targets: list[KpiTarget]


# -- orders ---------------------------------------------------------------------------------
class OrderMatch(Out):
    correlation_id: str
    match: str = Field(description="exact or prefix")
    matched_on: str
    events: int
    failed_attempts: int
    first_seen: datetime | None
    last_seen: datetime | None


class OrderSearch(Out):
    query: str
    results: list[OrderMatch]


class TimelineSystem(Out):
    system_id: str
    name: str | None
    kind: str | None


class TimelineStep(Out):
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    started_at: datetime | None
    ended_at: datetime | None
    seconds: float | None
    flow_id: str | None
    sla_seconds: int | None
    within_sla: bool | None


class TimelineCounts(Out):
    events: int
    spans: int
    exceptions: int


class OrderTimeline(Out):
    """One business key's events, spans and exceptions in time order."""

    correlation_id: str
    kind: str = Field(description="order, purchase_order, stock or other")
    order: dict[str, Any] | None = Field(description="the order's facts: channel, ERP, fulfiller, step times")
    systems: list[TimelineSystem]
    services: list[str]
    steps: list[TimelineStep]
    counts: TimelineCounts
    entries: list[dict[str, Any]] = Field(description="events, spans and exceptions; ``type`` says which")


# -- flows ----------------------------------------------------------------------------------
class FlowDefinition(Out):
    flow_id: str
    name: str
    source_system: str
    target_system: str
    start_event: str
    end_event: str
    sla_seconds: int
    lag_threshold_seconds: int
    queue: str | None
    replay_kind: str | None
    replay_target: str | None
    category: str
    replay_rate_per_second: float | None
    replay_four_eyes: bool | None


class FlowHealth(FlowDefinition):
    sync_lag_p95_seconds: float | None
    steps_last_hour: int
    deliveries_last_hour: int
    failures_last_hour: int
    open_exceptions: int
    worst_open_severity: str | None
    health: str = Field(description="healthy, degraded or failing")


class FlowList(Out):
    as_of: datetime
    window_seconds: int
    flows: list[FlowHealth]


class SignalWindow(Span):
    bucket_seconds: int


class FlowSignals(Out):
    """A flow's technical and business series on one time axis."""

    flow_id: str
    window: SignalWindow
    axis: list[datetime]
    series: dict[str, list[float | None]]


class LikelyCause(Out):
    exception_id: int
    likely_cause: dict[str, Any] | None


# -- exceptions -----------------------------------------------------------------------------
class ExceptionRecord(Out):
    """An exception as stored."""

    exception_id: int
    title: str | None
    kind: str
    flow_id: str | None
    system_id: str | None
    business_key: str | None
    severity: str
    status: str
    assignee: str | None
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    affected_orders: int
    error_class: str | None
    first_error: str | None
    last_error: str | None
    event_id: str | None
    snoozed_until: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    updated_at: datetime | None


class BusinessImpact(Out):
    """What an exception, incident or alert costs the business (models/queries/impact.py)."""

    value_at_risk: float = Field(0.0, description="sum of the affected orders' totals")
    customer_tier: str | None = Field(None, description="the most important tier among its orders: key, standard")
    earliest_ship_by: datetime | None = Field(None, description="the earliest promised ship-by of its open orders")


class ExceptionRow(ExceptionRecord, BusinessImpact):
    """An exception as the grid lists it: with its age, whether it is snoozed now, and its business impact."""

    age_seconds: float | None
    age_band: str | None
    snoozed: bool
    flow_name: str | None = None


class ExceptionPage(Out):
    items: list[ExceptionRow]
    total: int
    offset: int
    limit: int


class MessageCounts(Out):
    total: int
    delivered: int
    failed: int
    pending: int


class KnownError(Out):
    """The error catalog's class of an exception's error."""

    class_id: str = Field(examples=["unmapped_sku"])
    name: str
    explanation: str = Field(description="what the error means, in plain language")
    runbook: str = Field(description="Markdown")
    action: str = Field(description="the safe action to offer: replay, edit_and_replay or resolve")
    suggested_patch: str | None = Field(description="JSON Patch to start an edit-and-replay from")
    resolve_reason: str | None


class ExceptionDetail(ExceptionRow):
    """One exception with what an operator needs to act on it."""

    flow: FlowDefinition | None
    event: dict[str, Any] | None = Field(description="the latest failed message with its payload")
    orders: list[str]
    orders_total: int
    replays: list[dict[str, Any]]
    messages: list[dict[str, Any]] = Field(description="every failed message: state, replays, last error")
    message_counts: MessageCounts
    actions: list[dict[str, Any]] = Field(description="the audit trail")
    known_error: KnownError | None = Field(description="the error catalog's class of its error, when known")
    incident: dict[str, Any] | None = Field(None, description="the incident it belongs to: incident_id, title, status")


class ActionResult(Out):
    """A lifecycle action: the audit's before and after states, and the exception as it is now."""

    exception_id: int
    action: str
    before: dict[str, Any] = Field(description="status, severity, assignee, snoozed_until before the action")
    after: dict[str, Any]
    exception: ExceptionRecord


class BulkPlanOut(Out):
    """A dry run: what the action would do to every selected item."""

    action: str
    selected: int
    runnable: int
    exceptions: int
    duplicate_risk: int
    skipped: int
    rate_per_second: float | None
    expected_seconds: float
    messages: int | None = None
    text: str | None = None
    items: list[PlanItem]


class BulkItem(Out):
    run_id: int
    position: int
    exception_id: int
    event_id: str | None
    status: str
    duplicate_risk: bool
    replay_id: int | None
    error: str | None
    finished_at: datetime | None
    title: str | None
    exception_status: str | None


class BulkRun(Out):
    """A bulk run's state, counts per item status and (a page of) its items."""

    run_id: int
    action: str
    actor: str
    status: str
    selection: dict[str, Any] | None
    total: int
    canary: int
    rate_per_second: float | None
    created_at: datetime
    finished_at: datetime | None
    detail: str | None
    counts: dict[str, int]
    items: list[BulkItem]


class DetectionRun(Out):
    """What one detection pass changed (fingerprints)."""

    opened: list[str]
    updated: list[str]
    resolved: list[str]
    reopened: list[str]
    clearing: list[str]
    findings: int
    elapsed_seconds: float


# -- ingest ---------------------------------------------------------------------------------
class Rejection(Out):
    index: int | None = Field(None, description="the record's position in the request")
    error: str


class IngestResult(Out):
    """Per-record outcome of an ingest request (accepted means durably queued)."""

    accepted: int
    duplicates: int = 0
    rejected: list[Rejection] = Field(default_factory=list)
    ignored: int | None = None


class ErrorOut(Out):
    detail: Any = Field(description="what was wrong and where")


# -- demo -----------------------------------------------------------------------------------
class SimReply(Out):
    """A simulated system took the message (201), or had it already under that key (200)."""

    system: str
    resource: str
    idempotency_key: str | None
    duplicate: bool


class Faults(Out):
    systems: list[dict[str, Any]] = Field(description="mode, error rate, received, delivered, duplicates, failed")


class Deliveries(Out):
    keys: list[str]


# -- alerts ---------------------------------------------------------------------------------
class RuleDefinition(Out):
    """A rule as configured (TOML, API or page); which fields apply depends on ``kind``."""

    id: str
    name: str
    kind: str
    threshold: float | None
    for_: str | None = Field(None, alias="for", serialization_alias="for", description="e.g. 5m")
    severity: str
    labels: dict[str, str]
    route: str | None
    enabled: bool
    on_nodata: str | None = None
    description: str | None
    flow: list[str] = []
    exception_kind: list[str] = []
    system: list[str] = []
    exception_severity: list[str] = []
    by: list[str] = []
    queue: str | None = None
    dlq: bool | None = None
    source: list[str] = Field([], description="ingest_silence: the sources watched")
    window: str | None = None
    horizon: str | None = None
    lookback: str | None = None


class RuleState(RuleDefinition):
    """A rule with its state now: ok, pending, firing, resolved, nodata, error or disabled."""

    state: str
    health: str | None
    health_detail: str | None
    evaluated_at: datetime | None
    alerts: int
    defined_in: str = Field(description="file, edited or api: which definition of the rule is the truth")
    updated_by: str | None
    updated_at: datetime | None


class AlertRow(Out):
    rule_id: str
    series: str
    labels: dict[str, str]
    state: str
    value: float | None
    threshold: float | None
    summary: str | None
    active_since: datetime | None
    firing_since: datetime | None
    resolved_at: datetime | None
    evaluated_at: datetime
    group_key: str | None


class AlertsByState(Out):
    firing: list[AlertRow]
    pending: list[AlertRow]
    resolved: list[AlertRow]


class AlertGroup(Out):
    group_key: str
    route: str
    labels: dict[str, str]
    episode: int
    status: str
    started_at: datetime
    next_flush_at: datetime
    last_flush_at: datetime | None
    closed_at: datetime | None


class Silence(Out):
    silence_id: int
    matchers: list[dict[str, Any]] = Field(description="label matchers: name, value, is_regex, is_equal")
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime
    expired_by: str | None


class ChannelState(Out):
    channel: str
    type: str
    status: str = Field(description="ok, failing or unused")
    failures_in_a_row: int
    last_error: str | None
    last_failure_at: datetime | None
    last_success_at: datetime | None
    next_try_at: datetime | None


class Notification(Out):
    notification_id: int
    channel: str
    kind: str
    group_key: str | None
    episode: int | None
    sent_at: datetime
    result: str
    detail: str | None
    attempts: int
    message_ref: dict[str, Any] | None
    content_hash: str | None
    payload: Any


class AlertChange(Out):
    change_id: int
    changed_at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any


class AlertsOverview(Out):
    """Everything the Alerts page shows."""

    as_of: datetime
    rules: list[RuleState]
    alerts: AlertsByState
    groups: list[AlertGroup]
    silences: list[Silence]
    channels: list[ChannelState]
    notifications: list[Notification]
    changes: list[AlertChange]


class RuleRow(Out):
    """A rule's stored row: its definition and where that definition comes from."""

    rule_id: str
    name: str
    definition: RuleDefinition
    enabled: bool
    origin: str
    updated_at: datetime
    updated_by: str | None
    defined_in: str | None = None
    deleted: bool | None = None
    deleted_by: str | None = None
    reverted_by: str | None = None


class Evaluation(Out):
    rules: int
    firing: int
    pending: int
    resolved: int
    errors: dict[str, str]
    nodata: dict[str, str]
    groups_started: list[str]
    elapsed_seconds: float


class EvaluationRun(Out):
    """One evaluation and the notifications it sent."""

    evaluation: Evaluation
    notifications: list[dict[str, Any]]


class TestResults(Out):
    results: list[dict[str, Any]] = Field(description="per channel: channel, ok, detail")
    ok: bool


class SlackLink(Out):
    slack_user_id: str
    user_name: str


class SlackAnswer(Out):
    """The immediate answer to a Slack button: empty (the result follows through ``response_url``),
    or an ephemeral message to a Slack user not linked to a Flowwatch user."""

    response_type: str | None = None
    replace_original: bool | None = None
    text: str | None = None


# -- access ---------------------------------------------------------------------------------
class Me(Out):
    """Who the request is: a user (with a role) or an API key (with a scope)."""

    name: str
    kind: str = Field(description="user or key")
    role: str | None
    scope: str | None


class UserRow(Out):
    name: str
    role: str = Field(description="viewer, operator or admin")
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserChange(Out):
    """What an admin's change to a user did."""

    name: str
    role: str | None = None
    was: str | None = Field(None, description="the role before a role change")
    disabled: bool | None = None
    password_reset: bool | None = None


class KeyRow(Out):
    """A key as listed: recognisable by prefix and last four characters, never the key itself."""

    name: str
    scope: str = Field(description="ingest, read, act or admin")
    prefix: str
    last4: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_addr: str | None
    state: str = Field(description="active, or why it is refused (revoked, expired)")


class KeyCreated(Out):
    """The new key: shown in this answer once, stored only as a hash."""

    name: str
    scope: str
    key: str
    shown_once: bool


class KeyRevoked(Out):
    name: str
    revoked: bool


class AuditRow(Out):
    audit_id: int
    at: datetime
    kind: str = Field(description="login, login_failed, logout, key_created, key_used, denied, …")
    principal: str | None
    addr: str | None
    detail: dict[str, Any] | None


# -- reconciliation (issue 15) ----------------------------------------------------------------
class ReconciliationStage(Out):
    position: int
    stage: str = Field(examples=["erp"])
    label: str = Field(examples=["Accepted in the ERP"])
    event: str = Field(examples=["order.accepted"])
    grace_minutes: int = Field(description="a key is missing once the stage before is this much older")
    replay: bool = Field(description="a gap's keys can be replayed from the previous stage's message")
    unless: list[str] = Field(description="events that take a key out of this stage (cancelled, on hold)")


class FunnelCell(Out):
    day: datetime
    channel: str
    position: int
    stage: str
    label: str
    reached: int = Field(description="keys with the stage's event")
    missing: int = Field(description="keys past the stage's grace without it: the gap")
    pending: int = Field(description="keys still within the grace (in flight)")
    excluded: int = Field(description="keys with one of the stage's unless events")


class ReconciliationGap(Out):
    day: datetime
    channel: str
    position: int
    stage: str
    label: str
    correlation_id: str = Field(description="the missing key: its timeline is /orders?id=<key>")
    previous_at: datetime = Field(description="when the key reached the stage before")
    due_at: datetime
    source_event_id: str | None = Field(description="the previous stage's message (replayed where replay is true)")
    source_flow_id: str | None
    replay: bool


class ReconciliationReport(Out):
    """Orders compared key by key across the stages, per day and channel."""

    as_of: datetime
    since: datetime
    until: datetime
    channel: str | None
    stages: list[ReconciliationStage]
    funnel: list[FunnelCell]
    gaps: list[ReconciliationGap]


# -- error catalog (issue 15) -----------------------------------------------------------------
class ErrorClass(KnownError):
    """A known error class: how it is recognised, what it means and what to do."""

    codes: list[str] = Field(description="error codes, matched case-insensitively")
    patterns: list[str] = Field(description="regular expressions over the message (case-insensitive)")
    exclude: list[str] = Field(description="a message matching one of these is not this class")
    position: int = Field(description="match order: the first matching class wins")
    origin: str = Field(description="config (the catalogue file) or admin (added here)")
    updated_by: str | None = Field(description="who last edited it; null: as the file says")
    updated_at: datetime | None


class ErrorClassList(Out):
    classes: list[ErrorClass]


class ErrorClassReverted(Out):
    class_id: str
    error_class: ErrorClass | None = Field(description="the file's definition, or null when the class was removed")


# -- backlog forecast (issue 15) --------------------------------------------------------------
class QueueForecastOut(Out):
    queue: str
    flow_id: str
    target_system: str
    depth: int
    throughput_per_min: float = Field(description="orders the flow delivered to its target per minute")
    arrivals_per_min: float = Field(description="throughput plus the depth's slope")
    clears_at: datetime | None = Field(description="null: not draining (arrivals at or above throughput)")
    cutoff: str | None = Field(description="the target's daily cut-off, HH:MM UTC")
    cutoff_at: datetime | None = Field(description="today's cut-off; null once passed or without one")
    misses_cutoff: int = Field(description="messages of the backlog that will not be through by the cut-off (FIFO)")
    orders_at_risk: list[str] = Field(description="waiting orders among them, oldest first (order steps)")


class BacklogForecast(Out):
    as_of: datetime
    window_minutes: float
    queues: list[QueueForecastOut]


# -- incidents (issue 15) ---------------------------------------------------------------------
class IncidentRow(BusinessImpact):
    """An incident: the system that explains its exceptions, its state and what it costs."""

    incident_id: int
    system_id: str
    system_name: str | None
    title: str
    status: str = Field(description="open, acknowledged, resolved")
    owner: str | None
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    updated_at: datetime
    exceptions: int = Field(description="exceptions attached")
    active_exceptions: int = Field(description="of those, still open or acknowledged")
    flows: int = Field(description="flows its exceptions are on")
    orders: int = Field(description="distinct orders its exceptions hold")
    valued_orders: int | None = None


class IncidentPage(Out):
    items: list[IncidentRow]
    total: int


class IncidentException(Out):
    exception_id: int
    title: str | None
    kind: str
    flow_id: str | None
    flow_name: str | None
    system_id: str | None
    severity: str
    status: str
    first_seen: datetime
    last_seen: datetime
    affected_orders: int
    attached_at: datetime


class IncidentEvent(Out):
    """One entry of an incident's timeline: an exception's first occurrence, or an incident action."""

    at: datetime
    what: str = Field(description="exception, open, attach, ack, assign, resolve")
    actor: str | None
    detail: str | None
    exception_id: int | None


class IncidentFlow(Out):
    flow_id: str
    name: str


class IncidentDetail(IncidentRow):
    exception_list: list[IncidentException]
    flow_list: list[IncidentFlow]
    timeline: list[IncidentEvent]


class IncidentActionResult(Out):
    """An incident action: the states before and after, how many exceptions it resolved, the incident now."""

    incident_id: int
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    resolved_exceptions: int
    incident: IncidentDetail
