"""What every ``scimgw`` command shares: settings, configuration, the database option."""

from typing import Annotated

import typer
from rich.console import Console

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.settings import Settings

err = Console(stderr=True)

DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="overrides SCIMGW_DATABASE_URL")
]
ConfigOption = Annotated[str | None, typer.Option("--config", help="overrides SCIMGW_CONFIG")]


def settings_from(database_url: str | None, config_path: str | None = None) -> Settings:
    """Settings from the environment, with the command line's overrides."""
    settings = Settings.from_env()
    overrides = {"database_url": database_url, "config_path": config_path}
    chosen = {name: value for name, value in overrides.items() if value}
    return Settings(**{**settings.__dict__, **chosen}) if chosen else settings


def config_from(settings: Settings, *, resolve_secrets: bool = True) -> GatewayConfig:
    """The configuration file, or exit 2 with the errors and their YAML paths.

    ``resolve_secrets=False`` for commands that use no secret: a variable they would never
    read need not be set where they run.
    """
    try:
        return load_config(settings.config_path, resolve_secrets=resolve_secrets)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def required_config(settings: Settings, *, resolve_secrets: bool = True) -> GatewayConfig:
    """The configuration file of a command that means nothing without one.

    Says on stderr which file it reads (the defaults would answer with an empty table
    and exit 0, which looks like "nothing to do"), or exits 2 when none is given.
    """
    if not settings.config_path:
        err.print("[red]no configuration file: pass --config PATH or set SCIMGW_CONFIG[/red]")
        raise typer.Exit(2)
    err.print(f"configuration: {settings.config_path}", soft_wrap=True, highlight=False)
    return config_from(settings, resolve_secrets=resolve_secrets)
