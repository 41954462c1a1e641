"""The provisioning commands of ``scimgw``: config check, worker, status, replay, plan, guard."""

import asyncio
import gc
import signal
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from gateway import logs
from gateway.config import GatewayConfig
from gateway.store.database import create_engine, writer
from provisioning.accounts import plan as planning
from provisioning.engine import (
    PRIORITY_NAMES,
    RunStatus,
    Worker,
    backlogs,
    format_duration,
    run_statuses,
)
from provisioning.records import claims, failures, guard, record_audit
from provisioning.sources import source_problems
from provisioning.targets import build_targets, problems
from scimgw.cli_common import (
    ConfigOption,
    DatabaseOption,
    config_from,
    err,
    required_config,
    settings_from,
)
from scimgw.hooks import process_due, processing, takes_hooks
from scimgw.syncing import scheduling

config_app = typer.Typer(help="Configuration file", no_args_is_help=True)
guard_app = typer.Typer(help="Mass-deletion guard", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(guard_app, name="guard")
    app.command("worker")(worker)
    app.command("status")(status)
    app.command("replay")(replay)
    app.command("plan")(plan)
    app.command("deliveries")(deliveries_command)


def checked_connections(config: GatewayConfig) -> GatewayConfig:
    """``config``, once every connection passes ``config check``; else exit 2.

    Commands that deliver build every connector, and a connector reads its ``options``
    (and their secrets) only then: checked here first, a missing variable is one line
    naming it and its connection instead of a traceback from inside a connector.
    """
    found = asyncio.run(problems(config)) + source_problems(config)
    for problem in found:
        err.print(f"[red]configuration error:[/red] {problem}", soft_wrap=True)
    if found:
        raise typer.Exit(2)
    return config


@config_app.command("check")
def config_check(
    path: Annotated[str | None, typer.Argument(help="default SCIMGW_CONFIG")] = None,
) -> None:
    """Validate a configuration file; print each problem with its YAML path."""
    settings = settings_from(None, path)
    if not settings.config_path:
        err.print("[red]no configuration file given (argument or SCIMGW_CONFIG)[/red]")
        raise typer.Exit(2)
    config = config_from(settings)
    found = asyncio.run(problems(config)) + source_problems(config)
    for problem in found:
        err.print(f"[red]{problem}[/red]", soft_wrap=True)
    if found:
        raise typer.Exit(2)
    count = sum(len(t.connections) for t in config.tenants.values())
    typer.echo(f"{settings.config_path}: ok ({len(config.tenants)} tenants, {count} connections)")


def worker(
    once: Annotated[bool, typer.Option(help="deliver what is due, then exit")] = False,
    lease_seconds: Annotated[float, typer.Option(help="claim lease")] = 60.0,
    connection: Annotated[str | None, typer.Option(help="only this connection")] = None,
    database_url: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Deliver changes to the target connections until SIGTERM (or once, with --once)."""
    settings = settings_from(database_url, config)
    logs.configure(settings.log_level)
    gateway_config = checked_connections(required_config(settings))
    engine = create_engine(settings.database_url)
    asyncio.run(_run_worker(engine, gateway_config, once, lease_seconds, connection))


async def _run_worker(
    engine: Engine, config: GatewayConfig, once: bool, lease: float, only: str | None
) -> None:
    # As scimgw serve does: what exists at start is never walked by a full collection,
    # which holds the GIL (a scheduled run's pages stalled the loop 138 ms without it).
    gc.freeze()
    targets = build_targets(config, engine.dialect.name, only=only)
    if not targets and not (once or _has_schedules(config, only)):
        err.print("no enabled target connections nor schedules in the configuration")
        return
    delivery = Worker(engine, targets, lease=timedelta(seconds=lease))
    try:
        if once:
            # Webhook events recorded since the last run first (a cron job beside
            # `serve --no-worker`): the people they bring are then delivered in this run.
            if only is None and takes_hooks(config):
                processed = await process_due(engine, config)
                typer.echo(f"processed {processed} webhook event{'' if processed == 1 else 's'}")
            typer.echo(f"settled {await delivery.drain()} events")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # The scheduler runs beside the delivery: its runs enqueue what the worker sends.
        async with scheduling(engine, config, only=only), processing(engine, config):
            await asyncio.gather(delivery.run(stop), stop.wait())
    finally:
        for target in targets:
            await target.aclose()


def _has_schedules(config: GatewayConfig, only: str | None) -> bool:
    return any(
        settings.schedule is not None and only in (None, name)
        for tenant in config.tenants.values()
        for name, settings in tenant.connections.items()
    )


def status(database_url: DatabaseOption = None, config: ConfigOption = None) -> None:
    """Each connection's backlog by priority, dead letters, ETA, and whether it is paused
    (guard) or its circuit breaker is open."""
    settings = settings_from(database_url, config)
    # No secret is read: status runs on an admin's machine that has none of them.
    gateway_config = required_config(settings, resolve_secrets=False)
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        rows = backlogs(connection, gateway_config)
        synced = run_statuses(connection, gateway_config)
    table = Table("tenant", "connection", *PRIORITY_NAMES.values(), "dead", "held", "ETA", "state")
    for b in rows:
        eta = format_duration(b.eta_seconds) if b.eta_seconds is not None else "-"
        counts = [str(b.waiting.get(p, 0)) for p in PRIORITY_NAMES]
        table.add_row(b.tenant, b.connection, *counts, str(b.dead), str(b.held), eta, b.state)
    console = Console()  # built per call: it reads the terminal's width
    console.print(table)
    if synced:
        console.print(_runs_table(synced))


def _runs_table(statuses: list[RunStatus]) -> Table:
    """Sync runs: each connection's last run and its next scheduled one."""
    table = Table("tenant", "connection", "direction", "last run", "result", "schedule", "next run")
    table.title = "sync runs (scimgw runs show <id> for details)"
    for item in statuses:
        last, result = "never", "-"
        if item.last is not None:
            last = f"{item.last.started:%Y-%m-%d %H:%M} UTC ({item.last.id})"
            result = item.last.status
            if item.last.message:
                result += f": {item.last.message[:80]}"
        upcoming = f"{item.next_at:%Y-%m-%d %H:%M} UTC" if item.next_at is not None else "-"
        table.add_row(
            item.tenant, item.connection, item.direction, last, result, item.schedule, upcoming
        )
    return table


def deliveries_command(
    dead: Annotated[bool, typer.Option("--dead", help="only current dead letters")] = False,
    connection: Annotated[str | None, typer.Option(help="only this connection")] = None,
    user: Annotated[str | None, typer.Option(help="a user's id or userName")] = None,
    tenant: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, help="newest first, at most this many")] = 50,
    json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Failed deliveries with their reasons and the event ids that replay --event takes."""
    engine = create_engine(settings_from(database_url).database_url)
    with engine.connect() as conn:
        rows = failures.failures(
            conn, dead_only=dead, tenant=tenant, target=connection, user=user, limit=limit
        )
    if not rows:
        err.print("no failed deliveries match")
    elif json:
        for row in rows:
            typer.echo(orjson.dumps(asdict(row)).decode())
    else:
        table = Table(*FAILURE_COLUMNS)
        for row in rows:
            table.add_row(*(cell(row) for cell in FAILURE_COLUMNS.values()))
        Console().print(table)  # built per call: it reads the terminal's width


#: The columns of ``scimgw deliveries`` and the cell each reads from a failure.
FAILURE_COLUMNS: dict[str, Callable[[failures.Failure], str]] = {
    "at": lambda f: f"{f.at:%Y-%m-%d %H:%M:%S}",
    "event": lambda f: str(f.event_id),
    "tenant": lambda f: f.tenant,
    "connection": lambda f: f.connection,
    "user": lambda f: f.user_name or f"{f.resource_type} {f.resource_id}",
    "operation": lambda f: f.operation,
    "attempt": lambda f: str(f.attempt),
    "outcome": lambda f: f.outcome,
    "HTTP": lambda f: str(f.http_status or ""),
    "reason": lambda f: f.reason or "",
}


def replay(
    event: Annotated[int | None, typer.Option(help="one dead-lettered event id")] = None,
    connection: Annotated[str | None, typer.Option(help="every dead letter of it")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every dead letter")] = False,
    tenant: Annotated[str | None, typer.Option()] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Re-enqueue dead letters: one event, a connection's, or all."""
    if not (event or connection or all_):
        err.print("[red]say which: --event ID, --connection NAME or --all[/red]")
        raise typer.Exit(2)
    engine = create_engine(settings_from(database_url).database_url)
    now = datetime.now(UTC)
    with writer(engine).begin() as conn:
        ids = claims.requeue(
            conn, status=claims.DEAD, now=now, tenant=tenant, target=connection, event_id=event
        )
        if ids:
            record_audit(
                conn,
                tenant=tenant or "*",
                actor="cli",
                action="replay",
                at=now,
                target=connection,
                detail=f"{len(ids)} events: {ids[:20]}",
            )
    typer.echo(f"re-enqueued {len(ids)} dead letters")
    if event and not ids:
        raise typer.Exit(1)


def plan(
    connection: Annotated[str, typer.Argument(help="connection name")],
    tenant: Annotated[str | None, typer.Option(help="default: the default tenant")] = None,
    show_skips: Annotated[bool, typer.Option(help="also list users needing nothing")] = False,
    database_url: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Dry run: what a full reconcile would create, update, deactivate or skip, and why."""
    settings = settings_from(database_url, config)
    gateway_config = checked_connections(required_config(settings))
    tenant_id = tenant or gateway_config.default_tenant
    engine = create_engine(settings.database_url)
    lines = asyncio.run(_plan(engine, gateway_config, tenant_id, connection))
    table = Table("operation", "userName", "id", "why")
    for line in lines:
        if show_skips or line.operation != "skip":
            table.add_row(line.operation, line.user_name, line.resource_id, line.reason)
    Console().print(table)  # built per call: it reads the terminal's width
    totals = planning.summary(lines)
    typer.echo(", ".join(f"{op}: {n}" for op, n in sorted(totals.items())) or "nothing to do")


async def _plan(
    engine: Engine, config: GatewayConfig, tenant_id: str, name: str
) -> list[planning.PlanLine]:
    targets = [
        t for t in build_targets(config, engine.dialect.name, only=name) if t.tenant == tenant_id
    ]
    if not targets:
        err.print(f"[red]no enabled target connection {name} in tenant {tenant_id}[/red]")
        raise typer.Exit(2)
    try:
        return await planning.plan(engine, targets[0])
    finally:
        await targets[0].aclose()


@guard_app.command("confirm")
def guard_confirm(
    connection: Annotated[str, typer.Argument()],
    tenant: Annotated[str | None, typer.Option()] = None,
    database_url: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """The held deprovisions are intended: send them, and resume the connection."""
    _guard_decision(connection, tenant, database_url, config, confirm=True)


@guard_app.command("discard")
def guard_discard(
    connection: Annotated[str, typer.Argument()],
    tenant: Annotated[str | None, typer.Option()] = None,
    database_url: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """The held deprovisions are a mistake: drop them, and resume the connection."""
    _guard_decision(connection, tenant, database_url, config, confirm=False)


def _guard_decision(
    name: str,
    tenant: str | None,
    database_url: str | None,
    config_path: str | None,
    *,
    confirm: bool,
) -> None:
    settings = settings_from(database_url, config_path)
    gateway_config = config_from(settings)
    tenant_id = tenant or gateway_config.default_tenant
    settings_of = gateway_config.tenant(tenant_id).connections.get(name)
    if settings_of is None:
        err.print(f"[red]no connection {name} in tenant {tenant_id}[/red]")
        raise typer.Exit(2)
    engine = create_engine(settings.database_url)
    now = datetime.now(UTC)
    with writer(engine).begin() as conn:
        if confirm:
            guard.confirm(conn, tenant_id, name, settings_of.guard, now)
            count = len(
                claims.requeue(conn, status=claims.HELD, now=now, tenant=tenant_id, target=name)
            )
        else:
            guard.resume(conn, tenant_id, name)
            count = claims.discard_held(conn, tenant_id, name, now)
        action = "guard.confirmed" if confirm else "guard.discarded"
        record_audit(
            conn,
            tenant=tenant_id,
            actor="cli",
            action=action,
            at=now,
            target=name,
            detail=f"{count} held events",
        )
    verb = "released" if confirm else "discarded"
    typer.echo(f"{verb} {count} held events; {name} resumed")
