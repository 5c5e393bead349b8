"""The `flowwatch` command: serve, seed, demo. Errors are one clear line and exit code 1."""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError

from app.settings import Settings, load_settings
from models.store.db import DatabaseError
from models.store.flow_config import FlowConfigError
from models.store.kpi_targets import TargetsFileError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from app.context import AppContext
    from seed_data.live_simulator import LiveSimulator

T = TypeVar("T")

cli = typer.Typer(
    help="Flowwatch: operational observability and exception management for distributors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="DuckDB file, duckdb:///path or postgresql+psycopg://user:pw@host/db [FLOWWATCH_DB, FLOWWATCH_DB_URL]",
    ),
]
HostOpt = Annotated[str | None, typer.Option("--host", help="address to bind (default 127.0.0.1)")]
PortOpt = Annotated[int | None, typer.Option("--port", help="port to bind (default 8050)")]
DaysOpt = Annotated[int | None, typer.Option("--days", help="days of demo history (default 30)")]
OrdersOpt = Annotated[int | None, typer.Option("--orders-per-day", help="mean demo orders per day (default 1500)")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="random seed: same seed, same data")]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="delete the database and seed it anew")]
SpeedOpt = Annotated[
    float | None,
    typer.Option("--speed", help="live orders walk their steps this many times faster than the history (default 1)"),
]
LiveOpt = Annotated[
    bool, typer.Option("--live/--no-live", help="keep sending live demo traffic through the ingest APIs")
]

