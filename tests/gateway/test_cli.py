"""The scimgw command line, and the quickstart it serves (real process, real socket)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from gateway.store.migrations import alembic_config
from scimgw.cli import app
from tests.fakes.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def acme(tmp_path: Path) -> list[str]:
    """``--config`` of a file declaring the tenant acme."""
    path = tmp_path / "acme.yaml"
    path.write_text("tenants:\n  acme: {}\n")
    return ["--config", str(path)]


def test_db_upgrade_reports_the_revision(database: str) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--database-url", database])
    assert result.exit_code == 0, result.output
    head = ScriptDirectory.from_config(alembic_config(database)).get_current_head()
    assert f"revision {head}" in result.output


def test_token_lifecycle_shows_the_secret_once(database: str, acme: list[str]) -> None:
    runner.invoke(app, ["db", "upgrade", "--database-url", database])
    created = runner.invoke(
        app,
        [
            "token",
            "create",
            "--tenant",
            "acme",
            "--name",
            "okta",
            "--scope",
            "scim:write",
            "--database-url",
            database,
            *acme,
        ],
    )
    assert created.exit_code == 0, created.output
    secret = re.search(r"^token: (scimgw_\S+)$", created.stdout, re.M)
    assert secret
    listed = runner.invoke(app, ["token", "list", "--database-url", database])
    assert "okta" in listed.stdout and secret.group(1) not in listed.stdout
    assert (
        runner.invoke(
            app,
            ["token", "revoke", "--tenant", "acme", "--name", "okta", "--database-url", database],
        ).exit_code
        == 0
    )
    again = runner.invoke(
        app, ["token", "revoke", "--tenant", "acme", "--name", "okta", "--database-url", database]
    )
    assert again.exit_code == 1


def test_unknown_scope_is_refused(database: str, acme: list[str]) -> None:
    runner.invoke(app, ["db", "upgrade", "--database-url", database])
    result = runner.invoke(
        app,
        [
            "token",
            "create",
            "--tenant",
            "acme",
            "--name",
            "x",
            "--scope",
            "admin:all",
            "--database-url",
            database,
            *acme,
        ],
    )
    assert result.exit_code == 2
    assert "unknown scopes: admin:all" in result.output


def test_invalid_config_names_the_yaml_path(tmp_path: Path, database: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("server:\n  bulk_max_operations: 0\n")
    result = runner.invoke(
        app, ["serve", "--database-url", database], env={"SCIMGW_CONFIG": str(config)}
    )
    assert result.exit_code == 2
    assert "server.bulk_max_operations" in result.output


def _start(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SCIMGW_CONFIG": str(ROOT / "examples" / "gateway.yaml"),
        "SCIMGW_DATABASE_URL": f"sqlite:///{tmp_path}/data/scimgw.db",
    }
    command = [sys.executable, "-m", "scimgw.cli", "serve", "--init", "--port", str(port)]
    return subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_ready(process: subprocess.Popen[str], port: int) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line.rstrip())
        if line.startswith("SCIM base URL"):
            break
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return lines
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"gateway did not start: {lines}")


def test_quickstart_prints_a_token_once_and_serves_scim(tmp_path: Path) -> None:
    port = free_port()
    first = _start(tmp_path, port)
    try:
        lines = _wait_ready(first, port)
        tokens = [line.split(": ", 1)[1] for line in lines if line.startswith("token: ")]
        assert len(tokens) == 1
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "qs@example.com",
        }
        created = httpx.post(f"http://127.0.0.1:{port}/scim/v2/Users", json=body, headers=headers)
        assert created.status_code == 201
        assert (
            created.headers["location"]
            == f"http://127.0.0.1:{port}/scim/v2/Users/{created.json()['id']}"
        )
    finally:
        first.terminate()
        first.wait(timeout=15)
    second = _start(tmp_path, port)
    try:
        lines = _wait_ready(second, port)
        assert not [line for line in lines if line.startswith("token: ")]
        listing = httpx.get(f"http://127.0.0.1:{port}/scim/v2/Users", headers=headers)
        assert listing.json()["totalResults"] == 1
    finally:
        second.terminate()
        second.wait(timeout=15)
