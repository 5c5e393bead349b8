"""The demo's incident switch (break or mend a simulated system: one action, for the API and the page),
and the demo's users and simulator keys."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from app.services import access
from app.services.errors import InvalidRequest, NotFound
from models.enums import FaultMode, Role, Scope
from models.queries.access import get_user, list_keys

if TYPE_CHECKING:
    from app.context import AppContext

log = logging.getLogger(__name__)


def switch_fault(
    ctx: AppContext, system: str, mode: str, *, error_rate: float = 1.0, delay_seconds: float | None = None
) -> list[dict[str, Any]]:
    """Set how ``system`` answers — ok, error, timeout or slow — for replays to its /sim endpoints and
    for the live demo traffic touching it; returns every simulated system's state."""
    known = {s.system_id: s.name for s in ctx.flow_config.systems}
    if system not in known:
        raise NotFound(f"unknown system {system!r}; known: {', '.join(sorted(known))}")
    try:
        fault_mode = FaultMode(mode)
    except ValueError as exc:
        raise InvalidRequest(f"unknown mode {mode!r}; expected one of {', '.join(FaultMode)}") from exc
    try:
        ctx.sim.set_fault(system, fault_mode, error_rate=error_rate, delay_seconds=delay_seconds)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    log.warning("demo: %s (%s) switched to %s", known[system], system, fault_mode)
    return ctx.sim.state()


#: The demo's people: one per role, named after it, so the login page is self-explanatory.
DEMO_USERS = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
#: Keys the live simulator sends with (a new pair each run; the previous run's are revoked).
SIMULATOR_KEY_PREFIX = "demo-simulator-"


def demo_users(conn: Connection, *, now: datetime) -> dict[str, str]:
    """Create the missing demo users with random passwords; returns name → password of those created
    (existing users keep theirs: the passwords are shown once, when made)."""
    made = {}
    for role in DEMO_USERS:
        if get_user(conn, str(role)) is None:
            password = secrets.token_urlsafe(12)
            access.create_user(conn, str(role), role, password, by="flowwatch demo", now=now)
            made[str(role)] = password
    return made


def simulator_keys(conn: Connection, *, now: datetime) -> tuple[str, str]:
    """A fresh (ingest, read) key pair for the live simulator; earlier runs' simulator keys are revoked."""
    for key in list_keys(conn):
        if key["name"].startswith(SIMULATOR_KEY_PREFIX) and key["revoked_at"] is None:
            access.revoke_key(conn, key["name"], by="flowwatch demo", now=now)
    stamp = f"{now:%Y%m%d%H%M%S%f}"
    return (
        access.create_key(conn, f"{SIMULATOR_KEY_PREFIX}ingest-{stamp}", Scope.INGEST, by="flowwatch demo", now=now),
        access.create_key(conn, f"{SIMULATOR_KEY_PREFIX}read-{stamp}", Scope.READ, by="flowwatch demo", now=now),
    )
