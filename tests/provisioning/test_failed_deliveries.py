"""Failed deliveries are visible without SQL: one log line each, and ``scimgw deliveries``.

Runs on SQLite and PostgreSQL (the ``engine`` fixture) against the webhook contract fake.
"""

import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from gateway.logs import redact
from gateway.store.tables import OutboxEvent
from provisioning.records import journal
from scimgw.cli import app as cli
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.provisioning.harness import Harness, config_with

SECRET = "whsec-failures-5150"
runner = CliRunner()


class WebhookHarness(Harness):
    def __init__(self, engine: Engine, receiver: WebhookReceiver) -> None:
        hook = {
            "type": "webhook",
            "base_url": "http://hooks.test",
            "options": {"secret": "${HOOK_SECRET}", "path": "/hooks/scimgw"},
            "max_attempts": 3,
        }
        super().__init__(engine, config_with("hooks", hook), httpx.ASGITransport(app=receiver.app))
        self.receiver = receiver
        self.url = engine.url.render_as_string(hide_password=False)

    def cli(self, *arguments: str) -> Any:
        result = runner.invoke(
            cli, [*arguments, "--database-url", self.url], env={"COLUMNS": "250"}
        )
        assert result.exit_code == 0, result.output
        return result


@pytest.fixture
async def harness(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WebhookHarness]:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    h = WebhookHarness(engine, WebhookReceiver(SECRET))
    yield h
    await h.aclose()


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Where the delivery log writes its JSON lines, through the production redaction."""
    stream = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            redact,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # A logger another test already cached would keep that test's configuration.
    monkeypatch.setattr(journal, "log", structlog.get_logger("scimgw.delivery"))
    try:
        yield stream
    finally:
        structlog.reset_defaults()


async def _dead_and_retried(harness: WebhookHarness) -> tuple[str, str]:
    """ada's creation is refused for good (400), bob's fails for now (503)."""
    ada = await harness.create_user("ada", title="Engineer")
    harness.receiver.fail_next(400, body={"message": "email domain not allowed"})
    await harness.worker.drain()
    bob = await harness.create_user("bob")
    harness.receiver.fail_next(503, body={"message": "maintenance"})
    await harness.worker.drain()
    return ada, bob


async def test_each_failure_writes_one_log_line_with_event_connection_resource_status_reason(
    harness: WebhookHarness, log_stream: io.StringIO
) -> None:
    ada, bob = await _dead_and_retried(harness)
    [ada_event] = harness.rows(OutboxEvent, resource_id=ada)
    [bob_event] = harness.rows(OutboxEvent, resource_id=bob)
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    failures = [line for line in lines if line["event"].startswith("delivery.")]
    assert [(f["event"], f["level"], f["event_id"], f["resource_id"]) for f in failures] == [
        ("delivery.dead_letter", "error", ada_event.id, ada),
        ("delivery.failed", "warning", bob_event.id, bob),
    ]
    dead = failures[0]
    assert (dead["tenant"], dead["connection"], dead["http_status"]) == ("acme", "hooks", 400)
    assert "email domain not allowed" in dead["reason"]
    # Ids and reasons only: no attribute of the person, no secret.
    assert "ada@acme.com" not in log_stream.getvalue() and SECRET not in log_stream.getvalue()


async def test_deliveries_lists_failures_with_reasons_and_the_event_ids_replay_takes(
    harness: WebhookHarness,
) -> None:
    ada, bob = await _dead_and_retried(harness)
    [ada_event] = harness.rows(OutboxEvent, resource_id=ada)

    listed = harness.cli("deliveries").stdout
    assert "email domain not allowed" in listed and "maintenance" in listed
    assert "ada@acme.com" in listed and "bob@acme.com" in listed

    rows = [
        json.loads(line)
        for line in harness.cli("deliveries", "--dead", "--json").stdout.splitlines()
    ]
    assert [(r["event_id"], r["outcome"], r["http_status"]) for r in rows] == [
        (ada_event.id, "dead", 400)
    ]
    assert "email domain not allowed" in rows[0]["reason"]

    only_bob = harness.cli("deliveries", "--user", "BOB@acme.com", "--json").stdout.splitlines()
    assert [json.loads(line)["resource_id"] for line in only_bob] == [bob]
    other = runner.invoke(cli, ["deliveries", "--connection", "lms", "--database-url", harness.url])
    assert other.exit_code == 0 and other.stdout == ""

    harness.cli("replay", "--event", str(rows[0]["event_id"]))
    await harness.worker.drain()
    assert harness.cli("deliveries", "--dead", "--json").stdout == ""
