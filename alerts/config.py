"""Alert configuration: rules, channels, routes, inhibition, maintenance windows and digests, as
typed models read from TOML (``[alerts]`` of the settings file, rules also from their own file) and
from the API. A bad value stops with the setting's name, like every other setting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from alerts.labels import Matcher
from models.store.toml_files import read_toml_entries, repeated

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.toml")
SEVERITIES = ("critical", "high", "medium", "low")
#: Labels every alert gets from Flowwatch; a rule's own labels may not override them.
RESERVED_LABELS = ("alertname", "severity", "kind", "rule_health")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
#: The longest ``for`` a rule may hold its condition before firing.
MAX_FOR = timedelta(days=1)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """``30``, ``"30s"``, ``"5m"``, ``"4h"``, ``"1d"`` or ``"1h30m"`` → a timedelta (plain numbers are seconds)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
        if parts and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*[smhd])+\s*", text):
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return timedelta(seconds=float(text))
    raise ValueError(f"{value!r} is not a duration like 30s, 5m, 4h or 1d")


def format_duration(value: timedelta) -> str:
    """The shortest of ``90s``, ``5m``, ``4h``, ``1d`` that says ``value`` exactly."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


class RuleKind(StrEnum):
    """What a rule watches (the unit of its threshold in brackets)."""

    SYNC_LAG = "sync_lag"  # p95 of a flow's sync lag over `window` [multiple of the flow's SLA]
    EXCEPTIONS = "exceptions"  # open exceptions by kind/flow/system/severity [count]
    QUEUE_DEPTH = "queue_depth"  # a queue's latest depth [messages]
    QUEUE_AGE = "queue_age"  # a queue's oldest message [minutes]
    CYCLE_TIME = "cycle_time"  # order cycle time p95 of orders created in `window` [hours]
    ORDERS_AT_RISK = "orders_at_risk"  # orders not shipped whose ship-by is within `horizon` [orders]
    INGEST_SILENCE = "ingest_silence"  # no event from a source for [minutes]
    BACKLOG_CUTOFF = "backlog_cutoff"  # a queue's backlog will miss today's cut-off of its target by [messages]
    INCIDENTS = "incidents"  # an open incident, one alert each, by its active exceptions [count]


class RuleConfig(BaseModel):
    """One alert rule: a condition on a signal, held ``for`` a while before it fires."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="stable id: lower case, digits, _ . -")
    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind
    threshold: float = Field(ge=0, description="fires when the value is at or above it (unit per kind)")
    for_: Duration = Field(timedelta(0), alias="for", description="how long the condition holds before firing")
    severity: Literal["critical", "high", "medium", "low"] = "high"
    labels: dict[str, str] = Field(default_factory=dict, description="added to every alert of the rule")
    route: str | None = Field(None, description="the route (channels, grouping) its alerts take; default: matching")
    enabled: bool = True
    on_nodata: Literal["notify", "ignore"] = Field(
        "notify", description="no data for the signal: notify (like a query error), or only show it on the rule"
    )
    description: str | None = Field(None, max_length=2000)
    # what the signal is narrowed to (each kind reads the ones it knows)
    flow: list[str] = Field(default_factory=list, description="flow ids (sync_lag, exceptions)")
    exception_kind: list[str] = Field(default_factory=list, description="exceptions: dead_letter, sla_breach, …")
    system: list[str] = Field(default_factory=list, description="exceptions: system ids")
    exception_severity: list[Literal["critical", "high", "medium", "low"]] = Field(default_factory=list)
    by: list[Literal["flow", "kind", "system", "severity"]] = Field(
        default_factory=lambda: ["flow", "kind"], description="exceptions: one alert per value of these"
    )
    queue: str | None = Field(
        None, description="queue_depth/queue_age/backlog_cutoff: a glob over queue names, e.g. '*.dlq'"
    )
    dlq: bool | None = Field(None, description="queue_depth/queue_age: only DLQs (true) or only work queues (false)")
    source: list[str] = Field(default_factory=list, description="ingest_silence: source systems (default: every one)")
    window: Duration = Field(
        timedelta(minutes=15), description="sync_lag, cycle_time, backlog_cutoff: the window measured"
    )
    horizon: Duration = Field(timedelta(hours=4), description="orders_at_risk: ship-by this close (or past)")
    lookback: Duration = Field(timedelta(hours=24), description="ingest_silence: sources heard from this recently")

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name, value in labels.items():
            if not _LABEL_NAME.fullmatch(name):
                raise ValueError(f"label name {name!r} must be letters, digits and _ (not starting with a digit)")
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by Flowwatch (reserved: {', '.join(RESERVED_LABELS)})")
            if len(value) > 200:
                raise ValueError(f"label {name!r}: value longer than 200 characters")
        return labels

    @model_validator(mode="after")
    def _kind_fits(self) -> RuleConfig:
        # messages start with the field they are about: the API's 422 and the page name it
        if self.kind is RuleKind.SYNC_LAG and self.threshold <= 0:
            raise ValueError("threshold: for sync_lag it is a multiple of the flow's SLA, above 0 (1 = at the SLA)")
        if self.kind is RuleKind.INGEST_SILENCE and self.threshold <= 0:
            raise ValueError("threshold: for ingest_silence it is minutes without events, above 0")
        if self.kind is RuleKind.ORDERS_AT_RISK and self.threshold < 1:
            raise ValueError("threshold: for orders_at_risk it is a number of orders, at least 1")
        if self.kind is RuleKind.BACKLOG_CUTOFF and self.threshold < 1:
            raise ValueError("threshold: for backlog_cutoff it is a number of messages missing the cut-off, at least 1")
        if self.for_ > MAX_FOR:
            raise ValueError(f"for: at most {format_duration(MAX_FOR)} (a condition held longer is already news)")
        return self

    def definition(self) -> dict[str, Any]:
        """JSON-ready, as stored and as the API shows it."""
        return self.model_dump(mode="json", by_alias=True)


