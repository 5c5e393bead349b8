"""The domain's words in one place: statuses, actions and reasons as ``StrEnum``s, and the actor names
the system itself acts under. Queries, services, builders and collectors import them from here (and
never a service just for an enum)."""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    """How one delivery attempt of a business event ended."""

    OK = "ok"
    FAILED = "failed"
    RETRYING = "retrying"
    DEAD_LETTERED = "dead_lettered"


class ExceptionStatus(StrEnum):
    """Lifecycle of an exception: open → acknowledged → resolved | ignored (and reopened)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    IGNORED = "ignored"


#: The statuses of an exception someone still has to act on.
ACTIVE_STATUSES = (ExceptionStatus.OPEN, ExceptionStatus.ACKNOWLEDGED)
#: The same, as a SQL list literal (from code, never input): ``status IN ('open', 'acknowledged')``.
ACTIVE_SQL = "(" + ", ".join(f"'{s}'" for s in ACTIVE_STATUSES) + ")"


class IncidentStatus(StrEnum):
    """Lifecycle of an incident: open → acknowledged → resolved."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class IncidentAction(StrEnum):
    """What happens to an incident (the ``action`` of its timeline)."""

    OPEN = "open"
    ATTACH = "attach"
    ACK = "ack"
    ASSIGN = "assign"
    RESOLVE = "resolve"


#: Incidents still being worked on.
ACTIVE_INCIDENT_STATUSES = (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)


class CustomerTier(StrEnum):
    """A customer's tier as an order.created payload states it, most important first."""

    KEY = "key"
    STANDARD = "standard"


class Action(StrEnum):
    """What an operator (or a replay) can do to an exception; also the ``action`` column of the audit."""

    ACK = "ack"
    ASSIGN = "assign"
    NOTE = "note"
    RESOLVE = "resolve"
    IGNORE = "ignore"
    REOPEN = "reopen"
    SNOOZE = "snooze"
    SET_SEVERITY = "set_severity"
    REPLAY = "replay"


#: The actor of what detection does to exceptions (open, resolve, reopen).
DETECTOR = "detector"
#: The actor of the resolve a delivered replay makes.
REPLAY_ACTOR = "replay"
#: Actors that are the system itself, not an operator (manual intervention does not count them).
SYSTEM_ACTORS = (DETECTOR, REPLAY_ACTOR)


class MessageState(StrEnum):
    """Where one failed message of an exception stands."""

    PENDING = "pending"
    FAILED = "failed"
    DELIVERED = "delivered"


class ReplayStatus(StrEnum):
    """Status of one ``replays`` row."""

    PENDING_APPROVAL = "pending_approval"
    RUNNING = "running"
    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"
    ABANDONED = "abandoned"


class FixReason(StrEnum):
    """Why an operator edited a payload before replaying it (required with every edit)."""

    UNMAPPED_SKU = "unmapped_sku"
    INVALID_ADDRESS = "invalid_address"
    DATA_CORRECTION = "data_correction"
    PARTNER_REQUEST = "partner_request"
    OTHER = "other"


class BulkAction(StrEnum):
    """What a bulk request does to every selected exception."""

    REPLAY = "replay"
    RESOLVE = "resolve"
    IGNORE = "ignore"
    ASSIGN = "assign"


class RunStatus(StrEnum):
    """Status of a bulk run."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"
    CANARY_FAILED = "canary_failed"
    FAILED = "failed"  # the run itself broke (a bug or the database), see its detail


class ItemStatus(StrEnum):
    """Result of one item: replays end delivered or failed, other actions done; skipped says why."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DONE = "done"
    SKIPPED = "skipped"


class FaultMode(StrEnum):
    """How a simulated system of the demo answers: normally, with 500s, not in time, or slowly."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    SLOW = "slow"


class AlertChange(StrEnum):
    """An admin's change to alerting, as its audit trail (``alert_changes``) names it."""

    RULE_CREATED = "rule_created"
    RULE_EDITED = "rule_edited"
    RULE_DISABLED = "rule_disabled"
    RULE_ENABLED = "rule_enabled"
    RULE_DELETED = "rule_deleted"
    RULE_REVERTED = "rule_reverted"  # an edited file rule back to the file's definition
    SILENCE_CREATED = "silence_created"
    SILENCE_EXPIRED = "silence_expired"
    SLACK_USER_LINKED = "slack_user_linked"
    SLACK_USER_UNLINKED = "slack_user_unlinked"


class Direction(StrEnum):
    """Which way a KPI gets better: a target is met at or above it (higher) or at or below it (lower)."""

    HIGHER = "higher"
    LOWER = "lower"


class Rag(StrEnum):
    """A KPI against its target: green at or better, amber within the tolerance, red beyond; none without data."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    NONE = "none"


class Role(StrEnum):
    """What a person may do: viewer (read), operator (plus exception actions and replay), admin (plus
    rules, silences, users, keys, partners, config). Ordered: each role includes the one before."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class Scope(StrEnum):
    """What an API key may do: ingest (OTLP, events, queue samples only), read, act (read plus
    operator actions), admin (everything)."""

    INGEST = "ingest"
    READ = "read"
    ACT = "act"
    ADMIN = "admin"


class Access(StrEnum):
    """The access rule of a route or an acting callback (see app/auth.py)."""

    OPEN = "open"  # health, login: no credentials
    SIGNED = "signed"  # vendor webhooks and Slack: their own signature checks
    INGEST = "ingest"  # machine ingest: an ingest key (or any admin)
    READ = "read"  # viewer role, read scope
    ACT = "act"  # operator role, act scope
    ADMIN = "admin"  # admin role, admin scope


class SecurityEvent(StrEnum):
    """The ``kind`` column of the security audit."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    LOGOUT = "logout"
    SESSION_EXPIRED = "session_expired"
    USER_CREATED = "user_created"
    USER_DISABLED = "user_disabled"
    ROLE_CHANGED = "role_changed"
    PASSWORD_RESET = "password_reset"
    PASSWORD_REHASHED = "password_rehashed"
    KEY_CREATED = "key_created"
    KEY_USED = "key_used"
    KEY_REVOKED = "key_revoked"
    KEY_REFUSED = "key_refused"
    DENIED = "denied"
    CSRF_REFUSED = "csrf_refused"


#: Error codes that mean "no stock to allocate": the ERP could not allocate an order the storefront took.
OVERSELL_CODE_PREFIX = "STOCK"
#: Why an order is held when its lines cannot be allocated (an in-full shortfall).
STOCK_HOLD_REASON = "stock_allocation"
