"""Groups reach targets that hold groups: members as the target's own account ids.

The target is scimgw itself (tenant ``remote`` of the same store), so every assertion on
the target reads its real state.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.auth.tokens import create_token
from gateway.config.file import parse_config
from gateway.scim.kinds import GROUP
from gateway.settings import Settings
from gateway.store.tables import (
    AccountLink,
    AuditEntry,
    ConnectionState,
    Delivery,
    Membership,
    OutboxEvent,
)
from provisioning.accounts import enqueue_groups_of
from provisioning.accounts.snapshot import as_document
from provisioning.records import links
from tests.provisioning.harness import TENANT, Harness, config_with

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]


def remote_groups(engine: Engine) -> list[dict[str, Any]]:
    table, members = GROUP.table, Membership.__table__  # type: ignore[attr-defined]
    with engine.connect() as db:
        rows = db.execute(sa.select(table.c.id, table.c.doc).where(table.c.tenant_id == "remote"))
        groups = [{"id": r.id, **as_document(r.doc)} for r in rows]
        for group in groups:
            query = sa.select(members.c.member_id).where(members.c.group_id == group["id"])
            group["member_ids"] = sorted(db.execute(query).scalars())
    return groups


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests to the remote app and remembers each one's method and path."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        return await self.inner.handle_async_request(request)

    def group_calls(self) -> list[str]:
        return [call for call in self.calls if "/Groups" in call]


class Setup:
    """A harness delivering to the remote tenant, a recorder of its calls, and an admin
    client acting on the remote directly (as someone working in the target app would)."""

    def __init__(self, engine: Engine, token: str, **connection: Any) -> None:
        app = httpx.ASGITransport(app=create_app(Settings(), engine, REMOTE_CONFIG))
        self.recorder = Recorder(app)
        settings = {
            "type": "scim",
            "base_url": "http://remote.test/scim/v2",
            "auth": {"type": "bearer", "token": "${REMOTE_TOKEN}"},
            "options": {"groups": True},
            **connection,
        }
        self.harness = Harness(engine, config_with("remote", settings), self.recorder)
        self.admin = httpx.AsyncClient(
            transport=app,
            base_url="http://remote.test/scim/v2",
            headers={"Authorization": f"Bearer {token}"},
        )

    async def aclose(self) -> None:
        await self.admin.aclose()
        await self.harness.aclose()


REMOTE_CONFIG = parse_config({"tenants": {"remote": {}}})
MakeSetup = Callable[..., Awaitable[Setup]]


@pytest.fixture
async def make_setup(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MakeSetup]:
    token = create_token(engine, "remote", "scimgw")
    monkeypatch.setenv("REMOTE_TOKEN", token)
    made: list[Setup] = []

    async def make(**connection: Any) -> Setup:
        made.append(Setup(engine, token, **connection))
        return made[-1]

    yield make
    for setup in made:
        await setup.aclose()


@pytest.fixture
async def harness(make_setup: MakeSetup) -> Harness:
    return (await make_setup()).harness


async def create_group(harness: Harness, name: str, *members: str) -> str:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
        "members": [{"value": member} for member in members],
    }
    response = await harness.scim.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_member(harness: Harness, group_id: str, member: str) -> None:
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": member}]}],
    }
    response = await harness.scim.patch(f"/Groups/{group_id}", json=patch)
    assert response.status_code == 200, response.text


def hold_back(harness: Harness, resource_id: str) -> None:
    """Make the pending events of one resource due in an hour (its delivery is late)."""
    later = harness.clock.now + timedelta(hours=1)
    harness.execute(
        sa.update(outbox).where(outbox.c.resource_id == resource_id).values(due_at=later)
    )


def remote_id(harness: Harness, resource_id: str) -> str:
    [link] = harness.rows(AccountLink, resource_id=resource_id)
    return str(link.remote_id)


async def test_a_group_is_created_with_its_provisioned_members_then_renamed_and_deleted(
    harness: Harness, engine: Engine
) -> None:
    ada, bob = await harness.create_user("ada"), await harness.create_user("bob")
    await harness.worker.drain()
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineering",
        "members": [{"value": ada}, {"value": bob}],
    }
    response = await harness.scim.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    group_id = response.json()["id"]
    await harness.worker.drain()

    [remote] = remote_groups(engine)
    assert remote["displayName"] == "Engineering"
    user_links = {
        r.resource_id: r.remote_id for r in harness.rows(AccountLink, resource_type="User")
    }
    assert remote["member_ids"] == sorted([user_links[ada], user_links[bob]])

    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "path": "displayName", "value": "Platform"},
            {"op": "remove", "path": f'members[value eq "{bob}"]'},
        ],
    }
    assert (await harness.scim.patch(f"/Groups/{group_id}", json=patch)).status_code == 200
    await harness.worker.drain()
    [remote] = remote_groups(engine)
    assert remote["displayName"] == "Platform"
    assert remote["member_ids"] == [user_links[ada]]

    assert (await harness.scim.delete(f"/Groups/{group_id}")).status_code == 204
    await harness.worker.drain()
    assert remote_groups(engine) == []


async def test_a_group_delivered_before_its_member_gets_the_member_once_the_account_is_created(
    make_setup: MakeSetup, engine: Engine
) -> None:
    harness = (await make_setup()).harness
    ada = await harness.create_user("ada")
    await create_group(harness, "Engineering", ada)
    hold_back(harness, ada)  # the group event is delivered before the user's create
    await harness.worker.drain()
    [remote] = remote_groups(engine)
    assert remote["member_ids"] == []

    harness.clock.advance(2 * 3600)
    await harness.worker.drain()
    [remote] = remote_groups(engine)
    assert remote["member_ids"] == [remote_id(harness, ada)]


async def test_a_group_delivered_before_its_member_gets_the_member_once_the_account_is_adopted(
    make_setup: MakeSetup, engine: Engine
) -> None:
    setup = await make_setup(matching={"key": "userName", "adopt_existing": True})
    harness = setup.harness
    existing = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@acme.com",
    }
    response = await setup.admin.post("/Users", json=existing)
    assert response.status_code == 201, response.text
    ada = await harness.create_user("ada")
    await create_group(harness, "Engineering", ada)
    hold_back(harness, ada)
    await harness.worker.drain()
    assert remote_groups(engine)[0]["member_ids"] == []

    harness.clock.advance(2 * 3600)
    await harness.worker.drain()
    assert [a.action for a in harness.rows(AuditEntry)] == ["link.adopted"]
    [remote] = remote_groups(engine)
    assert remote["member_ids"] == [response.json()["id"]] == [remote_id(harness, ada)]


async def test_a_new_hire_added_to_an_existing_group_reaches_it_in_one_drain(
    make_setup: MakeSetup, engine: Engine
) -> None:
    """Entra's order: POST the user, then PATCH the group; the group event is claimed in
    the same batch as the user's create and is delivered first."""
    harness = (await make_setup()).harness
    group = await create_group(harness, "Engineering")
    await harness.worker.drain()
    ada = await harness.create_user("ada")
    await add_member(harness, group, ada)
    await harness.worker.drain()
    [remote] = remote_groups(engine)
    assert remote["member_ids"] == [remote_id(harness, ada)]


