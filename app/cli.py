"""The `flowwatch` command: serve, seed, demo. Errors are one clear line and exit code 1."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from app.settings import Settings, load_settings
from models.store.db import DatabaseError
from models.store.flow_config import FlowConfigError
from models.store.kpi_targets import TargetsFileError

if TYPE_CHECKING:
    from app.context import AppContext
    from seed_data.live_simulator import LiveSimulator

cli = typer.Typer(
    help="Flowwatch: operational observability and exception management for distributors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOpt = Annotated[
    str | None, typer.Option("--db", help="DuckDB database file or duckdb:///path [FLOWWATCH_DB, FLOWWATCH_DB_URL]")
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

    if fresh:
        _delete_db(settings.db)
    ctx = open_context(settings)
    try:
        with ctx.engine.connect() as conn:
            anchor = get_meta(conn, "demo_anchor")
        if anchor is not None:
            typer.echo(
                f"Database {settings.db} already holds the demo (seeded up to {anchor}); use --fresh to re-seed."
            )
            return
        typer.echo(
            f"Seeding {settings.days} days x ~{settings.orders_per_day} orders/day "
            f"(seed {settings.seed}) into {settings.db} ..."
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


def _serve(settings: Settings, *, live: bool = False) -> None:
    """Serve until Ctrl+C; with ``live``, the simulator sends traffic once the server answers."""
    import uvicorn

    from app.main import create_app

    _check_port_free(settings.host, settings.port)
    app = create_app(settings)
    simulator = _live_simulator(settings, app.state.ctx) if live else None
    typer.echo(f"Flowwatch is serving at http://{settings.host}:{settings.port}/  (Ctrl+C stops)")
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning"))
    if simulator is not None:
        simulator.start()
    try:
        server.run()
    finally:
        if simulator is not None:
            simulator.stop()


def _live_simulator(settings: Settings, ctx: AppContext) -> LiveSimulator:
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
    _check_port_free(settings.host, settings.port)
    _seed_if_needed(settings, fresh=fresh)
    if live and settings.shopify_secret is None:
        # The live Shopify webhooks must verify: sign and check them with a demo secret.
        settings = settings.model_copy(update={"shopify_secret": DEMO_SHOPIFY_SECRET})
    _serve(settings, live=live)


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
            raise CliError(f"no EDI partner {partner_id.strip().upper()!r} in {ctx.settings.db}")
        typer.echo(f"Removed EDI partner {partner_id.strip().upper()}")
    finally:
        ctx.close()


def main() -> None:
    """Console-script entry: user errors are one line on stderr, never a traceback."""
    try:
        cli()
    except (CliError, DatabaseError, FlowConfigError, TargetsFileError) as exc:
        typer.echo(f"flowwatch: error: {exc}", err=True)
        sys.exit(1)
