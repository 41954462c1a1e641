"""Direct reports follow their manager's account: managers reach targets on an initial load.

The target is scimgw itself (tenant ``remote`` of the same store) through the generic SCIM
connector, whose map sends ``manager.value`` as the remote id of the manager's account, so
every assertion reads the remote's real state (issue 15).
"""

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.auth.tokens import create_token
from gateway.config.file import parse_config
from gateway.scim.kinds import USER
from gateway.settings import Settings
from gateway.store.tables import AccountLink, Delivery, OutboxEvent
from provisioning.accounts.plan import plan
from provisioning.accounts.snapshot import as_document
from tests.provisioning.harness import ENTERPRISE, TENANT, Harness, config_with, managed_by

REMOTE_CONFIG = parse_config({"tenants": {"remote": {}}})
outbox = OutboxEvent.__table__  # type: ignore[attr-defined]


class Remote:
    """The remote scimgw as the harness's target, and an admin acting on it directly."""

    def __init__(self, engine: Engine, token: str, **connection: Any) -> None:
        app = httpx.ASGITransport(app=create_app(Settings(), engine, REMOTE_CONFIG))
        settings = {
            "type": "scim",
            "base_url": "http://remote.test/scim/v2",
            "auth": {"type": "bearer", "token": "${REMOTE_TOKEN}"},
            **connection,
        }
        self.harness = Harness(engine, config_with("remote", settings), app)
        self.admin = httpx.AsyncClient(
            transport=app,
            base_url="http://remote.test/scim/v2",
            headers={"Authorization": f"Bearer {token}"},
        )

    async def aclose(self) -> None:
        await self.admin.aclose()
        await self.harness.aclose()


@pytest.fixture
async def remote(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Remote]:
    token = create_token(engine, "remote", "scimgw")
    monkeypatch.setenv("REMOTE_TOKEN", token)
    made = Remote(engine, token, concurrency=8)
    yield made
    await made.aclose()


def managers_by_user_name(engine: Engine, tenant: str) -> dict[str, str | None]:
    """Each user of ``tenant`` (by userName) and their manager's userName, as stored."""
    table = USER.table
    with engine.connect() as db:
        rows = db.execute(sa.select(table.c.id, table.c.doc).where(table.c.tenant_id == tenant))
        docs = {row.id: as_document(row.doc) for row in rows}
    names = {resource_id: doc["userName"] for resource_id, doc in docs.items()}
    found = {}
    for doc in docs.values():
        manager = ((doc.get(ENTERPRISE) or {}).get("manager") or {}).get("value")
        found[doc["userName"]] = names.get(manager) if manager else None
    return found


def without_manager_at_remote(engine: Engine) -> list[str]:
    """The employees who have a manager in scimgw but not (or another one) at the remote."""
    local, remote = managers_by_user_name(engine, TENANT), managers_by_user_name(engine, "remote")
    return sorted(name for name, boss in local.items() if boss and remote.get(name) != boss)


