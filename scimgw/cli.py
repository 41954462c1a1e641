"""The ``scimgw`` command line: serve, db upgrade, tokens."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway import logs
from gateway.auth import tokens
from gateway.config import GatewayConfig
from gateway.settings import Settings
from gateway.store import migrations
from gateway.store.database import create_engine
from scimgw import commands as provisioning_commands
from scimgw import push as push_command
from scimgw import runs as runs_commands
from scimgw import sync as sync_command
from scimgw.cli_common import ConfigOption, DatabaseOption, config_from, err, settings_from

app = typer.Typer(help="scimgw: SCIM 2.0 identity provisioning gateway", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
token_app = typer.Typer(help="Inbound bearer tokens", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Apply the migrations to the database (SQLite or PostgreSQL)."""
    settings = settings_from(database_url)
    migrations.upgrade(settings.database_url)
    typer.echo(f"database at revision {migrations.current(settings.database_url)}")


@token_app.command("create")
def token_create(
    tenant: Annotated[str, typer.Option(help="tenant the token belongs to")],
    name: Annotated[str, typer.Option(help="a name to recognise it, such as okta")],
    scope: Annotated[
        list[str] | None, typer.Option(help="scim:read, scim:write, scim:sensitive")
    ] = None,
    user: Annotated[str | None, typer.Option(help="SCIM user id that /Me resolves to")] = None,
    database_url: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    settings = settings_from(database_url, config)
    _require_tenant(settings, tenant)
    engine = create_engine(settings.database_url)
    try:
        scopes = tuple(scope or tokens.DEFAULT_SCOPES)
        secret = tokens.create_token(engine, tenant, name, scopes, user)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    typer.echo(f"token: {secret}")
    err.print("Store it now: it cannot be shown again.")


def _require_tenant(settings: Settings, tenant: str) -> None:
    """Exit 2 unless the configuration declares ``tenant``: users pushed with a token of a
    mistyped tenant would land where no connection serves them."""
    declared = config_from(settings, resolve_secrets=False).tenants
    if tenant not in declared:
        source = settings.config_path or "the defaults (no --config or SCIMGW_CONFIG)"
        known = ", ".join(sorted(declared)) or "none"
        err.print(
            f"[red]unknown tenant {tenant!r}: {source} declares {known}[/red]", soft_wrap=True
        )
        raise typer.Exit(2)


@token_app.command("revoke")
def token_revoke(
    tenant: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a token by name; requests with it fail with 401 at once."""
    engine = create_engine(settings_from(database_url).database_url)
    if not tokens.revoke_token(engine, tenant, name):
        err.print(f"[red]no live token named {name} in tenant {tenant}[/red]")
        raise typer.Exit(1)
    typer.echo(f"revoked {tenant}/{name}")


@token_app.command("list")
def token_list(
    tenant: Annotated[str | None, typer.Option()] = None, database_url: DatabaseOption = None
) -> None:
    """List tokens (names, scopes, hints; never secrets)."""
    engine = create_engine(settings_from(database_url).database_url)
    table = Table("tenant", "name", "scopes", "hint", "created", "revoked")
    for info in tokens.list_tokens(engine, tenant):
        table.add_row(
            info.tenant,
            info.name,
            info.scopes,
            info.hint + "…",
            f"{info.created:%Y-%m-%d %H:%M}",
            f"{info.revoked:%Y-%m-%d}" if info.revoked else "",
        )
    Console().print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default SCIMGW_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default SCIMGW_PORT or 8080")] = None,
    workers: Annotated[int, typer.Option(help="HTTP worker processes")] = 1,
    init: Annotated[bool, typer.Option(help="migrate, create tenants and a first token")] = False,
    worker: Annotated[
        bool, typer.Option(help="also deliver to target connections in this process")
    ] = True,
    database_url: DatabaseOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Serve the SCIM API (and, by default, deliver changes to the target connections)."""
    import os

    import uvicorn

    settings = settings_from(database_url, config_path)
    logs.configure(settings.log_level)
    config = config_from(settings)
    if worker:  # the embedded worker builds every connector: check their settings first
        provisioning_commands.checked_connections(config)
    if init:
        _initialise(settings, config)
    os.environ["SCIMGW_DATABASE_URL"] = settings.database_url
    os.environ["SCIMGW_RUN_WORKER"] = "1" if worker else "0"
    if settings.config_path:
        os.environ["SCIMGW_CONFIG"] = settings.config_path
    typer.echo(f"SCIM base URL: http://{host or settings.host}:{port or settings.port}/scim/v2")
    uvicorn.run(
        "scimgw.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
        factory=False,
    )


def _initialise(settings: Settings, config: GatewayConfig) -> None:
    migrations.upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    for tenant_id, tenant in config.tenants.items():
        tokens.ensure_tenant(engine, tenant_id, tenant.display_name)
    default = config.default_tenant
    if not tokens.has_live_token(engine, default):
        secret = tokens.create_token(engine, default, "quickstart")
        typer.echo(f"token: {secret}")
        err.print(f"A SCIM token for tenant '{default}' (shown once; keep it).")
    engine.dispose()


provisioning_commands.register(app)
sync_command.register(app)
runs_commands.register(app)
push_command.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