async def test_a_group_event_that_changes_nothing_in_the_target_makes_no_call(
    make_setup: MakeSetup, engine: Engine
) -> None:
    setup = await make_setup(scope='emails[type eq "work"].value ew "@acme.com"')
    harness = setup.harness
    ada = await harness.create_user("ada")
    group = await create_group(harness, "Engineering", ada)
    await harness.worker.drain()
    contractor = await harness.create_user(
        "carl", emails=[{"value": "carl@partner.test", "type": "work"}]
    )
    setup.recorder.calls.clear()

    await add_member(harness, group, contractor)  # out of the connection's scope
    await harness.worker.drain()
    assert setup.recorder.group_calls() == []
    last = harness.rows(Delivery, resource_id=group)[-1]
    assert (last.operation, last.outcome) == ("skip", "skipped")
    assert remote_groups(engine)[0]["member_ids"] == [remote_id(harness, ada)]


async def test_a_repeated_group_event_finds_the_group_current_and_makes_no_call(
    make_setup: MakeSetup,
) -> None:
    """At least once: a member's link queues its group again although the group's own
    delivery already read that link; the payload hash skips it."""
    setup = await make_setup()
    harness = setup.harness
    ada = await harness.create_user("ada")
    await harness.worker.drain()
    group = await create_group(harness, "Engineering", ada)
    await harness.worker.drain()
    setup.recorder.calls.clear()
    [row] = harness.rows(AccountLink, resource_id=ada)
    link = links.Link(ada, row.remote_id, row.state, row.payload_hash)
    with harness.engine.begin() as connection:
        placed = [links.Placed(TENANT, "remote", "User", link)]
        assert enqueue_groups_of(connection, placed, harness.clock.now) == 1

    await harness.worker.drain()
    assert setup.recorder.group_calls() == []
    assert harness.rows(Delivery, resource_id=group)[-1].outcome == "skipped"