#: Shopify webhooks of the live demo are signed with this when no secret is configured.
DEMO_SHOPIFY_SECRET = "flowwatch-demo-shopify-secret"


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def _settings(**options: object) -> Settings:
    try:
        return load_settings(**options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise CliError(f"invalid settings: {problems}") from exc


def _check_port_free(host: str, port: int) -> None:
    """Fail before seeding or opening anything when the address is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror} (is another server running?)") from exc


def _delete_db(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            candidate.unlink(missing_ok=True)
        except OSError as exc:
            raise CliError(f"cannot delete {candidate}: {exc.strerror}") from exc


def _seed_if_needed(settings: Settings, *, fresh: bool) -> None:
    """Seed the demo distributor into a new (or --fresh) database; keep an existing one."""
    from app.context import open_context
    from models.queries.common import utcnow
    from models.store.schema import get_meta
    from seed_data import seed_demo

    if fresh and settings.postgres:
        from models.store.db import make_pg_engine
        from models.store.schema import drop_postgres_schema

        engine = make_pg_engine(settings.postgres)
        drop_postgres_schema(engine)
        engine.dispose()
    elif fresh:
        _delete_db(settings.db)
    ctx = open_context(settings)
    try:
        with ctx.engine.connect() as conn:
            anchor = get_meta(conn, "demo_anchor")
        if anchor is not None:
            typer.echo(
                f"Database {settings.database_label()} already holds the demo (seeded up to {anchor}); "
                "use --fresh to re-seed."
            )
            return
        typer.echo(
            f"Seeding {settings.days} days x ~{settings.orders_per_day} orders/day "
            f"(seed {settings.seed}) into {settings.database_label()} ..."
        )
        report = seed_demo(
            ctx.engine,
            ctx.writer,
            days=settings.days,
            orders_per_day=settings.orders_per_day,
            seed=settings.seed,
            anchor=utcnow().replace(second=0, microsecond=0),
        )
        counts = ", ".join(f"{n:,} {t}" for t, n in report.counts.items())
        typer.echo(f"Seeded in {report.elapsed_seconds:.1f} s: {counts}")
    finally:
        ctx.close()


def _serve(settings: Settings, *, live: bool = False, demo: bool = False) -> None:
    """Serve until Ctrl+C; with ``live``, the simulator sends traffic once the server answers; with ``demo``,
    one user per role is made (passwords printed once) and the simulator gets its own keys."""
    import uvicorn

    from app.auth import check_bind
    from app.main import create_app
    from app.signalled import SignalledServer

    try:
        check_bind(settings, warn=False)  # auth off is for loopback only (create_app warns)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    _check_port_free(settings.host, settings.port)
    app = create_app(settings)
    keys = _demo_access(settings, app.state.ctx) if demo else (None, None)
    simulator = _live_simulator(settings, app.state.ctx, keys) if live else None
    typer.echo(f"Flowwatch is serving at http://{settings.host}:{settings.port}/  (Ctrl+C stops)")
    server = SignalledServer(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning"))
    if simulator is not None:
        simulator.start()
    try:
        server.run()
    finally:
        if simulator is not None:
            simulator.stop()
    if server.stopped_by is not None:  # Ctrl+C: 130, whether or not uvicorn's re-raise got through
        raise typer.Exit(128 + server.stopped_by)


def _demo_access(settings: Settings, ctx: AppContext) -> tuple[str | None, str | None]:
    """The demo's users (printed once) and the simulator's (ingest, read) keys; nothing when auth is off."""
    from app.services.demo import DEMO_USERS, demo_users, simulator_keys

    if not settings.auth:
        typer.echo("Auth is off (FLOWWATCH_AUTH=off): no login needed, every request acts as the local admin.")
        return None, None
    with ctx.writer.transaction() as conn:
        made = demo_users(conn, now=ctx.now())
        keys = simulator_keys(conn, now=ctx.now())
    login = f"http://{settings.host}:{settings.port}/login"
    what = {"viewer": "dashboards and the read API", "operator": "plus exception actions and replay",
            "admin": "plus rules, silences, users, keys"}  # fmt: skip
    if made:
        typer.echo(f"Demo users (log in at {login}); these passwords are shown only now:")
        for name, password in made.items():
            typer.echo(f"  {name:<9} {password}   ({what[name]})")
    else:
        names = ", ".join(str(r) for r in DEMO_USERS)
        typer.echo(f"Log in at {login} as {names} (passwords were shown when they were made; "
                   "`flowwatch users reset-password NAME` sets a new one, server stopped).")  # fmt: skip
    return keys


def _live_simulator(
    settings: Settings, ctx: AppContext, keys: tuple[str | None, str | None] = (None, None)
) -> LiveSimulator:
    """The live demo traffic, sent to this server's own address, continuing the seeded DLQs."""
    from app.demo_state import dlq_backlog, orders_in_flight
    from seed_data.live_simulator import LiveSimulator, SimulatorConfig

    base_url = settings.own_url()
    typer.echo(
        f"Live demo traffic: ~{settings.live_orders_per_minute:g} new orders a minute through the ingest APIs "
        "(--no-live turns it off)"
    )
    return LiveSimulator(
        SimulatorConfig(
            base_url=base_url,
            shopify_secret=settings.shopify_secret or DEMO_SHOPIFY_SECRET,
            orders_per_minute=settings.live_orders_per_minute,
            speed=settings.demo_speed,
            seed=settings.seed,
            dlq_backlog=dlq_backlog(ctx),
            in_flight=orders_in_flight(ctx),
            ingest_key=keys[0],
            read_key=keys[1],
        )
    )


@cli.command()
def serve(db: DbOpt = None, host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve the API and the dashboards."""
    _serve(_settings(db=db, host=host, port=port))


@cli.command()
def seed(
    db: DbOpt = None,
    days: DaysOpt = None,
    orders_per_day: OrdersOpt = None,
    seed: SeedOpt = None,
    fresh: FreshOpt = False,
) -> None:
    """Seed the demo distributor without serving (the server must be stopped)."""
    _seed_if_needed(_settings(db=db, days=days, orders_per_day=orders_per_day, seed=seed), fresh=fresh)


@cli.command()
def demo(
    db: DbOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    days: DaysOpt = None,
    orders_per_day: OrdersOpt = None,
    seed: SeedOpt = None,
    fresh: FreshOpt = False,
    live: LiveOpt = True,
    speed: SpeedOpt = None,
) -> None:
    """Seed the demo distributor if the database is new, then serve it with live traffic."""
    settings = _settings(db=db, host=host, port=port, days=days, orders_per_day=orders_per_day, seed=seed,
                         demo_speed=speed, demo_mode=True)  # fmt: skip
    from app.auth import check_bind

    try:
        check_bind(settings, warn=False)  # before seeding: auth off is for loopback only
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    _check_port_free(settings.host, settings.port)
    _seed_if_needed(settings, fresh=fresh)
    if live and settings.shopify_secret is None:
        # The live Shopify webhooks must verify: sign and check them with a demo secret.
        settings = settings.model_copy(update={"shopify_secret": DEMO_SHOPIFY_SECRET})
    _serve(settings, live=live, demo=True)


partners_cli = typer.Typer(
    help="EDI trading partners: ISA/GS ids and the systems they are (server stopped).", no_args_is_help=True
)
cli.add_typer(partners_cli, name="partners")


def _partners_db(db: str | None) -> AppContext:
    """The database, opened for a partners change (DuckDB: the server must not hold it)."""
    from app.context import open_context

    return open_context(_settings(db=db))


@partners_cli.command("list")
def partners_list(db: DbOpt = None) -> None:
    """Every trading partner: ISA id, system id, and where it is configured."""
    ctx = _partners_db(db)
    try:
        from models.queries.partners import list_partners

        with ctx.engine.connect() as conn:
            stored = list_partners(conn)
        configured = {k.strip().upper(): v for k, v in ctx.settings.edi_partners.items()}
        if not stored and not configured:
            typer.echo("No EDI trading partners: add one with `flowwatch partners add ISA_ID SYSTEM_ID`.")
        for partner in sorted(stored.keys() | configured.keys()):
            where = "settings" if partner in configured else "database"
            typer.echo(f"{partner}\t{configured.get(partner, stored.get(partner))}\t{where}")
    finally:
        ctx.close()


@partners_cli.command("add")
def partners_add(
    partner_id: Annotated[str, typer.Argument(help="the ISA06/ISA08 (or GS02/GS03) id, e.g. ACMEIND")],
    system_id: Annotated[str, typer.Argument(help="the Flowwatch system it is, e.g. sup_acme")],
    db: DbOpt = None,
) -> None:
    """Add a trading partner (or point an existing one at another system)."""
    partner = partner_id.strip().upper()
    if not partner or len(partner) > 15 or not partner.replace("-", "").replace("_", "").isalnum():
        raise CliError(f"partner id {partner_id!r} is not an X12 interchange id (1–15 letters or digits)")
    ctx = _partners_db(db)
    try:
        from models.queries.partners import add_partners

        with ctx.engine.connect() as conn:
            known = {row[0] for row in conn.exec_driver_sql("SELECT system_id FROM systems")}
        if system_id not in known:
            raise CliError(f"unknown system {system_id!r}; known: {', '.join(sorted(known))}")
        with ctx.writer.transaction() as conn:
            add_partners(conn, {partner: system_id}, now=ctx.now())
        typer.echo(f"Added EDI partner {partner} → {system_id}")
    finally:
        ctx.close()


@partners_cli.command("remove")
def partners_remove(partner_id: Annotated[str, typer.Argument(help="the ISA id to remove")], db: DbOpt = None) -> None:
    """Remove a trading partner added with `partners add` (settings entries stay)."""
    ctx = _partners_db(db)
    try:
        from models.queries.partners import remove_partner

        with ctx.writer.transaction() as conn:
            removed = remove_partner(conn, partner_id)
        if not removed:
            raise CliError(f"no EDI partner {partner_id.strip().upper()!r} in {ctx.settings.database_label()}")
        typer.echo(f"Removed EDI partner {partner_id.strip().upper()}")
    finally:
        ctx.close()


# -- users and API keys (issue 11) ------------------------------------------------------------------
users_cli = typer.Typer(help="People who log in, with a role: viewer, operator, admin (server stopped).",
                        no_args_is_help=True)  # fmt: skip
keys_cli = typer.Typer(help="API keys for machines, scoped ingest, read, act or admin (server stopped).",
                       no_args_is_help=True)  # fmt: skip
cli.add_typer(users_cli, name="users")
cli.add_typer(keys_cli, name="keys")


class BadInput(CliError):
    """The command line itself is wrong (unknown role, short password, no such user): exit code 2."""

    exit_code = 2


def _cli_actor() -> str:
    """Who a CLI change is audited under: the operating-system account that ran it."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _password_input(password_stdin: bool) -> str:
    """The password from one line of stdin, or asked twice without echo."""
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise BadInput("--password-stdin: nothing on stdin")
        return line.rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _access_change(db: str | None, change: Callable[[AppContext, Connection], T]) -> T:
    """Open the database, run one access change in a write transaction, map refusals to exit code 2."""
    from app.services.errors import ServiceError

    ctx = _partners_db(db)
    try:
        with ctx.writer.transaction() as conn:
            return change(ctx, conn)
    except ServiceError as exc:
        raise BadInput(str(exc)) from exc
    finally:
        ctx.close()


RoleArg = Annotated[str, typer.Option("--role", help="viewer, operator or admin")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from stdin (one line) instead of asking")
]


@users_cli.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="the login name, e.g. dana.okafor")],
    role: RoleArg,
    password_stdin: PasswordStdin = False,
    db: DbOpt = None,
) -> None:
    """Add a user with a role and a password (argon2id-hashed)."""
    from app.services import access

    password = _password_input(password_stdin)
    made = _access_change(db, lambda ctx, conn: access.create_user(conn, name, role, password, by=_cli_actor(),
                                                                      now=ctx.now()))  # fmt: skip
    typer.echo(f"Added user {made['name']} ({made['role']})")