class ChannelType(StrEnum):
    """Integrations a notification can go out through."""

    SLACK = "slack"  # bot token, Web API: chat.postMessage then chat.update of the same message
    SLACK_WEBHOOK = "slack_webhook"  # incoming webhook: a new message each time
    EMAIL = "email"  # SMTP


class ChannelConfig(BaseModel):
    """One place notifications go; the fields of its type are required."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    type: ChannelType
    token: str | None = Field(None, description="slack: the bot token (xoxb-…)")
    channel: str | None = Field(None, description="slack: channel id or name")
    api_base_url: str = Field("https://slack.com/api", description="slack: Web API base URL")
    webhook_url: str | None = Field(None, description="slack_webhook: the incoming webhook URL")
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    starttls: bool = Field(True, description="email: upgrade with STARTTLS")
    ssl: bool = Field(False, description="email: implicit TLS (SMTPS, usually port 465)")
    from_: str | None = Field(None, alias="from")
    to: list[str] = Field(default_factory=list)
    rate_limit_per_hour: int = Field(60, ge=1, le=100_000, description="notifications per hour before holding back")
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_attempts: int = Field(4, ge=1, le=10, description="tries per notification (429 and 5xx are retried)")

    @model_validator(mode="after")
    def _complete(self) -> ChannelConfig:
        needed = {
            ChannelType.SLACK: ("token", "channel"),
            ChannelType.SLACK_WEBHOOK: ("webhook_url",),
            ChannelType.EMAIL: ("smtp_host", "from_", "to"),
        }[self.type]
        missing = [name.rstrip("_") for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"channel {self.name!r} ({self.type}) needs {', '.join(missing)}")
        if self.ssl and self.starttls and self.type is ChannelType.EMAIL:
            raise ValueError(f"channel {self.name!r}: choose starttls or ssl (implicit TLS), not both")
        return self


class RouteConfig(BaseModel):
    """Which channels alerts go to and how they are grouped (unset timers take the [alerts] defaults)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    channels: list[str] | None = Field(None, description="channel names; default: every channel")
    matchers: list[Matcher] = Field(default_factory=list, description="alerts this route takes (first match wins)")
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None


