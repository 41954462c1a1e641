"""``scimgw sync``: the generic HR fake served by uvicorn on loopback, read by the command.

Real sockets end to end: the command builds the connection's own HTTP client from the YAML
file (bearer token from the environment) and writes into the test's database.
"""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
import uvicorn
import yaml
from typer.testing import CliRunner

from scimgw.cli import app as cli
from tests.fakes.hr_json import HrJsonFake, person
from tests.fakes.serving import free_port
from tests.provisioning.sources.conftest import Setup

runner = CliRunner()


@pytest.fixture
def served(setup: Setup) -> Iterator[str]:
    """The setup's HR fake on a loopback port: its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(setup.fake.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "gateway.yaml"
    connection = {
        "type": "hr_json",
        "direction": "source",
        "base_url": base_url,
        "auth": {"type": "bearer", "token": "${HR_SOURCE_TOKEN}"},
        "source": {"guard": {"max_count": 1}},
    }
    path.write_text(
        yaml.safe_dump(
            {"default_tenant": "acme", "tenants": {"acme": {"connections": {"hr": connection}}}}
        )
    )
    return path


def _sync(database_url: str, config: Path, *extra: str) -> tuple[int, str]:
    arguments = ["sync", "hr", "--database-url", database_url, "--config", str(config), *extra]
    result = runner.invoke(cli, arguments, env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_sync_dry_run_then_run_then_held_over_real_sockets(
    setup: Setup, served: str, database_url: str, tmp_path: Path
) -> None:
    fake: HrJsonFake = setup.fake
    for number in (1, 2, 3):
        fake.add(**person(number))
    config = _config(tmp_path, served)

    code, output = _sync(database_url, config, "--dry-run")
    assert code == 0, output
    assert "create user for person E000003" in output
    assert setup.users() == []

    code, output = _sync(database_url, config, "--json")
    assert code == 0, output
    outcome = orjson.loads(output.strip().splitlines()[-1])
    assert outcome["status"] == "succeeded" and outcome["counts"]["created"] == 3
    assert len(setup.users()) == 3

    fake.remove("E000001")
    fake.remove("E000002")
    code, output = _sync(database_url, config)
    assert code == 2, output
    assert "above the limit of 1" in output
    assert all(user["active"] for user in setup.users())

    code, output = _sync(database_url, config, "--confirm")
    assert code == 0, output
    assert [user["active"] for user in setup.users()] == [False, False, True]


def test_sync_of_an_unknown_connection_says_so(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HR_SOURCE_TOKEN", "hr-token")
    config = _config(tmp_path, "http://127.0.0.1:9")
    result = runner.invoke(
        cli, ["sync", "nope", "--database-url", database_url, "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "has no connection nope" in result.output


def test_sync_of_a_target_backfills_it_behind_live_changes_and_runs_lists_both(
    setup: Setup,
    served: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One command for both directions (issue 12): people read from the HR source, then a
    target added afterwards receives them through ``scimgw sync <target>``, which enqueues
    what ``scimgw plan`` shows in the loads lane; ``scimgw runs`` lists both runs."""
    for number in (1, 2, 3):
        setup.fake.add(**person(number))
    monkeypatch.setenv("HOOK_SECRET", "whsec-cli-backfill")
    config = _config(tmp_path, served)
    assert _sync(database_url, config)[0] == 0
    data = yaml.safe_load(config.read_text())
    data["tenants"]["acme"]["connections"]["app"] = {
        "type": "webhook",
        "base_url": "http://127.0.0.1:9/hook",
        "options": {"secret": "${HOOK_SECRET}"},
    }
    config.write_text(yaml.safe_dump(data))

    arguments = ["--database-url", database_url, "--config", str(config)]
    preview = runner.invoke(cli, ["sync", "app", "--dry-run", *arguments], env={"COLUMNS": "200"})
    assert preview.exit_code == 0, preview.output
    assert _loads(setup) == 0

    result = runner.invoke(cli, ["sync", "app", "--json", *arguments])
    assert result.exit_code == 0, result.output
    outcome = orjson.loads(result.output.strip().splitlines()[-1])
    assert outcome["status"] == "succeeded", outcome
    assert _loads(setup) == 3

    listed = runner.invoke(cli, ["runs", "--json", "--database-url", database_url])
    assert listed.exit_code == 0, listed.output
    runs = [orjson.loads(line) for line in listed.output.strip().splitlines()]
    assert sorted(run["connection"] for run in runs) == ["app", "hr"]


def _loads(setup: Setup) -> int:
    """Events waiting in the loads lane (priority 3) for the target ``app``."""
    with setup.engine.connect() as connection:
        return int(
            connection.execute(
                sa.text("SELECT count(*) FROM outbox WHERE connection = 'app' AND priority = 3")
            ).scalar_one()
        )


def test_sync_into_a_tenant_no_server_has_created_yet_creates_its_row(
    setup: Setup, served: str, database_url: str, tmp_path: Path
) -> None:
    """``scimgw sync`` may be the first command on a new database (before any ``serve``):
    it was refused with a bare "FOREIGN KEY constraint failed"."""
    setup.fake.add(**person(1))
    config = _config(tmp_path, served)
    data = yaml.safe_load(config.read_text())
    data["default_tenant"] = "newco"
    data["tenants"] = {"newco": data["tenants"]["acme"]}
    config.write_text(yaml.safe_dump(data))

    code, output = _sync(database_url, config)
    assert code == 0, output
    with setup.engine.connect() as connection:
        users = connection.execute(
            sa.text("SELECT count(*) FROM scim_user WHERE tenant_id = 'newco'")
        ).scalar_one()
    assert users == 1