async def test_an_account_provisioned_again_after_removal_in_the_target_rejoins_its_groups(
    make_setup: MakeSetup, engine: Engine
) -> None:
    setup = await make_setup()
    harness = setup.harness
    ada = await harness.create_user("ada")
    await create_group(harness, "Engineering", ada)
    await harness.worker.drain()
    gone = remote_id(harness, ada)
    assert (await setup.admin.delete(f"/Users/{gone}")).status_code == 204
    assert remote_groups(engine)[0]["member_ids"] == []  # the target dropped her

    await harness.patch(ada, "name.givenName", "Augusta")  # 404, so created again
    await harness.worker.drain()
    [remote] = remote_groups(engine)
    assert remote["member_ids"] == [remote_id(harness, ada)] != [gone]


async def test_a_member_whose_account_is_deleted_in_the_target_leaves_the_remote_group(
    make_setup: MakeSetup, engine: Engine
) -> None:
    setup = await make_setup(
        scope='emails[type eq "work"].value ew "@acme.com"', deprovision={"action": "delete"}
    )
    harness = setup.harness
    ada, bob = await harness.create_user("ada"), await harness.create_user("bob")
    group = await create_group(harness, "Engineering", ada, bob)
    await harness.worker.drain()
    before = len(harness.rows(Delivery, resource_id=group))

    await harness.patch(ada, "emails", [{"value": "ada@partner.test", "type": "work"}])
    await harness.worker.drain()
    assert "DELETE /scim/v2/Users/" + remote_id(harness, ada) in setup.recorder.calls
    [remote] = remote_groups(engine)
    assert remote["member_ids"] == [remote_id(harness, bob)]
    # The group was brought up to date (here the target had dropped her already), so its
    # hash matches the target again.
    [refreshed] = harness.rows(Delivery, resource_id=group)[before:]
    assert (refreshed.operation, refreshed.outcome) == ("update", "delivered")


async def test_a_connection_that_holds_no_groups_gets_no_group_events_from_links(
    make_setup: MakeSetup,
) -> None:
    harness = (await make_setup(options={"groups": False})).harness
    ada = await harness.create_user("ada")
    await create_group(harness, "Engineering", ada)
    hold_back(harness, ada)
    await harness.worker.drain()
    harness.clock.advance(2 * 3600)
    await harness.worker.drain()
    assert harness.rows(AccountLink, resource_id=ada)[0].state == "active"
    group_events = [e for e in harness.rows(OutboxEvent) if e.resource_type == "Group"]
    assert len(group_events) == 1  # the group's creation only


async def remove_in_target_then_change(setup: Setup) -> tuple[str, str, list[str]]:
    """Deliver a group of ada, delete it directly in the target, then add bob in scimgw
    and deliver: the update answers 404 (GroupTarget.update_group).

    Returns:
        The group's id, its first (gone) remote id, and its members' ids.
    """
    harness = setup.harness
    ada, bob = await harness.create_user("ada"), await harness.create_user("bob")
    group = await create_group(harness, "Engineering", ada)
    await harness.worker.drain()
    gone = remote_id(harness, group)
    assert (await setup.admin.delete(f"/Groups/{gone}")).status_code == 204
    await add_member(harness, group, bob)
    await harness.worker.drain()
    return group, gone, [ada, bob]


