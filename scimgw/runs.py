"""``scimgw runs``: the sync runs of the connections, newest first, and one run in full."""

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from gateway.store.database import create_engine, writer
from provisioning.records import runs
from scimgw.cli_common import DatabaseOption, err, settings_from

runs_app = typer.Typer(help="Sync runs: what ran, when, what it counted and who failed")

MAX_LIMIT = 1000

#: The columns of ``scimgw runs`` and the cell each reads from a run.
RUN_COLUMNS: dict[str, Callable[[runs.Run], str]] = {
    "id": lambda r: r.id,
    "started": lambda r: f"{r.started:%Y-%m-%d %H:%M:%S}",
    "tenant": lambda r: r.tenant_id,
    "connection": lambda r: r.connection,
    "direction": lambda r: r.direction,
    "trigger": lambda r: r.trigger,
    "status": lambda r: r.status,
    "seconds": lambda r: "-" if r.seconds is None else f"{r.seconds:.1f}",
    "counts": lambda r: _counts(r.counts),
}


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
def runs_command(
    context: typer.Context,
    connection: Annotated[str | None, typer.Option(help="only this connection")] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="newest first")] = 20,
    json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List the latest runs (``scimgw runs show ID`` prints one with its failures)."""
    if context.invoked_subcommand is not None:
        return
    engine = create_engine(settings_from(database_url).database_url)
    with engine.connect() as conn:
        found = runs.recent(conn, tenant=tenant, name=connection, limit=limit)
    if not found:
        err.print("no runs match")
    elif json:
        for run in found:
            typer.echo(_json(run))
    else:
        table = Table(*RUN_COLUMNS)
        for run in found:
            table.add_row(*(cell(run) for cell in RUN_COLUMNS.values()))
        Console().print(table)  # built per call: it reads the terminal's width


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="a run id from scimgw runs")],
    tenant: Annotated[str | None, typer.Option(help="only in this tenant")] = None,
    json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """One run: trigger, times, counts, message, and each failure with the person and why."""
    engine = create_engine(settings_from(database_url).database_url)
    with engine.connect() as conn:
        run = runs.get(conn, run_id[:36], tenant)
    if run is None:
        err.print(f"[red]no run {run_id[:36]}[/red]")
        raise typer.Exit(1)
    if json:
        typer.echo(_json(run))
        return
    console = Console()
    for label, value in _facts(run):
        console.print(f"[bold]{label}:[/bold] {value}", highlight=False, soft_wrap=True)
    if run.failures:
        table = Table("person", "reason", title=f"{len(run.failures)} failures")
        for failure in run.failures:
            table.add_row(failure.person, failure.reason)
        console.print(table)


@runs_app.command("abandon")
def abandon(
    run_id: Annotated[str, typer.Argument(help="a run left running by a process that died")],
    database_url: DatabaseOption = None,
) -> None:
    """Close a run whose process died as failed, so that its connection can run again."""
    engine = create_engine(settings_from(database_url).database_url)
    with writer(engine).begin() as conn:
        run = runs.get(conn, run_id[:36])
        if run is None or run.status != "running":
            err.print(f"[red]no running run {run_id[:36]}[/red]")
            raise typer.Exit(1)
        runs.abandon(
            conn, run.tenant_id, run.connection, datetime.now(UTC), "abandoned by an admin"
        )
    typer.echo(f"run {run.id} of {run.connection} closed as failed")


def _facts(run: runs.Run) -> list[tuple[str, str]]:
    finished = f"{run.finished:%Y-%m-%d %H:%M:%S}" if run.finished else "-"
    return [
        ("run", run.id),
        ("connection", f"{run.tenant_id}/{run.connection} ({run.direction})"),
        ("trigger", run.trigger + (f" (slot {run.slot})" if run.slot else "")),
        ("status", run.status),
        ("started", f"{run.started:%Y-%m-%d %H:%M:%S}"),
        ("finished", finished),
        ("counts", _counts(run.counts) or "-"),
        ("message", run.message or "-"),
    ]


def _counts(counts: Any) -> str:
    return ", ".join(f"{name} {counts[name]}" for name in runs.COUNTS if counts.get(name))


def _json(run: runs.Run) -> str:
    document = asdict(run)
    document["seconds"] = run.seconds
    return orjson.dumps(document).decode()
