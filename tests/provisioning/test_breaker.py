"""The per-connection circuit breaker (provisioning.engine.breaker), through the worker.

A webhook receiver fake that is down (503) then back; the worker on a movable clock.
Runs on SQLite and PostgreSQL (the ``engine`` fixture). The end-to-end test at the bottom
goes over a real socket with the worker running as ``scimgw worker`` runs it.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from gateway.store.database import writer
from gateway.store.tables import AuditEntry, ConnectionBreaker, Delivery, OutboxEvent
from provisioning.engine import Worker, breaker
from provisioning.engine.retry import RetryPolicy
from scimgw.cli import app as cli
from tests.fakes.serving import served
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.provisioning.harness import TENANT, Harness, config_with

SECRET = "whsec-breaker-0123456789"
BREAKER = {"failures": 3, "cooldown_seconds": 5}


def _hook(base_url: str = "http://hooks.test", **extra: Any) -> dict[str, Any]:
    return {
        "type": "webhook",
        "base_url": base_url,
        "options": {"secret": "${HOOK_SECRET}", "path": "/hooks/scimgw"},
        "breaker": BREAKER,
        **extra,
    }


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver(SECRET)


@pytest.fixture
async def harness(engine: Engine, receiver: WebhookReceiver) -> AsyncIterator[Harness]:
    h = Harness(engine, config_with("hooks", _hook()), httpx.ASGITransport(app=receiver.app))
    yield h
    await h.aclose()


async def _users(harness: Harness, count: int, prefix: str = "user") -> list[str]:
    return [await harness.create_user(f"{prefix}{n}") for n in range(count)]


def _breaker(harness: Harness) -> Any:
    rows = harness.rows(ConnectionBreaker)
    return rows[0] if rows else None


async def _open(harness: Harness, receiver: WebhookReceiver, users: int = 10) -> list[str]:
    """Users created while the receiver is down, and one drain that opens the breaker."""
    receiver.go_down()
    ids = await _users(harness, users)
    await harness.worker.drain()
    return ids


async def test_consecutive_failures_open_the_breaker_and_stop_the_calls(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    await _open(harness, receiver)
    # One batch of 4 (the connection's concurrency) went out; the 3rd failure opened it.
    assert receiver.requests == 4
    row = _breaker(harness)
    assert (row.state, row.failures) == ("open", 3)
    assert "503" in row.last_error
    harness.clock.advance(4)  # within the cool-down
    assert await harness.worker.drain() == 0
    assert receiver.requests == 4


async def test_failures_while_open_use_up_no_attempt(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    await _open(harness, receiver)
    tried = [e for e in harness.rows(OutboxEvent) if e.last_error]
    # The two failures before the breaker opened count; the ones after it opened do not.
    assert sorted(e.attempts for e in tried) == [0, 0, 1, 1]
    assert all(e.status == "pending" for e in harness.rows(OutboxEvent))


async def test_an_open_breaker_sends_one_probe_per_cooldown(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    await _open(harness, receiver)
    for probes in (1, 2, 3):
        harness.clock.advance(5)
        assert await harness.worker.drain() == 1
        assert receiver.requests == 4 + probes
        assert _breaker(harness).state == "open"


async def test_a_probe_that_calls_nothing_hands_the_probe_on(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    """The first waiting user was deleted meanwhile (no account: nothing to send): the
    next event probes at once instead of after the probe's lease."""
    ids = await _open(harness, receiver)
    assert (await harness.scim.delete(f"/Users/{ids[0]}")).status_code == 204
    harness.clock.advance(5)
    await harness.worker.drain()
    assert receiver.requests == 4 + 1
    assert {e.status for e in harness.rows(OutboxEvent, resource_id=ids[0])} == {"done"}


async def test_a_long_outage_dead_letters_nothing(
    engine: Engine, receiver: WebhookReceiver
) -> None:
    config = config_with("hooks", _hook(max_attempts=2))
    harness = Harness(engine, config, httpx.ASGITransport(app=receiver.app))
    try:
        ids = await _open(harness, receiver, users=6)
        for _ in range(20):  # 20 failed probes, ten times the attempt budget
            harness.clock.advance(5)
            await harness.worker.drain()
        assert receiver.requests == 4 + 20
        assert {e.status for e in harness.rows(OutboxEvent)} == {"pending"}
        receiver.come_back()
        harness.clock.advance(5)
        await harness.worker.drain()
        assert set(ids) <= set(receiver.accounts)
        assert {e.status for e in harness.rows(OutboxEvent)} == {"done"}
    finally:
        await harness.aclose()