async def test_a_group_removed_in_the_target_is_created_again_with_its_members_on_its_next_change(
    make_setup: MakeSetup, engine: Engine
) -> None:
    """Looked up by name (nothing found), created with its current members and linked
    to its new remote id; the event is delivered, not dead-lettered."""
    setup = await make_setup()
    harness = setup.harness
    group, gone, members = await remove_in_target_then_change(setup)
    [remote] = remote_groups(engine)
    assert remote["displayName"] == "Engineering"
    assert remote["member_ids"] == sorted(remote_id(harness, m) for m in members)
    [link] = harness.rows(AccountLink, resource_id=group)
    assert (link.remote_id, link.state) == (remote["id"], "active")
    assert remote["id"] != gone
    last = harness.rows(Delivery, resource_id=group)[-1]
    assert (last.operation, last.outcome) == ("update", "delivered")
    assert {e.status for e in harness.rows(OutboxEvent, resource_id=group)} == {"done"}


async def test_a_group_created_again_after_removal_in_the_target_is_audited_as_replaced(
    make_setup: MakeSetup,
) -> None:
    setup = await make_setup()
    group, _, _ = await remove_in_target_then_change(setup)
    replaced = [a for a in setup.harness.rows(AuditEntry) if a.action == "link.replaced"]
    assert [(a.resource_id, a.connection) for a in replaced] == [(group, "remote")]


async def test_a_group_deleted_in_scimgw_after_its_removal_in_the_target_settles_as_deleted(
    make_setup: MakeSetup, engine: Engine
) -> None:
    """The DELETE answers 404: the group is gone, which is what was asked."""
    setup = await make_setup()
    harness = setup.harness
    ada = await harness.create_user("ada")
    group = await create_group(harness, "Engineering", ada)
    await harness.worker.drain()
    gone = remote_id(harness, group)
    assert (await setup.admin.delete(f"/Groups/{gone}")).status_code == 204

    assert (await harness.scim.delete(f"/Groups/{group}")).status_code == 204
    await harness.worker.drain()
    assert setup.recorder.calls[-1] == f"DELETE /scim/v2/Groups/{gone}"
    assert remote_groups(engine) == []
    [link] = harness.rows(AccountLink, resource_id=group)
    assert (link.remote_id, link.state) == (gone, "deleted")
    last = harness.rows(Delivery, resource_id=group)[-1]
    # The row keeps what the target answered, although the delivery succeeded.
    assert (last.operation, last.outcome, last.http_status) == ("delete", "delivered", 404)
    assert {e.status for e in harness.rows(OutboxEvent, resource_id=group)} == {"done"}


async def test_a_group_is_not_adopted_when_another_group_holds_the_remote_one(
    make_setup: MakeSetup, engine: Engine
) -> None:
    """Two groups of scimgw with one name, adoption on: the second must not take over the
    remote group the first is linked to (their member lists would overwrite each other)."""
    setup = await make_setup(matching={"key": "userName", "adopt_existing": True})
    harness = setup.harness
    ada, bob = await harness.create_user("ada"), await harness.create_user("bob")
    first = await create_group(harness, "Engineering", ada)
    await harness.worker.drain()
    second = await create_group(harness, "Engineering", bob)
    await harness.worker.drain()

    [remote] = remote_groups(engine)
    assert remote["member_ids"] == [remote_id(harness, ada)]
    assert remote_id(harness, first) == remote["id"]
    [event] = [e for e in harness.rows(OutboxEvent, resource_id=second)]
    assert event.status == "dead"
    assert f"already linked to group {first}" in (event.last_error or "")


