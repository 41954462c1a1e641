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
ConfigOption = Annotated[
    str | None, typer.Option("--config", help="overrides SCIMGW_CONFIG")
]


def settings_from(database_url: str | None, config_path: str | None = None) -> Settings:
    """Settings from the environment, with the command line's overrides."""
    settings = Settings.from_env()
    overrides = {"database_url": database_url, "config_path": config_path}
    chosen = {name: value for name, value in overrides.items() if value}
    return Settings(**{**settings.__dict__, **chosen}) if chosen else settings


def config_from(settings: Settings) -> GatewayConfig:
    """The configuration file, or exit 2 with the errors and their YAML paths."""
    try:
        return load_config(settings.config_path)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
