"""``scimgw sync <connection>``: run a connection now, or preview it (S2.7, S5.9).

A source connection is read into the store (provisioning.sources); a target connection
is backfilled from it: what ``scimgw plan`` shows is enqueued in the ``loads`` lane
(provisioning.accounts.TargetRunner). One command, one runner per direction
(scimgw/syncing.py).
"""

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from gateway import logs
from gateway.config import GatewayConfig
from gateway.store.database import create_engine, writer
from provisioning import sources
from provisioning.records import runs
from scimgw.cli_common import ConfigOption, DatabaseOption, err, required_config, settings_from
from scimgw.syncing import SOURCE_DIRECTIONS, build_runner, ensure_tenants

#: Exit codes a script or a scheduler reads.
EXIT_OK, EXIT_FAILED, EXIT_HELD, EXIT_RUNNING = 0, 1, 2, 3
EXIT_CODES = {"succeeded": EXIT_OK, "failed": EXIT_FAILED, "held": EXIT_HELD}
#: Lines of changes a terminal shows; --json gives them all.
SHOWN_CHANGES = 200


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def sync(
    connection: Annotated[
        str, typer.Argument(help="a connection's name: a source to read, or a target to backfill")
    ],
    tenant: Annotated[str | None, typer.Option(help="default: the default tenant")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would change, write nothing")
    ] = False,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="let deactivations the guard held go (1 h)")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="the outcome as one JSON object")] = False,
    database_url: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Run a connection now: read a source into the store (create, update, deactivate),
    or backfill a target (enqueue what `scimgw plan` shows, behind live changes).

    Exit status: 0 succeeded, 1 failed (some people or the whole run), 2 held by the
    guard (run again with --confirm) or not runnable, 3 the connection is already running.
    """
    settings = settings_from(database_url, config)
    logs.configure(settings.log_level)
    gateway_config = required_config(settings)
    tenant_id = tenant or gateway_config.default_tenant
    is_source = _check(gateway_config, tenant_id, connection)
    if confirm and not is_source:
        err.print(f"[red]{connection} is a target: --confirm is for a source[/red]")
        raise typer.Exit(EXIT_HELD)
    engine = create_engine(settings.database_url)
    ensure_tenants(engine, gateway_config)
    if confirm and not dry_run:
        with writer(engine).begin() as conn:
            until = sources.confirm(conn, tenant_id, connection, datetime.now(UTC))
        err.print(f"deactivations of {connection} confirmed until {until:%H:%M} UTC")
    request = runs.RunRequest(tenant_id, connection, "manual", dry_run)
    try:
        outcome = asyncio.run(_run(engine, gateway_config, request, quiet=json))
    except runs.RunInProgress as exc:
        err.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(EXIT_RUNNING) from None
    finally:
        engine.dispose()
    if json:
        typer.echo(orjson.dumps(asdict(outcome)).decode())
    else:
        _print(outcome, dry_run)
    raise typer.Exit(EXIT_CODES.get(outcome.status, EXIT_FAILED))


def _check(config: GatewayConfig, tenant: str, name: str) -> bool:
    """Whether the connection is a source; exit 2 on no such connection, or an invalid source."""
    found = config.tenant(tenant).connections.get(name)
    if found is None:
        err.print(f"[red]tenant {tenant} has no connection {name}[/red]")
        raise typer.Exit(EXIT_HELD)
    if found.direction not in SOURCE_DIRECTIONS:
        return False
    problems = [p for p in sources.source_problems(config) if f".connections.{name}." in p]
    for problem in problems:
        err.print(f"[red]configuration error:[/red] {problem}", soft_wrap=True)
    if problems:
        raise typer.Exit(EXIT_HELD)
    return True


async def _run(
    engine: object, config: GatewayConfig, request: runs.RunRequest, *, quiet: bool
) -> runs.RunOutcome:
    runner = build_runner(engine, config)  # type: ignore[arg-type]
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
    with Progress(*columns, console=err, transient=True, disable=quiet) as bar:
        task = bar.add_task(f"running {request.connection}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total, description=f"{done} people")

        return await runner(request, progress)


def _print(outcome: runs.RunOutcome, dry_run: bool) -> None:
    console = Console()  # built per call: it reads the terminal's width
    title = "dry run: nothing written" if dry_run else f"run {outcome.run_id}: {outcome.status}"
    counts = Table(*runs.COUNTS, title=title)
    counts.add_row(*(str(outcome.counts.get(name, 0)) for name in runs.COUNTS))
    console.print(counts)
    for line in outcome.changes[:SHOWN_CHANGES]:
        console.print(line, highlight=False, soft_wrap=True)
    if len(outcome.changes) > SHOWN_CHANGES:
        console.print(f"... {len(outcome.changes) - SHOWN_CHANGES} more (--json lists them)")
    if outcome.failures:
        failed = Table("person", "reason", title="failures")
        for failure in outcome.failures:
            failed.add_row(failure.person, failure.reason)
        console.print(failed)
    if outcome.message:
        err.print(outcome.message, soft_wrap=True, highlight=False)