class LosesGroupCreateAnswers(httpx.AsyncBaseTransport):
    """Delivers every request; the answer to the first POST /Groups is lost on the way back."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/Groups") and not self.lost:
            self.lost += 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


async def test_a_group_whose_create_answer_was_lost_is_linked_not_created_twice(
    make_setup: MakeSetup, engine: Engine
) -> None:
    """Without adoption configured: the retry finds the group its first attempt created."""
    setup = await make_setup()
    harness = setup.harness
    losing = LosesGroupCreateAnswers(setup.recorder.inner)
    setup.recorder.inner = losing
    ada = await harness.create_user("ada")
    await harness.worker.drain()
    group = await create_group(harness, "Engineering", ada)
    await harness.worker.drain()
    assert losing.lost == 1
    harness.clock.advance(3600)
    await harness.worker.drain()

    [remote] = remote_groups(engine)
    assert remote["member_ids"] == [remote_id(harness, ada)]
    [link] = harness.rows(AccountLink, resource_id=group)
    assert (link.remote_id, link.state) == (remote["id"], links.ACTIVE)
    assert {e.status for e in harness.rows(OutboxEvent, resource_id=group)} == {"done"}
    actions = [a.action for a in harness.rows(AuditEntry) if a.resource_id == group]
    assert "link.recovered" in actions


async def test_deleting_groups_does_not_count_against_the_mass_deletion_guard(
    make_setup: MakeSetup, engine: Engine
) -> None:
    """The guard counts people losing access: two groups removed are not two leavers, so
    one leaver afterwards stays under a limit of two."""
    harness = (await make_setup(guard={"max_count": 2})).harness
    ada = await harness.create_user("ada")
    groups = [await create_group(harness, f"Team {n}") for n in range(2)]
    await harness.worker.drain()
    for group in groups:
        assert (await harness.scim.delete(f"/Groups/{group}")).status_code == 204
    await harness.worker.drain()
    assert remote_groups(engine) == []
    await harness.patch(ada, "active", False)
    await harness.worker.drain()
    assert not [s for s in harness.rows(ConnectionState) if s.paused]
    [outcome] = [d for d in harness.rows(Delivery, resource_id=ada) if d.operation != "create"]
    assert (outcome.operation, outcome.outcome) == ("deactivate", "delivered")


class CreatesGroupTwiceAtOnce(httpx.AsyncBaseTransport):
    """The first POST /Groups meets another attempt of the same event that created the
    group a moment before: the group exists, and this attempt is answered 409."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.raced = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/Groups") and not self.raced:
            self.raced += 1
            body = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "a group with this displayName already exists",
            }
            return httpx.Response(409, json=body, request=request)
        return response


async def test_a_group_created_by_a_concurrent_attempt_is_linked_not_dead_lettered(
    make_setup: MakeSetup, engine: Engine
) -> None:
    """The lookup found no group, the create was refused as a duplicate: the group is the
    other attempt's (as for an account), so it is linked, without adoption configured."""
    setup = await make_setup()
    harness = setup.harness
    racing = CreatesGroupTwiceAtOnce(setup.recorder.inner)
    setup.recorder.inner = racing
    ada = await harness.create_user("ada")
    await harness.worker.drain()
    group = await create_group(harness, "Engineering", ada)
    await harness.worker.drain()

    assert racing.raced == 1
    [remote] = remote_groups(engine)
    [link] = harness.rows(AccountLink, resource_id=group)
    assert (link.remote_id, link.state) == (remote["id"], links.ACTIVE)
    assert {e.status for e in harness.rows(OutboxEvent, resource_id=group)} == {"done"}
    actions = [a.action for a in harness.rows(AuditEntry) if a.resource_id == group]
    assert actions == ["link.recovered"]


async def test_a_skipped_group_delivery_says_why(make_setup: MakeSetup) -> None:
    """A group's delivery row explains its skip as an account's does (one delivery path)."""
    setup = await make_setup(scope='emails[type eq "work"].value ew "@acme.com"')
    harness = setup.harness
    group = await create_group(harness, "Engineering")
    await harness.worker.drain()
    contractor = await harness.create_user(
        "carl", emails=[{"value": "carl@partner.test", "type": "work"}]
    )
    await add_member(harness, group, contractor)  # out of the connection's scope
    await harness.worker.drain()
    last = harness.rows(Delivery, resource_id=group)[-1]
    assert (last.operation, last.outcome) == ("skip", "skipped")
    assert last.error == "unchanged since the last delivery"
