"""How the commands read the configuration: which file, which secrets, which tenants."""

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from scimgw.cli import app

runner = CliRunner()

#: The documented webhook example, written as the docs show it (a flow mapping).
CONFIG = """\
tenants:
  acme:
    connections:
      hooks:
        type: webhook
        base_url: https://hooks.example.com
        options: {secret: ${HOOK_SECRET}, path: /scimgw}
      lms:
        type: scim
        base_url: https://lms.example.com/scim/v2
        auth: {type: bearer, token: ${LMS_TOKEN}}
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    return str(path)


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    return url


@pytest.mark.parametrize(
    "command", [["serve"], ["worker", "--once"], ["plan", "hooks", "--tenant", "acme"]]
)
def test_a_missing_secret_is_one_line_naming_the_variable_and_the_connection(
    command: list[str], config: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    monkeypatch.setenv("LMS_TOKEN", "lms-token-value")
    result = runner.invoke(app, [*command, "--config", config, "--database-url", database])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    [line] = [line for line in result.output.splitlines() if "HOOK_SECRET" in line]
    assert line == (
        "configuration error: tenants.acme.connections.hooks.options.secret: "
        "environment variable HOOK_SECRET is not set"
    )
    assert "lms-token-value" not in result.output


def test_status_needs_none_of_the_secrets_and_says_which_file_it_read(
    config: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    monkeypatch.delenv("LMS_TOKEN", raising=False)
    url = engine.url.render_as_string(hide_password=False)
    result = runner.invoke(
        app, ["status", "--config", config, "--database-url", url], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert f"configuration: {config}" in result.output
    assert "hooks" in result.stdout and "lms" in result.stdout


def test_status_without_a_configuration_fails_instead_of_showing_an_empty_table(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCIMGW_CONFIG", raising=False)
    result = runner.invoke(app, ["status", "--database-url", database])
    assert result.exit_code == 2
    assert "no configuration file: pass --config PATH or set SCIMGW_CONFIG" in result.output
    assert "tenant" not in result.stdout  # no table


def test_a_literal_secret_is_still_refused_when_secrets_are_not_read(
    tmp_path: Path, database: str
) -> None:
    path = tmp_path / "literal.yaml"
    path.write_text(CONFIG.replace("${LMS_TOKEN}", "sk-live-123"))
    result = runner.invoke(app, ["status", "--config", str(path), "--database-url", database])
    assert result.exit_code == 2
    assert "tenants.acme.connections.lms.auth.token: secrets must be references" in " ".join(
        result.output.split()
    )
    assert "sk-live-123" not in result.output


def test_token_create_refuses_a_tenant_the_configuration_does_not_declare(
    config: str, database: str
) -> None:
    arguments = [
        "token",
        "create",
        "--name",
        "okta",
        "--config",
        config,
        "--database-url",
        database,
    ]
    typo = runner.invoke(app, [*arguments, "--tenant", "acmee"])
    assert typo.exit_code == 2
    assert f"unknown tenant 'acmee': {config} declares acme" in " ".join(typo.output.split())
    assert "token:" not in typo.stdout
    assert runner.invoke(app, [*arguments, "--tenant", "acme"]).exit_code == 0
    listed = runner.invoke(app, ["token", "list", "--database-url", database])
    assert "acmee" not in listed.stdout
