"""Groups reach targets that hold groups: members as the target's own account ids."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.auth.tokens import create_token
from gateway.config import parse_config
from gateway.scim.kinds import GROUP
from gateway.settings import Settings
from gateway.store.tables import AccountLink, Membership
from provisioning.snapshot import as_document
from tests.provisioning.harness import Harness, config_with


def remote_groups(engine: Engine) -> list[dict[str, Any]]:
    table, members = GROUP.table, Membership.__table__  # type: ignore[attr-defined]
    with engine.connect() as db:
        rows = db.execute(sa.select(table.c.id, table.c.doc).where(table.c.tenant_id == "remote"))
        groups = [{"id": r.id, **as_document(r.doc)} for r in rows]
        for group in groups:
            query = sa.select(members.c.member_id).where(members.c.group_id == group["id"])
            group["member_ids"] = sorted(db.execute(query).scalars())
    return groups


@pytest.fixture
async def harness(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    remote = create_app(Settings(), engine, parse_config({"tenants": {"remote": {}}}))
    monkeypatch.setenv("REMOTE_TOKEN", create_token(engine, "remote", "scimgw"))
    connection = {
        "type": "scim",
        "base_url": "http://remote.test/scim/v2",
        "auth": {"type": "bearer", "token": "${REMOTE_TOKEN}"},
        "options": {"groups": True},
    }
    h = Harness(engine, config_with("remote", connection), httpx.ASGITransport(app=remote))
    yield h
    await h.aclose()


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