class InhibitRule(BaseModel):
    """A firing ``source`` alert mutes ``target`` alerts it explains: those whose ``target_labels`` name the
    system in the source's ``source_label`` (an ingest-silent or down system explains its flows' alerts)."""

    model_config = ConfigDict(extra="forbid")

    source: list[Matcher]
    target: list[Matcher] = Field(default_factory=list)
    source_label: str = "system"
    target_labels: list[str] = Field(default_factory=lambda: ["system", "source_system", "target_system"])


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MaintenanceWindow(BaseModel):
    """A system's planned downtime: weekly (weekdays, start–end UTC) or once (starts_at–ends_at)."""

    model_config = ConfigDict(extra="forbid")

    system: str
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(default_factory=list)
    start: time | None = None
    end: time | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    comment: str | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> MaintenanceWindow:
        weekly = bool(self.weekdays) and self.start is not None and self.end is not None
        once = self.starts_at is not None and self.ends_at is not None
        if weekly == once:
            raise ValueError(f"maintenance of {self.system!r}: give weekdays + start + end, or starts_at + ends_at")
        if once and self.ends_at <= self.starts_at:  # type: ignore[operator]
            raise ValueError(f"maintenance of {self.system!r}: ends_at must be after starts_at")
        return self

    def covers(self, at: datetime) -> bool:
        """True when ``at`` (naive UTC) falls inside the window (a weekly end before its start runs past midnight)."""
        if self.starts_at is not None and self.ends_at is not None:
            return _naive(self.starts_at) <= at < _naive(self.ends_at)
        start, end, now = self.start, self.end, at.time()
        assert start is not None and end is not None
        if start <= end:
            return _WEEKDAYS[at.weekday()] in self.weekdays and start <= now < end
        if now >= start:
            return _WEEKDAYS[at.weekday()] in self.weekdays
        return _WEEKDAYS[(at.weekday() - 1) % 7] in self.weekdays and now < end


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


class DigestConfig(BaseModel):
    """A shift digest: at each time (UTC), one message of what opened, what is open and aging, what was
    resolved and by whom, and the value still at risk, since the previous time."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    at: list[time] = Field(min_length=1)
    channels: list[str] | None = None


def _default_inhibit() -> list[InhibitRule]:
    return [
        InhibitRule(
            source=[Matcher(name="kind", op="=~", value="ingest_silence|system_down")],
            target=[Matcher(name="kind", op="!~", value="ingest_silence|system_down")],
        )
    ]


class AlertsConfig(BaseModel):
    """The ``[alerts]`` table of the settings file."""

    model_config = ConfigDict(extra="forbid")

    rules_file: Path | None = Field(None, description="TOML of [[rules]]; default: alerts/default_rules.toml")
    rules: list[RuleConfig] = Field(default_factory=list, description="[[alerts.rules]] beside those of the file")
    group_by: list[str] = Field(default_factory=lambda: ["flow", "kind"])
    group_wait: Duration = timedelta(seconds=30)
    group_interval: Duration = timedelta(minutes=5)
    repeat_interval: Duration = timedelta(hours=4)
    channels: list[ChannelConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    inhibit: list[InhibitRule] = Field(default_factory=_default_inhibit)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    digests: list[DigestConfig] = Field(default_factory=list)
    slack_users: dict[str, str] = Field(default_factory=dict, description="Slack user id → Flowwatch user name")
    snooze: Duration = Field(timedelta(hours=1), description="how long Slack's Snooze silences an alert group")
    resolved_retention: Duration = Field(timedelta(hours=24), description="resolved alerts stay listed this long")

    @model_validator(mode="after")
    def _names(self) -> AlertsConfig:
        channels = [c.name for c in self.channels]
        for kind, names in (("channel", channels), ("route", [r.name for r in self.routes])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{kind} names must be unique: {', '.join(twice)}")
        return self


class RulesFileError(ValueError):
    """The rules file cannot be read; the message names the file and the rule."""


def load_rules_file(path: Path | None) -> list[RuleConfig]:
    """The ``[[rules]]`` of a TOML file (default: the demo's), each validated; errors name file and rule."""
    path = path or DEFAULT_RULES_FILE
    rules = read_toml_entries(path, "alert rules file", "rules", RuleConfig, RulesFileError, name=lambda r: r.get("id"))
    twice = repeated(r.id for r in rules)
    if twice:
        raise RulesFileError(f"alert rules file {path}: rule ids must be unique: {', '.join(twice)}")
    return rules