@users_cli.command("list")
def users_list(db: DbOpt = None) -> None:
    """Every user: name, role, enabled or disabled, created."""
    from models.queries.access import list_users

    rows = _access_change(db, lambda _ctx, conn: list_users(conn))
    if not rows:
        typer.echo("No users: add one with `flowwatch users add NAME --role admin`.")
    for u in rows:
        state = "disabled" if u["disabled"] else "enabled"
        typer.echo(f"{u['name']}\t{u['role']}\t{state}\tcreated {u['created_at']:%Y-%m-%d %H:%M}")


@users_cli.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="the user to disable")], db: DbOpt = None) -> None:
    """Disable a user: no more logins, their sessions end now."""
    from app.services import access

    _access_change(db, lambda ctx, conn: access.disable_user(conn, name, by=_cli_actor(), now=ctx.now()))
    typer.echo(f"Disabled user {name.strip()}; their sessions have ended")


@users_cli.command("set-role")
def users_set_role(name: Annotated[str, typer.Argument(help="the user")], role: RoleArg, db: DbOpt = None) -> None:
    """Give a user another role (audited); it applies to their next request."""
    from app.services import access

    changed = _access_change(db, lambda ctx, conn: access.set_role(conn, name, role, by=_cli_actor(), now=ctx.now()))
    typer.echo(f"{changed['name']} is now {changed['role']} (was {changed['was']})")


