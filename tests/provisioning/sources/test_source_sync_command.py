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
import uvicorn
import yaml
from typer.testing import CliRunner

from scimgw.cli import app as cli
from tests.conftest import _free_port
from tests.fakes.hr_json import HrJsonFake, person
from tests.provisioning.sources.conftest import Setup

runner = CliRunner()


@pytest.fixture
def served(setup: Setup) -> Iterator[str]:
    """The setup's HR fake on a loopback port: its base URL."""
    port = _free_port()
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