async def test_a_successful_probe_closes_it_and_delivers_every_waiting_event_at_once(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    ids = await _open(harness, receiver)
    receiver.come_back()
    harness.clock.advance(5)
    # One drain, without waiting for the backoff of the events that failed before it opened.
    assert await harness.worker.drain() == 10
    assert set(ids) == set(receiver.accounts)
    assert receiver.requests == 4 + 10
    row = _breaker(harness)
    assert (row.state, row.failures, row.probe_by) == ("closed", 0, None)
    actions = [a.action for a in harness.rows(AuditEntry) if a.action.startswith("breaker.")]
    assert actions == ["breaker.opened", "breaker.closed"]


async def test_a_retry_after_on_the_outage_lengthens_the_cooldown(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(503, times=4, headers={"Retry-After": "60"})
    await _users(harness, 4)
    await harness.worker.drain()
    assert _breaker(harness).state == "open"
    harness.clock.advance(30)
    assert await harness.worker.drain() == 0
    harness.clock.advance(31)
    assert await harness.worker.drain() == 4


async def test_answers_that_are_not_outages_do_not_open_it(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    """A throttle (429) has its own pause; a refusal (400) shows the target is up."""
    receiver.fail_next(429, times=4)
    await _users(harness, 4)
    await harness.worker.drain()
    receiver.fail_next(400, times=4)
    harness.clock.advance(3600)
    await harness.worker.drain()
    assert receiver.requests == 8
    assert _breaker(harness) is None


async def test_a_success_between_failures_keeps_it_closed(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    """Consecutive failures open it: two, a delivery, two more do not."""
    for round in ("one", "two"):
        receiver.fail_next(503, times=2)
        await _users(harness, 3, prefix=round)
        await harness.worker.drain()
        harness.clock.advance(3600)
    assert _breaker(harness) is None


async def test_a_breaker_opened_by_one_worker_stops_the_others(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    """Another process sees the row: it claims nothing while the breaker is open."""
    await _open(harness, receiver)
    other = Worker(harness.engine, harness.targets, clock=harness.clock)
    assert await other.drain() == 0
    assert receiver.requests == 4


async def test_status_shows_an_open_breaker_and_its_last_error(
    harness: Harness, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """``scimgw status``, a process of its own, reads the breaker from the store."""
    await _open(harness, receiver)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"tenants": {TENANT: {"connections": {"hooks": _hook()}}}}))
    url = harness.engine.url.render_as_string(hide_password=False)
    arguments = ["status", "--database-url", url, "--config", str(path)]
    result = await asyncio.to_thread(CliRunner().invoke, cli, arguments, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "hooks" in line)
    state = [cell.strip() for cell in row.split("│") if cell.strip()][-1]
    assert state.startswith("breaker open since ")
    assert "TransientError (503)" in state


def test_one_probe_at_a_time_across_workers(engine: Engine) -> None:
    """Of all workers one holds the probe; a killed prober's probe passes on at its lease."""
    start = breaker.Change(breaker.OPENED, _now(), 3, _now(), "TransientError (503): down")
    lease = timedelta(seconds=60)
    with writer(engine).begin() as connection:
        breaker.write(connection, TENANT, "hooks", start, "w1")
    admit = [
        _admit(engine, worker, _now() + timedelta(seconds=s), lease)
        for worker, s in (("w1", 1), ("w2", 2), ("w1", 3), ("w2", 62))
    ]
    assert admit == [breaker.PROBE, breaker.NOTHING, breaker.NOTHING, breaker.PROBE]


def _admit(engine: Engine, worker: str, now: datetime, lease: timedelta) -> str:
    with writer(engine).begin() as connection:
        return breaker.admit(connection, TENANT, "hooks", worker, now, lease)


def _now() -> datetime:
    return datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


# -- over a real socket --------------------------------------------------------------------


@pytest.fixture
def live_receiver(receiver: WebhookReceiver) -> Iterator[str]:
    """The receiver fake served by uvicorn on a real loopback socket, in a thread."""
    with served(receiver.app, lifespan="auto") as url:
        yield url


async def _until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_running_worker_rides_out_an_outage_of_a_real_receiver(
    engine: Engine, receiver: WebhookReceiver, live_receiver: str
) -> None:
    """Down then up, over real sockets: every event arrives once and none is dead-lettered,
    though the outage outlasted every event's attempt budget (each would have failed
    twice without the breaker: 24 requests)."""
    hook = _hook(live_receiver, max_attempts=2)
    hook["breaker"] = {"failures": 3, "cooldown_seconds": 0.05}
    harness = Harness(engine, config_with("hooks", hook))
    worker = Worker(
        engine,
        harness.targets,
        policy=RetryPolicy(rng=lambda: 0.5),
        clock=harness.clock,
        poll_interval=0.02,
    )
    receiver.go_down()
    ids = await _users(harness, 12)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, grace=5))
    try:
        await _until(lambda: receiver.requests >= 30)
        assert _breaker(harness).state == "open"
        receiver.come_back()
        await _until(lambda: set(ids) <= set(receiver.accounts))
    finally:
        stop.set()
        await running
        await harness.aclose()
    assert len(receiver.events) == 12
    assert {e.status for e in harness.rows(OutboxEvent)} == {"done"}, [
        (e.id, e.status, e.attempts, e.last_error, e.claimed_by) for e in harness.rows(OutboxEvent)
    ] + [(d.event_id, d.outcome, d.error) for d in harness.rows(Delivery)]
    assert _breaker(harness).state == "closed"
