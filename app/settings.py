"""Typed settings: CLI flags > FLOWWATCH_* environment variables > TOML file > defaults."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from alerts.config import AlertsConfig, ChannelConfig, ChannelType
from collectors.brokers import BrokerConfig
from collectors.pollers import PollerConfig, check_unique_names


def _config_file() -> Path | None:
    """The TOML file named by FLOWWATCH_CONFIG, else ./flowwatch.toml when present."""
    named = os.environ.get("FLOWWATCH_CONFIG")
    if named:
        return Path(named)
    local = Path("flowwatch.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Everything a Flowwatch process needs to know, validated once at start."""

    model_config = SettingsConfigDict(env_prefix="FLOWWATCH_", extra="forbid")

    db: Path = Field(Path("data/flowwatch.duckdb"), description="DuckDB database file (or a database URL)")
    db_url: str | None = Field(
        None, description="the database as a URL: duckdb:///path or postgresql+psycopg://user:pw@host/db; overrides db"
    )
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8050, ge=1, le=65535, description="port to bind")
    days: int = Field(30, ge=1, le=365, description="days of demo history")
    orders_per_day: int = Field(1500, ge=1, le=100_000, description="mean demo orders per day")
    seed: int = Field(20261122, description="random seed of the demo data")
    flows_file: Path | None = Field(None, description="TOML flow model (systems and flows); default: the demo's")
    expectations_file: Path | None = Field(
        None, description="TOML expected next events and daily cut-offs; default: the demo's"
    )
    error_catalog_file: Path | None = Field(
        None, description="TOML error catalog (known error classes, runbooks, safe actions); default: the built-in"
    )
    kpi_targets_file: Path | None = Field(
        None, description="TOML of [[targets]] (kpi, target, direction); default: models/store/default_kpi_targets.toml"
    )
    refresh_seconds: int = Field(15, ge=2, le=3600, description="dashboard auto-refresh period")
    page_cache_seconds: float = Field(
        60, ge=0, le=3600,
        description="period pages (scorecard, partners, reconciliation, forecast) share a view for one clock minute "
        "and at most this long, then recompute it in the background (before answering once twice this old); "
        "0 computes every view afresh",
    )  # fmt: skip
    detection_interval_seconds: float = Field(30, ge=1, le=3600, description="how often exception detection runs")
    detection_resolve_after_passes: int = Field(
        2, ge=1, le=100, description="hold-down: passes a condition stays clear before its exception auto-resolves"
    )
    detection_resolve_after_seconds: float = Field(
        600, ge=0, le=86400, description="hold-down: and at least this long (no flapping)"
    )
    detection_reopen_window_hours: float = Field(
        24, ge=0, le=24 * 90, description="a recurrence within this long of a resolve reopens the same exception"
    )
    reconciliation_days: int = Field(
        3, ge=1, le=31, description="detection reconciles this many UTC days (today included) for gaps"
    )
    incident_min_exceptions: int = Field(
        3, ge=2, le=10_000, description="an incident groups at least this many active exceptions sharing a system"
    )
    incident_min_flows: int = Field(2, ge=1, le=100, description="…over at least this many flows")
    incident_window_minutes: float = Field(
        30, gt=0, le=7 * 24 * 60, description="…each first seen within this long (they began together)"
    )
    checkpoint_threshold: str = Field("256MB", description="DuckDB checkpoint_threshold (ingest speed)")
    memory_limit: str | None = Field(None, description="DuckDB memory_limit, e.g. '4GB'")
    shopify_secret: str | None = Field(None, description="shared secret of Shopify webhooks")
    webhook_secrets: dict[str, str] = Field(
        default_factory=dict, description="shared HMAC secrets of the other adapters, by adapter name"
    )
    edi_partners: dict[str, str] = Field(
        default_factory=dict,
        description="EDI trading partners, ISA id → system id (beside those added with `flowwatch partners add`)",
    )
    ingest_wal_dir: Path | None = Field(None, description="write-ahead folder (default: <db>.ingest)")
    ingest_batch_rows: int = Field(50_000, ge=1, description="flush when this many rows are pending")
    ingest_max_delay_seconds: float = Field(0.5, gt=0, le=60, description="flush at least this often")
    ingest_max_pending_rows: int = Field(1_000_000, ge=1, description="answer 503 beyond this backlog")
    ingest_fsync: bool = Field(False, description="fsync each acknowledged batch (power-loss safety)")
    max_request_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="largest accepted request body")
    public_base_url: str | None = Field(
        None, description="this server's URL for relative replay targets (/sim/...); default http://host:port"
    )
    replay_timeout_seconds: float = Field(10.0, gt=0, le=300, description="how long a replay waits for its target")
    replay_rate_per_second: float = Field(
        10.0, gt=0, le=10_000, description="bulk replay pace for flows without their own setting"
    )
    amqp_url: str | None = Field(None, description="RabbitMQ whose DLQs AMQP flows replay from, amqp://user:pw@host/")
    brokers: list[BrokerConfig] = Field(
        default_factory=list,
        description="canonical events consumed from RabbitMQ or NATS JetStream, [[brokers]] tables in the TOML file",
    )
    pollers: list[PollerConfig] = Field(
        default_factory=list, description="queue-depth pollers, [[pollers]] tables in the TOML file"
    )
    drop_dir: Path | None = Field(None, description="watched folder of CSV/NDJSON event files (default: <db>.drops)")
    filedrop_interval_seconds: float = Field(5.0, ge=0.5, le=3600, description="how often the drop folder is scanned")
    filedrop_settle_seconds: float = Field(
        1.0, ge=0, le=600, description="a dropped file is read once unchanged for this long"
    )
    live_orders_per_minute: float = Field(6.0, gt=0, le=6000, description="new orders/minute of the demo simulator")
    demo_mode: bool = Field(False, description="show the Demo panel and its incident switches (`flowwatch demo`)")
    demo_speed: float = Field(
        1.0,
        gt=0,
        le=10_000,
        description="how much faster than the history the live demo's orders walk their steps (1: hours, as seeded)",
    )

    # -- access (issue 11) ---------------------------------------------------------------------------
    auth: bool = Field(
        True,
        description="require a login or an API key; 'off' (FLOWWATCH_AUTH=off): loopback-only development",
    )
    behind_tls_proxy: bool = Field(
        False, description="served through a TLS-terminating proxy: the session cookie is Secure (__Host-)"
    )
    session_idle_minutes: float = Field(30, gt=0, le=24 * 60, description="a session unused this long ends")
    session_absolute_hours: float = Field(8, gt=0, le=24 * 30, description="a session ends this long after login")
    ingest_key_rate_per_second: float = Field(
        200, ge=0, description="requests a second one ingest key may send on average (0: unlimited); then 429"
    )
    ingest_key_burst: float = Field(400, ge=1, description="requests an ingest key may send at once above its rate")
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="largest body of a non-ingest request (actions, admin); 413 beyond"
    )

    # -- alerts (issue 12): the common channel settings also from the environment ------------------
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="rules, channels, routes, silences' defaults: [alerts] in TOML"
    )
    alert_evaluation_interval_seconds: float = Field(30, ge=1, le=3600, description="how often alert rules run")
    alert_notify_interval_seconds: float = Field(5, ge=1, le=600, description="how often due alert groups are sent")
    slack_webhook_url: str | None = Field(None, description="Slack incoming webhook (channel 'slack-webhook')")
    slack_bot_token: str | None = Field(None, description="Slack bot token xoxb-… (channel 'slack', Web API)")
    slack_signing_secret: str | None = Field(None, description="verifies Slack's interactivity requests")
    slack_channel: str | None = Field(None, description="Slack channel the bot posts to, e.g. C0123 or #ops-alerts")
    slack_api_base_url: str = Field("https://slack.com/api", description="Slack Web API base URL")
    smtp_host: str | None = Field(None, description="SMTP relay of alert mail (channel 'email')")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port")
    smtp_user: str | None = Field(None, description="SMTP login (optional)")
    smtp_password: str | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(True, description="upgrade the SMTP connection with STARTTLS")
    smtp_ssl: bool = Field(False, description="implicit TLS (SMTPS, usually port 465) instead of STARTTLS")
    alert_email_from: str | None = Field(None, description="From: of alert mail")
    alert_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="recipients of alert mail (comma-separated in the environment)"
    )

    @field_validator("alert_email_to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        return [a.strip() for a in value.split(",") if a.strip()] if isinstance(value, str) else value

    def own_url(self) -> str:
        """This server's own bind address (a wildcard bind answers on loopback): what a process on
        this machine, such as the live demo traffic, talks to."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def base_url(self) -> str:
        """Where people and systems reach this server: ``public_base_url`` when set, else :meth:`own_url`
        (links in alerts, relative replay targets)."""
        return self.public_base_url.rstrip("/") if self.public_base_url else self.own_url()

    def alert_channels(self) -> list[ChannelConfig]:
        """The [[alerts.channels]] of the file, plus 'slack', 'slack-webhook' and 'email' from the common
        settings when they are given (a file channel of the same name wins)."""
        named = {c.name: c for c in self.alerts.channels}
        if self.slack_bot_token and self.slack_channel:
            named.setdefault(
                "slack",
                ChannelConfig(
                    name="slack",
                    type=ChannelType.SLACK,
                    token=self.slack_bot_token,
                    channel=self.slack_channel,
                    api_base_url=self.slack_api_base_url,
                ),
            )
        if self.slack_webhook_url:
            named.setdefault(
                "slack-webhook",
                ChannelConfig(name="slack-webhook", type=ChannelType.SLACK_WEBHOOK, webhook_url=self.slack_webhook_url),
            )
        if self.smtp_host and self.alert_email_to:
            named.setdefault("email", ChannelConfig(
                name="email", type=ChannelType.EMAIL, smtp_host=self.smtp_host, smtp_port=self.smtp_port,
                smtp_user=self.smtp_user, smtp_password=self.smtp_password, starttls=self.smtp_starttls and not
                self.smtp_ssl, ssl=self.smtp_ssl, to=self.alert_email_to,
                **{"from": self.alert_email_from or f"flowwatch@{self.host}"},
            ))  # fmt: skip
        return list(named.values())

    @model_validator(mode="after")
    def _alert_channels(self) -> Settings:
        """Refuse a half-configured channel now rather than at the first alert."""
        if bool(self.slack_bot_token) != bool(self.slack_channel):
            raise ValueError(
                "slack_bot_token and slack_channel go together (FLOWWATCH_SLACK_CHANNEL names the channel)"
            )
        if self.smtp_host and not self.alert_email_to:
            raise ValueError("smtp_host is set but alert_email_to is empty: who should the alerts mail?")
        routes = {r.name for r in self.alerts.routes}
        channels = {c.name for c in self.alert_channels()}
        for route in self.alerts.routes:
            unknown = sorted(set(route.channels or []) - channels)
            if unknown:
                raise ValueError(f"alerts route {route.name!r} names unknown channel(s): {', '.join(unknown)}")
        for rule in self.alerts.rules:
            if rule.route and rule.route not in routes | {"default"}:
                raise ValueError(f"alert rule {rule.id!r} names unknown route {rule.route!r}")
        return self

    # -- end of alerts settings ----------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _pg_db(cls, values: Any) -> Any:
        """``--db postgresql+psycopg://...`` is a URL, not a file: it goes to ``db_url``."""
        if isinstance(values, dict) and isinstance(values.get("db"), str) and is_postgres_url(values["db"]):
            values = {**values, "db_url": values.get("db_url") or values["db"]}
            del values["db"]
        return values

    @field_validator("db", mode="before")
    @classmethod
    def _db(cls, value: Any) -> Any:
        """A file path, or a URL whose scheme this build supports (refused before anything is created)."""
        return database_path(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _db_from_url(self) -> Settings:
        if self.db_url is not None:
            if is_postgres_url(self.db_url):
                self.db_url = postgres_url(self.db_url)
                self.db = postgres_local_path(self.db_url)
            else:
                self.db = database_path(self.db_url)
                self.db_url = None
        return self

    @property
    def postgres(self) -> str | None:
        """The PostgreSQL URL when the app stores there, else None (embedded DuckDB in ``db``)."""
        return self.db_url

    def database_label(self) -> str:
        """The database as messages name it (no password)."""
        if self.db_url is None:
            return str(self.db)
        from sqlalchemy.engine import make_url

        return make_url(self.db_url).render_as_string(hide_password=True)

    @field_validator("checkpoint_threshold", "memory_limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        """Accept DuckDB size strings only ('256MB', '4GB'): they are interpolated into PRAGMAs."""
        if value is None:
            return value
        if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip(), re.I):
            raise ValueError(f"{value!r} is not a size like '256MB' or '4GB'")
        return value.strip()

    @field_validator("pollers")
    @classmethod
    def _unique_pollers(cls, value: list[PollerConfig]) -> list[PollerConfig]:
        check_unique_names(value)
        return value

    @field_validator("brokers")
    @classmethod
    def _unique_brokers(cls, value: list[Any]) -> list[Any]:
        names = [b.name for b in value]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"two brokers are named {', '.join(map(repr, twice))}: names must be unique")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init (CLI) wins over the environment, which wins over the TOML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


#: URL schemes a database may be given with in this build.
SUPPORTED_DB_SCHEMES = ("duckdb", "postgresql+psycopg", "postgresql", "postgres")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$")


def is_postgres_url(value: str) -> bool:
    """True for any ``postgres...://`` URL (a driver this build lacks is refused by :func:`postgres_url`)."""
    match = _URL.match(value.strip())
    return match is not None and match.group(1).lower().split("+")[0] in ("postgresql", "postgres")


def postgres_url(value: str) -> str:
    """``postgresql://`` / ``postgres://`` / ``postgresql+psycopg://`` → the psycopg 3 URL; other drivers refused."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    scheme, rest = value.strip().split("://", 1)
    if scheme.lower() not in SUPPORTED_DB_SCHEMES:
        raise ValueError(f"database URL scheme {scheme!r} is not supported: use postgresql+psycopg://user:pw@host/db")
    try:
        url = make_url(f"postgresql+psycopg://{rest}")
    except ArgumentError as exc:
        raise ValueError(f"cannot read the database URL: {exc}") from exc
    if not url.database:
        raise ValueError("the PostgreSQL URL names no database, e.g. postgresql+psycopg://user:pw@host:5432/flowwatch")
    return url.render_as_string(hide_password=False)


def postgres_local_path(url: str) -> Path:
    """Where this process keeps its local files (write-ahead buffer, drops) for a PostgreSQL database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return Path("data") / f"pg-{parsed.host or 'local'}-{parsed.port or 5432}-{parsed.database}"


def database_path(value: str) -> Path:
    """``data/fw.duckdb`` or ``duckdb:///data/fw.duckdb`` → the DuckDB file; any other scheme is refused."""
    match = _URL.match(value.strip())
    if match is None:
        return Path(value)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme != "duckdb":
        raise ValueError(
            f"database URL scheme {scheme!r} is not supported: give a file path, "
            "duckdb:///path/to/flowwatch.duckdb or postgresql+psycopg://user:pw@host/db"
        )
    path = rest[1:] if rest.startswith("/") else rest  # duckdb:///rel/x → rel/x; duckdb:////abs/x → /abs/x
    if not path:
        raise ValueError("duckdb:/// needs a file path, e.g. duckdb:///data/flowwatch.duckdb")
    return Path(path)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, dropping CLI options the user did not give (None)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
