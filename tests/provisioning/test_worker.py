"""The delivery worker end to end: SCIM writes -> outbox -> worker -> webhook contract fake.

Runs on SQLite and PostgreSQL (the ``engine`` fixture).
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from gateway.config.file import GatewayConfig, parse_config
from gateway.scim.dialects import POLICY
from gateway.scim.kinds import TenantKinds
from gateway.service import ResourceService
from gateway.store.tables import AccountLink, AuditEntry, Delivery, OutboxEvent
from provisioning.accounts import snapshot
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.provisioning.harness import Harness as SharedHarness

SCIM = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SECRET = "whsec-test-0123456789"


def gateway_config(**connection: Any) -> GatewayConfig:
    hook = {
        "type": "webhook",
        "base_url": "http://hooks.test",
        "options": {"secret": "${HOOK_SECRET}", "path": "/hooks/scimgw"},
        **connection,
    }
    return parse_config({"tenants": {"acme": {"connections": {"hooks": hook}}}})


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver(SECRET)


class Harness(SharedHarness):
    """The shared harness, wired to the webhook receiver fake."""

    def __init__(self, engine: Engine, config: GatewayConfig, receiver: WebhookReceiver) -> None:
        super().__init__(engine, config, httpx.ASGITransport(app=receiver.app))
        self.receiver = receiver


@pytest.fixture
async def harness(engine: Engine, receiver: WebhookReceiver) -> AsyncIterator[Harness]:
    h = Harness(engine, gateway_config(), receiver)
    yield h
    await h.aclose()


async def test_a_created_user_reaches_the_target_and_is_linked(harness: Harness) -> None:
    user_id = await harness.create_user("ada")
    assert await harness.worker.drain() == 1
    account = harness.receiver.accounts[user_id]
    assert account.data["email"] == "ada@acme.com"
    assert account.active is True
    [link] = harness.rows(AccountLink, resource_id=user_id)
    assert (link.state, link.remote_id) == ("active", user_id)
    [delivery] = harness.rows(Delivery, resource_id=user_id)
    assert (delivery.operation, delivery.outcome, delivery.attempt) == ("create", "delivered", 1)
    [event] = harness.rows(OutboxEvent, resource_id=user_id)
    assert event.status == "done"


async def test_an_unchanged_payload_is_not_sent_again(harness: Harness) -> None:
    user_id = await harness.create_user("ada")
    await harness.worker.drain()
    # title is not in the webhook's field map: the mapped payload is the same.
    await harness.patch(user_id, "title", "Engineer")
    await harness.worker.drain()
    assert [e["type"] for e in harness.receiver.events] == ["user.created"]
    outcomes = [(d.operation, d.outcome) for d in harness.rows(Delivery, resource_id=user_id)]
    assert ("skip", "skipped") in outcomes


async def test_update_deactivate_and_reactivate_follow_the_user(harness: Harness) -> None:
    user_id = await harness.create_user("ada")
    await harness.worker.drain()
    await harness.patch(user_id, "name.givenName", "Augusta")
    await harness.worker.drain()
    assert harness.receiver.accounts[user_id].data["given_name"] == "Augusta"
    await harness.patch(user_id, "active", False)
    await harness.worker.drain()
    assert harness.receiver.accounts[user_id].active is False
    await harness.patch(user_id, "active", True)
    await harness.worker.drain()
    assert harness.receiver.accounts[user_id].active is True
    types = [e["type"] for e in harness.receiver.events]
    # The reactivation also updates (the payload now says active: true): a distinct event,
    # applied by the receiver, which dedupes by id.
    assert types == [
        "user.created",
        "user.updated",
        "user.deactivated",
        "user.reactivated",
        "user.updated",
    ]


async def test_events_of_one_user_settled_together_deliver_the_current_state_once(
    harness: Harness,
) -> None:
    user_id = await harness.create_user("ada")
    for name in ("B", "C", "D"):
        await harness.patch(user_id, "name.givenName", name)
    await harness.worker.drain()
    assert [e["type"] for e in harness.receiver.events] == ["user.created"]
    assert harness.receiver.accounts[user_id].data["given_name"] == "D"
    statuses = {row.status for row in harness.rows(OutboxEvent, resource_id=user_id)}
    assert statuses == {"done"}


async def test_deleting_a_user_deactivates_the_account_by_default(harness: Harness) -> None:
    user_id = await harness.create_user("ada")
    await harness.worker.drain()
    assert (await harness.scim.delete(f"/Users/{user_id}")).status_code == 204
    await harness.worker.drain()
    assert harness.receiver.accounts[user_id].active is False
    [link] = harness.rows(AccountLink, resource_id=user_id)
    assert link.state == "inactive"


async def test_throttled_delivery_waits_for_retry_after_then_succeeds(harness: Harness) -> None:
    user_id = await harness.create_user("ada")
    harness.receiver.fail_next(429, headers={"Retry-After": "30"})
    before = harness.clock.now
    await harness.worker.drain()
    [event] = harness.rows(OutboxEvent, resource_id=user_id)
    assert event.status == "pending"
    due = event.due_at.replace(tzinfo=UTC) if event.due_at.tzinfo is None else event.due_at
    assert due >= before + timedelta(seconds=30)
    harness.clock.advance(10)
    assert await harness.worker.drain() == 0  # not due yet
    harness.clock.advance(25)
    assert await harness.worker.drain() == 1
    assert user_id in harness.receiver.accounts
    outcomes = [(d.outcome, d.http_status) for d in harness.rows(Delivery, resource_id=user_id)]
    assert outcomes == [("retry", 429), ("delivered", 200)]


async def test_server_error_is_retried_until_it_succeeds(harness: Harness) -> None:
    user_id = await harness.create_user("ada")
    harness.receiver.fail_next(500, body={"message": "database down"})
    await harness.worker.drain()
    harness.clock.advance(3600)
    await harness.worker.drain()
    assert user_id in harness.receiver.accounts
    [retry, delivered] = harness.rows(Delivery, resource_id=user_id)
    assert retry.outcome == "retry" and "database down" in retry.error
    assert delivered.attempt == 2


async def test_permanent_error_dead_letters_with_the_vendor_message_and_replays(
    harness: Harness,
) -> None:
    from typer.testing import CliRunner

    from scimgw.cli import app as cli

    user_id = await harness.create_user("ada")
    harness.receiver.fail_next(400, body={"message": "email domain not allowed"})
    await harness.worker.drain()
    [event] = harness.rows(OutboxEvent, resource_id=user_id)
    assert event.status == "dead"
    assert "email domain not allowed" in event.last_error
    assert user_id not in harness.receiver.accounts

    url = harness.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["replay", "--event", str(event.id), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "re-enqueued 1" in result.output
    await harness.worker.drain()
    assert user_id in harness.receiver.accounts
    assert [a.action for a in harness.rows(AuditEntry)] == ["replay"]


async def test_leavers_are_claimed_before_creations_and_updates(harness: Harness) -> None:
    early = await harness.create_user("early")
    await harness.worker.drain()
    for n in range(3):
        await harness.create_user(f"new{n}")
    await harness.patch(early, "active", False)
    from provisioning.records.claims import claim

    with harness.engine.begin() as connection:
        batch = claim(
            connection,
            tenant="acme",
            target="hooks",
            worker="w",
            now=harness.clock.now,
            lease=timedelta(seconds=60),
            limit=2,
        )
    assert [c.action for c in batch] == ["deactivated", "created"]


async def test_a_resource_is_never_claimed_twice_while_in_flight(harness: Harness) -> None:
    user_id = await harness.create_user("ada")
    await harness.patch(user_id, "name.givenName", "B")
    from provisioning.records.claims import claim

    def take(worker: str, at: datetime) -> list[int]:
        with harness.engine.begin() as connection:
            found = claim(
                connection,
                tenant="acme",
                target="hooks",
                worker=worker,
                now=at,
                lease=timedelta(seconds=60),
                limit=10,
            )
        return [c.id for c in found]

    now = harness.clock.now
    first = take("a", now)
    assert len(first) == 1  # the later event waits behind the first
    assert take("b", now) == []
    # a worker that died: its lease expires and the event is taken over
    assert take("b", now + timedelta(seconds=61)) == first


async def test_scope_filter_provisions_only_matching_users_and_deprovisions_leavers(
    engine: Engine, receiver: WebhookReceiver
) -> None:
    config = gateway_config(scope='title eq "Engineer"')
    h = Harness(engine, config, receiver)
    try:
        inside = await h.create_user("ada", title="Engineer")
        outside = await h.create_user("bob", title="Sales")
        await h.worker.drain()
        assert set(receiver.accounts) == {inside}
        [skip] = h.rows(Delivery, resource_id=outside)
        assert skip.outcome == "skipped" and "scope" in skip.error
        await h.patch(inside, "title", "Manager")
        await h.worker.drain()
        assert receiver.accounts[inside].active is False
    finally:
        await h.aclose()


async def test_mass_deactivation_pauses_the_connection_until_confirmed(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from scimgw.cli import app as cli

    config = gateway_config(guard={"max_count": 2, "min_linked": 100})
    h = Harness(engine, config, receiver)
    try:
        users = [await h.create_user(f"u{n}") for n in range(4)]
        await h.worker.drain()
        for user in users:
            await h.patch(user, "active", False)
        await h.worker.drain()
        assert all(receiver.accounts[u].active for u in users)  # nothing went out
        held = [r for r in h.rows(OutboxEvent) if r.status == "held"]
        assert len(held) == 4
        [paused] = [a for a in h.rows(AuditEntry) if a.action == "guard.paused"]
        assert "exceed the limit of 2" in paused.detail

        url = engine.url.render_as_string(hide_password=False)
        arguments = ["guard", "confirm", "hooks", "--tenant", "acme", "--database-url", url]
        result = CliRunner().invoke(cli, [*arguments, "--config", _write_config(config, tmp_path)])
        assert result.exit_code == 0, result.output
        assert "released 4 held events" in result.output
        await h.worker.drain()
        assert not any(receiver.accounts[u].active for u in users)
    finally:
        await h.aclose()


def _write_config(config: GatewayConfig, directory: Path) -> str:
    import yaml

    data = {
        "tenants": {
            "acme": {
                "connections": {
                    "hooks": {
                        "type": "webhook",
                        "base_url": "http://hooks.test",
                        "options": {"secret": "${HOOK_SECRET}"},
                        "guard": config.tenants["acme"].connections["hooks"].guard.model_dump(),
                    }
                }
            }
        }
    }
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


async def test_a_stopping_worker_hands_back_what_it_could_not_finish(
    engine: Engine, receiver: WebhookReceiver
) -> None:
    """SIGTERM: stop claiming, wait for the grace period, then release the claims still
    held, without using up an attempt, so another worker takes them at once."""
    import asyncio

    release = asyncio.Event()

    async def hanging_target(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()  # a target that does not answer before the grace period ends
        await receiver.app(scope, receive, send)

    h = Harness(engine, gateway_config(), receiver)
    h.targets[0].client._transport = httpx.ASGITransport(app=hanging_target)  # noqa: SLF001
    try:
        users = [await h.create_user(name) for name in ("ada", "bob")]
        stop = asyncio.Event()
        running = asyncio.create_task(h.worker.run(stop, grace=0.2))
        while not all(r.status == "inflight" for r in h.rows(OutboxEvent)):
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(running, timeout=10)
        for user in users:
            [event] = h.rows(OutboxEvent, resource_id=user)
            assert (event.status, event.attempts, event.claimed_by) == ("pending", 0, None)
    finally:
        release.set()
        await h.aclose()


async def test_a_change_committed_while_the_worker_reads_the_user_is_still_delivered(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker settles every event up to the newest it saw with the state it read. It
    reads that newest event before the user: a change committed in between must not be
    settled with the older state it never saw (each statement of a PostgreSQL READ
    COMMITTED transaction sees its own snapshot)."""
    user_id = await harness.create_user("ada")
    await harness.worker.drain()
    config = gateway_config()
    service = ResourceService(harness.engine, config, policy=POLICY)
    users = TenantKinds(config)("acme")["users"]
    read_documents = snapshot._documents
    raced: list[bool] = []

    def documents_then_a_racing_change(*args: Any) -> dict[str, dict[str, Any]]:
        docs = read_documents(*args)
        if not raced:
            raced.append(True)
            operation = {"op": "replace", "path": "name.givenName", "value": "Augusta"}
            body = {"schemas": [PATCH_OP], "Operations": [operation]}
            service.patch("acme", users, user_id, body)
        return docs

    monkeypatch.setattr(snapshot, "_documents", documents_then_a_racing_change)
    await harness.patch(user_id, "name.givenName", "Adele")
    await harness.worker.drain()
    assert raced
    assert harness.receiver.accounts[user_id].data["given_name"] == "Augusta"
