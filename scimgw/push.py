"""``scimgw push <type> <id>``: transfer one person of a source now (S4.1), and
``scimgw hooks``: the webhook events received, with what became of each (in scimgw, and
in the targets: the newest delivery of the person's user to each).

A push goes the webhook's way (provisioning.sources.arrivals): the person is read from
the source's API, applied to the store as a run (trigger ``manual``), and the worker
delivers it to the targets. It reuses what the latest webhook event of that person said
(job, unit, department, start day), so a push after a failed event sends the same hire.
"""

import asyncio
from dataclasses import asdict
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from gateway import logs
from gateway.config import GatewayConfig
from gateway.store.database import create_engine
from provisioning.records import hooks, runs
from provisioning.sources import arrivals, links
from scimgw.cli_common import ConfigOption, DatabaseOption, err, required_config, settings_from
from scimgw.sync import EXIT_CODES, EXIT_FAILED, EXIT_HELD, EXIT_RUNNING, _print
from scimgw.syncing import SOURCE_DIRECTIONS, ensure_tenants


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    app.command("hooks")(hooks_command)


def push(
    source_type: Annotated[str, typer.Argument(help="the source's type, e.g. taleez")],
    person_id: Annotated[str, typer.Argument(help="the person's id there (a candidate id)")],
    tenant: Annotated[str | None, typer.Option(help="default: the default tenant")] = None,
    connection: Annotated[
        str | None, typer.Option(help="the connection, if the tenant has several of the type")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="the outcome as one JSON object")] = False,
    database_url: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Transfer one person of a source now, as its webhook would (a hire, by hand).

    Exit status: 0 applied, 1 failed (the message says why), 2 no such connection,
    3 the connection is running (try again).
    """
    settings = settings_from(database_url, config)
    logs.configure(settings.log_level)
    gateway_config = required_config(settings)
    tenant_id = tenant or gateway_config.default_tenant
    name = _connection(gateway_config, tenant_id, source_type, connection)
    engine = create_engine(settings.database_url)
    ensure_tenants(engine, gateway_config)
    runner = arrivals.ArrivalRunner(engine, gateway_config)
    try:
        runner.connection(tenant_id, name)
        hints = _last_hints(engine, tenant_id, name, person_id)
        request = runs.RunRequest(tenant_id, name, "manual")
        arrival = asyncio.run(runner(request, person_id, hints))
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_HELD) from None
    except runs.RunInProgress as exc:
        err.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(EXIT_RUNNING) from None
    finally:
        engine.dispose()
    outcome = arrival.outcome
    if json:
        typer.echo(orjson.dumps(asdict(outcome)).decode())
    else:
        _print(outcome, dry_run=False)
    raise typer.Exit(EXIT_CODES.get(outcome.status, EXIT_FAILED))


def _connection(config: GatewayConfig, tenant: str, source_type: str, name: str | None) -> str:
    """The tenant's source connection of that type (the one named, or the only one)."""
    found = config.tenants.get(tenant)
    connections = {} if found is None else found.connections
    candidates = sorted(
        n
        for n, s in connections.items()
        if s.type == source_type and s.direction in SOURCE_DIRECTIONS and name in (None, n)
    )
    if len(candidates) != 1:
        which = f"connection {name}" if name else f"one source connection of type {source_type}"
        problem = "several: say which with --connection" if len(candidates) > 1 else "none"
        err.print(f"[red]tenant {tenant} needs {which}; found {problem}[/red]")
        raise typer.Exit(EXIT_HELD)
    return candidates[0]


def _last_hints(engine: Any, tenant: str, name: str, person_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        latest = hooks.recent(conn, tenant=tenant, connection=name, subject=person_id, limit=1)
    return dict(latest[0].hints) if latest else {}


def hooks_command(
    connection: Annotated[str | None, typer.Option(help="only this connection")] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
    status: Annotated[str | None, typer.Option(help="pending, done or failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="newest first")] = 50,
    json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Webhook events received: the person, status, attempts, their run, why it failed, and
    what became of the person in the targets (the newest delivery to each)."""
    engine = create_engine(settings_from(database_url).database_url)
    with engine.connect() as conn:
        found = hooks.recent(conn, tenant=tenant, connection=connection, status=status, limit=limit)
        rows = [(event, _then(conn, event)) for event in found]
    if not rows:
        err.print("no webhook events match")
        return
    if json:
        for event, then in rows:
            typer.echo(orjson.dumps({**asdict(event), "then": then}).decode())
        return
    table = Table("id", "received", "tenant", "connection", "person", "job", "status")
    for column in ("attempts", "run", "message", "then"):
        table.add_column(column)
    for e, then in rows:
        table.add_row(
            str(e.id),
            f"{e.received:%Y-%m-%d %H:%M:%S}",
            e.tenant_id,
            e.connection,
            e.subject,
            e.job,
            e.status,
            str(e.attempts),
            e.run_id or "",
            e.message or "",
            "; ".join(then),
        )
    Console().print(table)  # built per call: it reads the terminal's width


def _then(conn: Any, event: hooks.Event) -> list[str]:
    """What became of the person after scimgw: their user and its newest delivery to each
    target (``lucca: create retry (department Support ...)``)."""
    link = links.load_all(conn, event.tenant_id, event.connection, only=event.subject)
    if event.subject not in link:
        return []
    user_id = link[event.subject].user_id
    found = hooks.downstream(conn, event.tenant_id, user_id)
    return [f"user {user_id}"] + [
        f"{d.connection}: {d.operation} {d.outcome}" + (f" ({d.error})" if d.error else "")
        for d in found
    ]
