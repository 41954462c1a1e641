"""``scimgw status`` and ``scimgw plan`` against a real store and a webhook connection."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from scimgw.cli import app as cli
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.provisioning.harness import TENANT, Harness, config_with

SECRET = "whsec-commands-77"
runner = CliRunner()


def _connection(**extra: Any) -> dict[str, Any]:
    return {
        "type": "webhook",
        "base_url": "http://hooks.test",
        "options": {"secret": "${HOOK_SECRET}", "path": "/hooks/scimgw"},
        **extra,
    }


async def _invoke(arguments: list[str]) -> Any:
    # The commands run their own event loop, as from a shell: give them a thread; a wide
    # terminal so that rich does not wrap the table.
    return await asyncio.to_thread(runner.invoke, cli, arguments, env={"COLUMNS": "200"})


@pytest.fixture
async def setup(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Harness, list[str]]]:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    connection = _connection(rate_limit="50/min", scope='title eq "Engineer"')
    import httpx

    receiver = WebhookReceiver(SECRET)
    harness = Harness(
        engine, config_with("hooks", connection), httpx.ASGITransport(app=receiver.app)
    )
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"tenants": {TENANT: {"connections": {"hooks": connection}}}}))
    url = engine.url.render_as_string(hide_password=False)
    yield harness, ["--database-url", url, "--config", str(path)]
    await harness.aclose()


async def test_status_shows_the_backlog_by_priority_and_the_eta_at_the_rate_limit(
    setup: tuple[Harness, list[str]],
) -> None:
    harness, options = setup
    for name in ("ada", "bob", "cy"):
        await harness.create_user(name, title="Engineer")
    result = await _invoke(["status", *options])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "hooks" in line)
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    # tenant, connection, leavers, creations, updates, loads, dead, held, ETA, state
    assert cells[:8] == ["acme", "hooks", "0", "3", "0", "0", "0", "0"]
    assert cells[8] == "4 s"  # 3 events at 50/min
    assert cells[9] == "running"


async def test_plan_says_what_a_reconcile_would_do_and_calls_no_write_endpoint(
    setup: tuple[Harness, list[str]],
) -> None:
    harness, options = setup
    await harness.create_user("ada", title="Engineer")
    await harness.create_user("bob", title="Sales")
    result = await _invoke(["plan", "hooks", "--tenant", TENANT, "--show-skips", *options])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "create: 1, skip: 1" in text
    assert "out of the connection's scope" in text
