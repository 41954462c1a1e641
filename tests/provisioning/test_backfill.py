"""Target runs: the backfill and drift repair that applies what ``scimgw plan`` shows.

The users exist before the connection does (their live events are dropped, as for a
connection added to a running gateway); the run enqueues load events, the worker delivers
them through the webhook connector to its contract fake.
"""

import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.tables import AccountLink, Delivery, OutboxEvent, SyncRun
from provisioning.accounts import TargetRunner
from provisioning.accounts import plan as planning
from provisioning.records import claims, runs
from tests.fakes.sftp_server import sftp_server
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.provisioning.harness import TENANT, Harness, config_with

SECRET = "whsec-backfill-31"
outbox = OutboxEvent.__table__  # type: ignore[attr-defined]


def _connection(**extra: object) -> dict[str, object]:
    return {
        "type": "webhook",
        "base_url": "http://hooks.test",
        "rate_limit": None,
        "options": {"secret": "${HOOK_SECRET}", "path": "/hooks/scimgw"},
        **extra,
    }


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)


@pytest.fixture
async def setup(engine: Engine) -> AsyncIterator[tuple[Harness, TargetRunner, WebhookReceiver]]:
    receiver = WebhookReceiver(SECRET)
    config = config_with("hooks", _connection(scope='title eq "Engineer"'))
    transport = httpx.ASGITransport(app=receiver.app)
    harness = Harness(engine, config, transport)
    async with httpx.AsyncClient(transport=transport) as http:
        yield harness, TargetRunner(engine, config, http=http, clock=harness.clock), receiver
    await harness.aclose()


async def _people(harness: Harness, engineers: int, others: int = 0) -> list[str]:
    """Users created before the connection existed: their live events are dropped."""
    ids = [await harness.create_user(f"eng{i:04d}", title="Engineer") for i in range(engineers)]
    ids += [await harness.create_user(f"sales{i:04d}", title="Sales") for i in range(others)]
    harness.execute(sa.delete(outbox))
    return ids


def _request(dry_run: bool = False) -> runs.RunRequest:
    return runs.RunRequest(TENANT, "hooks", trigger="manual", dry_run=dry_run)