async def load_an_organisation(harness: Harness, size: int, seed: int) -> None:
    """Push ``size`` users in random order while the worker delivers, as an initial load:
    a fifth of them manage the others. A user whose manager is not created yet is created
    without one and given the manager right after the manager's creation (what Entra and
    Okta do), so some managers are created after their reports."""
    rng = random.Random(seed)
    bosses = [f"boss{n}" for n in range(size // 5)]
    staff = [f"emp{n}" for n in range(size - len(bosses))]
    manager_of = {name: rng.choice(bosses) for name in staff}
    manager_of |= {boss: rng.choice(bosses[:3]) for boss in bosses[3:]}
    order = bosses + staff
    rng.shuffle(order)
    ids: dict[str, str] = {}
    waiting: dict[str, list[str]] = {}
    for name in order:
        boss = manager_of.get(name)
        extra = managed_by(ids[boss]) if boss in ids else {}
        ids[name] = await harness.create_user(name, **extra)
        if boss and boss not in ids:
            waiting.setdefault(boss, []).append(name)
        for report in waiting.pop(name, []):
            await harness.patch(ids[report], f"{ENTERPRISE}:manager", {"value": ids[name]})


async def deliver_while(harness: Harness, load: Any) -> None:
    """Run the worker as ``scimgw worker`` does while ``load`` writes, then deliver the rest."""
    stop = asyncio.Event()
    running = asyncio.create_task(harness.worker.run(stop, grace=30))
    try:
        await load
    finally:
        stop.set()
        await running
    await harness.worker.drain()


async def test_an_initial_load_ends_with_every_manager_set_at_the_remote_and_plan_clean(
    remote: Remote, engine: Engine
) -> None:
    """Issue 15: reports delivered before their manager's account existed were never sent
    again (1-4 of 20 employees without a manager in 7 of 11 runs). Now the manager's new
    account queues them, and the dry run right after finds nothing to change."""
    harness = remote.harness
    await deliver_while(harness, load_an_organisation(harness, size=300, seed=15))

    missing = without_manager_at_remote(engine)
    assert missing == [], f"{len(missing)} employees without their manager at the remote"
    lines = await plan(engine, harness.target)
    assert len(lines) == 300
    assert {line.operation for line in lines} == {"skip"}
    assert {e.status for e in harness.rows(OutboxEvent)} == {"done"}


async def test_a_report_delivered_before_its_manager_is_updated_once_the_manager_exists(
    remote: Remote, engine: Engine
) -> None:
    harness = remote.harness
    boss = await harness.create_user("boss")
    ada = await harness.create_user("ada", **managed_by(boss))
    hold_back(harness, boss)
    await harness.worker.drain()  # ada's create is sent while boss has no account
    assert without_manager_at_remote(engine) == ["ada@acme.com"]

    harness.clock.advance(2 * 3600)
    await harness.worker.drain()
    assert without_manager_at_remote(engine) == []
    operations = [(d.operation, d.outcome) for d in harness.rows(Delivery, resource_id=ada)]
    assert operations == [("create", "delivered"), ("update", "delivered")]


async def test_reports_follow_a_manager_created_again_after_removal_in_the_target(
    remote: Remote, engine: Engine
) -> None:
    """The manager's account is deleted at the remote; its next change creates it again
    under a new id, which its reports must then name (they named the deleted one)."""
    harness = remote.harness
    boss = await harness.create_user("boss")
    ada = await harness.create_user("ada", **managed_by(boss))
    await harness.worker.drain()
    [link] = harness.rows(AccountLink, resource_id=boss)
    assert (await remote.admin.delete(f"/Users/{link.remote_id}")).status_code == 204

    await harness.patch(boss, "title", "Head of Engineering")
    await harness.worker.drain()
    [renewed] = harness.rows(AccountLink, resource_id=boss)
    assert renewed.remote_id != link.remote_id
    assert without_manager_at_remote(engine) == []
    assert [d.operation for d in harness.rows(Delivery, resource_id=ada)][-1] == "update"


async def test_a_deactivated_report_is_not_queued_when_its_manager_gets_an_account(
    remote: Remote, engine: Engine
) -> None:
    """Only reports the target holds active (or is creating or about to deliver) are
    queued: a deactivated one stays as it is until its reactivation, which sends its
    current payload, manager included."""
    harness = remote.harness
    boss = await harness.create_user("boss")
    hold_back(harness, boss)
    bob = await harness.create_user("bob", **managed_by(boss))
    await harness.worker.drain()
    await harness.patch(bob, "active", False)
    await harness.worker.drain()
    events = len(harness.rows(OutboxEvent, resource_id=bob))

    harness.clock.advance(2 * 3600)
    await harness.worker.drain()
    assert harness.rows(AccountLink, resource_id=boss)[0].state == "active"
    assert len(harness.rows(OutboxEvent, resource_id=bob)) == events

    await harness.patch(bob, "active", True)
    await harness.worker.drain()
    assert without_manager_at_remote(engine) == []


async def test_a_create_only_connection_queues_no_reports_it_would_not_update(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a create-only connection (Lucca, TalentHR: HR owns the record after creation)
    a queued report would only be skipped, so none is queued."""
    token = create_token(engine, "remote", "scimgw")
    monkeypatch.setenv("REMOTE_TOKEN", token)
    remote = Remote(engine, token, create_only=True)
    try:
        harness = remote.harness
        boss = await harness.create_user("boss")
        hold_back(harness, boss)
        ada = await harness.create_user("ada", **managed_by(boss))
        await harness.worker.drain()
        harness.clock.advance(2 * 3600)
        await harness.worker.drain()
        assert harness.rows(AccountLink, resource_id=boss)[0].state == "active"
        assert [e.action for e in harness.rows(OutboxEvent, resource_id=ada)] == ["created"]
    finally:
        await remote.aclose()


def hold_back(harness: Harness, resource_id: str) -> None:
    """Make the pending events of one resource due in an hour (its delivery is late)."""
    later = harness.clock.now + timedelta(hours=1)
    harness.execute(
        sa.update(outbox).where(outbox.c.resource_id == resource_id).values(due_at=later)
    )