@users_cli.command("reset-password")
def users_reset_password(
    name: Annotated[str, typer.Argument(help="the user")], password_stdin: PasswordStdin = False, db: DbOpt = None
) -> None:
    """Set a new password for a user; their sessions end now."""
    from app.services import access

    password = _password_input(password_stdin)
    _access_change(db, lambda ctx, conn: access.reset_password(conn, name, password, by=_cli_actor(), now=ctx.now()))
    typer.echo(f"New password set for {name.strip()}; their sessions have ended")


def parse_expiry(value: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``90m`` from now, or an ISO date/time (naive = UTC)."""
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", value)
    if match:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
        return now + timedelta(**{unit: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"--expires {value!r}: give 30d, 12h, 90m or a date like 2027-01-31") from None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="what the key is for, e.g. shopify-otel")],
    scope: Annotated[str, typer.Option("--scope", help="ingest, read, act or admin")],
    expires: Annotated[str | None, typer.Option("--expires", help="30d, 12h, or a date (default: never)")] = None,
    db: DbOpt = None,
) -> None:
    """Create a key and print it as the only line on stdout: it is shown this once."""
    from app.services import access

    def create(ctx: AppContext, conn: Connection) -> str:
        until = parse_expiry(expires, ctx.now()) if expires else None
        return access.create_key(conn, name, scope, by=_cli_actor(), now=ctx.now(), expires_at=until)

    secret = _access_change(db, create)
    typer.echo(secret)
    typer.echo(f"Created key {name.strip()} ({scope.strip().lower()}); it is shown only this once.", err=True)


@keys_cli.command("list")
def keys_list(db: DbOpt = None) -> None:
    """Every key: name, scope, prefix…last4, state, expiry, last used and from where."""
    from app.services.access import key_refusal
    from models.queries.access import list_keys

    def rows(ctx: AppContext, conn: Connection) -> list[tuple[str, ...]]:
        now = ctx.now()
        return [
            (
                k["name"],
                k["scope"],
                f"{k['prefix']}…{k['last4']}",
                key_refusal({**k}, now) or "active",
                f"expires {k['expires_at']:%Y-%m-%d %H:%M}" if k["expires_at"] else "no expiry",
                f"last used {k['last_used_at']:%Y-%m-%d %H:%M} from {k['last_used_addr']}"
                if k["last_used_at"]
                else "never used",
            )
            for k in list_keys(conn)
        ]

    listed = _access_change(db, rows)
    if not listed:
        typer.echo("No API keys: create one with `flowwatch keys create --name NAME --scope ingest`.")
    for row in listed:
        typer.echo("\t".join(row))


@keys_cli.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name")], db: DbOpt = None) -> None:
    """Revoke a key: it answers 401 from now on."""
    from app.services import access

    _access_change(db, lambda ctx, conn: access.revoke_key(conn, name, by=_cli_actor(), now=ctx.now()))
    typer.echo(f"Revoked key {name.strip()}")


def main() -> None:
    """Console-script entry: user errors are one line on stderr, never a traceback."""
    try:
        cli()
    except (CliError, DatabaseError, FlowConfigError, TargetsFileError) as exc:
        typer.echo(f"flowwatch: error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