async def test_a_run_enqueues_the_plan_as_loads_and_records_the_run(
    setup: tuple[Harness, TargetRunner, WebhookReceiver],
) -> None:
    harness, runner, receiver = setup
    await _people(harness, engineers=3, others=1)
    seen: list[tuple[int, int | None]] = []
    outcome = await runner(_request(), lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert outcome.status == "succeeded"
    assert dict(outcome.counts) == {"read": 4, "created": 3, "skipped": 1}
    events = harness.rows(OutboxEvent)
    assert [(e.action, e.priority) for e in events] == [("created", 3)] * 3
    with harness.engine.connect() as connection:
        run = runs.get(connection, outcome.run_id or "")
    assert run is not None and run.direction == "target" and run.trigger == "manual"
    assert run.counts["created"] == 3 and run.counts["skipped"] == 1
    assert "enqueued 3 load events" in (run.message or "")
    assert await harness.worker.drain() == 3
    assert len(receiver.accounts) == 3


async def test_a_dry_run_shows_the_plan_and_writes_nothing(
    setup: tuple[Harness, TargetRunner, WebhookReceiver],
) -> None:
    harness, runner, receiver = setup
    await _people(harness, engineers=2, others=1)
    outcome = await runner(_request(dry_run=True))
    assert outcome.run_id is None
    assert dict(outcome.counts) == {"read": 3, "created": 2, "skipped": 1}
    assert len(outcome.changes) == 2 and all(c.startswith("create ") for c in outcome.changes)
    plan = planning.summary(await planning.plan(harness.engine, harness.target))
    assert plan == {"create": 2, "skip": 1}  # the plan and the run count the same steps
    assert harness.rows(OutboxEvent) == [] and harness.rows(SyncRun) == []
    assert receiver.requests == 0


async def test_a_second_run_after_delivery_finds_nothing_and_repairs_drift(
    setup: tuple[Harness, TargetRunner, WebhookReceiver],
) -> None:
    harness, runner, _ = setup
    ada, bob = await _people(harness, engineers=2)
    await runner(_request())
    await harness.worker.drain()
    again = await runner(_request())
    assert dict(again.counts) == {"read": 2, "unchanged": 2}
    assert harness.rows(OutboxEvent, status="pending") == []
    # Drift: what the target last received no longer matches (the hash a delivery keeps).
    links = AccountLink.__table__  # type: ignore[attr-defined]
    harness.execute(sa.update(links).where(links.c.resource_id == bob).values(payload_hash="x"))
    repaired = await runner(_request())
    assert dict(repaired.counts) == {"read": 2, "updated": 1, "unchanged": 1}
    assert [e.resource_id for e in harness.rows(OutboxEvent, status="pending")] == [bob]


async def test_a_resource_already_waiting_in_the_outbox_is_not_enqueued_twice(
    setup: tuple[Harness, TargetRunner, WebhookReceiver],
) -> None:
    harness, runner, _ = setup
    await _people(harness, engineers=2)
    first = await runner(_request())
    second = await runner(_request())
    assert first.counts["created"] == second.counts["created"] == 2
    assert len(harness.rows(OutboxEvent)) == 2
    assert "2 already waiting in the outbox" in (second.message or "")


async def test_a_connection_that_is_running_is_not_run_again(
    setup: tuple[Harness, TargetRunner, WebhookReceiver],
) -> None:
    harness, runner, _ = setup
    with harness.engine.begin() as connection:
        running = runs.start(
            connection, tenant=TENANT, name="hooks", direction="target", trigger="manual",
            runner="elsewhere", now=harness.clock(),
        )  # fmt: skip
    with pytest.raises(runs.RunInProgress) as raised:
        await runner(_request())
    assert raised.value.run_id == running


async def test_a_run_left_running_by_a_killed_process_of_this_host_is_closed_first(
    setup: tuple[Harness, TargetRunner, WebhookReceiver],
) -> None:
    harness, runner, _ = setup
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    with harness.engine.begin() as connection:
        left = runs.start(
            connection, tenant=TENANT, name="hooks", direction="target", trigger="schedule",
            runner=f"{socket.gethostname()}:{dead}", now=harness.clock(),
        )  # fmt: skip
    outcome = await runner(_request())
    assert outcome.status == "succeeded"
    with harness.engine.connect() as connection:
        closed = runs.get(connection, left)
    assert closed is not None and closed.status == "failed"
    assert closed.message == f"abandoned: its process {socket.gethostname()}:{dead} is gone"


async def test_a_user_the_map_cannot_send_is_a_failure_with_the_person_and_reason(
    engine: Engine,
) -> None:
    receiver = WebhookReceiver(SECRET)
    # A required target field from a path nobody has: the map refuses every user.
    connection = _connection(field_map_extra={"badge": {"from": "nickName", "required": True}})
    config = config_with("hooks", connection)
    harness = Harness(engine, config, httpx.ASGITransport(app=receiver.app))
    try:
        ada = await harness.create_user("ada")
        harness.execute(sa.delete(outbox))
        outcome = await TargetRunner(engine, config, clock=harness.clock)(_request())
    finally:
        await harness.aclose()
    assert outcome.status == "failed" and outcome.counts["failed"] == 1
    assert outcome.failures[0].person == f"{ada} ada@acme.com"
    assert outcome.failures[0].reason.startswith("badge: required")
    with engine.connect() as conn:
        run = runs.get(conn, outcome.run_id or "")
    assert run is not None and run.failures == outcome.failures


async def test_live_changes_overtake_a_backfill_in_the_loads_lane(
    setup: tuple[Harness, TargetRunner, WebhookReceiver],
) -> None:
    """A live change queued after 300 loads is claimed first: the worker claims by
    priority (provisioning.records.claims), and loads are priority 3."""
    harness, runner, _ = setup
    await _people(harness, engineers=300)
    await runner(_request())
    newcomer = await harness.create_user("zoe", title="Engineer")  # live: priority 1
    with harness.engine.begin() as connection:
        taken = claims.claim(
            connection, tenant=TENANT, target="hooks", worker="w", now=_later(),
            lease=timedelta(seconds=60), limit=10,
        )  # fmt: skip
    assert taken[0].resource_id == newcomer and taken[0].priority == 1
    assert [c.priority for c in taken[1:]] == [3] * 9


async def test_a_live_change_of_a_user_whose_load_waits_goes_first_and_the_load_after(
    setup: tuple[Harness, TargetRunner, WebhookReceiver],
) -> None:
    """The live change does not wait behind the backfill's event of the same user; that
    event waits for it instead, and then finds nothing left to send."""
    harness, runner, receiver = setup
    ids = await _people(harness, engineers=50)
    await runner(_request())
    last = ids[-1]  # its load is the last of 50
    await harness.patch(last, "name.givenName", "Renamed")
    with harness.engine.begin() as connection:
        taken = _claim(connection, limit=60)
    assert taken[0].resource_id == last and taken[0].priority == 2
    assert [c.resource_id for c in taken].count(last) == 1  # never two in flight
    harness.execute(sa.update(outbox).values(status="pending", claimed_by=None))
    assert await harness.worker.drain() == 51
    assert receiver.accounts[last].data["given_name"] == "Renamed"
    operations = [(d.resource_id, d.operation) for d in harness.rows(Delivery)]
    assert operations.count((last, "create")) == 1 and (last, "skip") in operations


def _claim(connection: sa.Connection, limit: int) -> list[claims.Claim]:
    return claims.claim(
        connection, tenant=TENANT, target="hooks", worker="w", now=_later(),
        lease=timedelta(seconds=60), limit=limit,
    )  # fmt: skip


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=5)


async def test_a_file_target_gets_one_event_that_writes_the_next_file_with_everyone(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV-over-SFTP connection sends every in-scope user in each file: its run enqueues
    one event, and the worker's export writes the file with all of them."""
    monkeypatch.setenv("SFTP_PASSWORD", "sftp-backfill-pw")
    root = tmp_path / "sftp"
    (root / "upload").mkdir(parents=True)
    async with sftp_server(root, password="sftp-backfill-pw") as server:
        options = {
            "host": server.host, "port": server.port, "username": server.username,
            "password": "${SFTP_PASSWORD}", "host_key": server.fingerprint,
            "directory": "/upload", "filename": "users.csv",
        }  # fmt: skip
        config = config_with("files", {"type": "csv_sftp", "options": options})
        harness = Harness(engine, config)
        try:
            for name in ("ada", "bob", "cy"):
                await harness.create_user(name)
            harness.execute(sa.delete(outbox))
            runner = TargetRunner(engine, config, clock=harness.clock)
            request = runs.RunRequest(TENANT, "files")
            preview = await runner(runs.RunRequest(TENANT, "files", dry_run=True))
            outcome = await runner(request)
            assert dict(preview.counts) == dict(outcome.counts) == {"read": 3, "unchanged": 3}
            assert len(harness.rows(OutboxEvent)) == 1
            assert await harness.worker.drain() == 1
        finally:
            await harness.aclose()
    [written] = (root / "upload").iterdir()
    assert sum("@acme.com" in line for line in written.read_text().splitlines()) == 3
