"""Execution edge cases against scimgw itself as the target: accounts removed behind our
back, and field maps extended by one entry."""

from collections.abc import AsyncIterator
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
from gateway.store.tables import AccountLink, AuditEntry
from provisioning.accounts.snapshot import as_document
from tests.provisioning.harness import Harness, config_with


def remote_users(engine: Engine) -> dict[str, dict[str, Any]]:
    table = USER.table
    with engine.connect() as db:
        rows = db.execute(sa.select(table.c.doc).where(table.c.tenant_id == "remote")).scalars()
        return {doc["userName"]: doc for doc in map(as_document, rows)}


@pytest.fixture
async def setup(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    remote = create_app(Settings(), engine, parse_config({"tenants": {"remote": {}}}))
    token = create_token(engine, "remote", "scimgw")
    monkeypatch.setenv("REMOTE_TOKEN", token)
    connection = {
        "type": "scim",
        "base_url": "http://remote.test/scim/v2",
        "auth": {"type": "bearer", "token": "${REMOTE_TOKEN}"},
        "matching": {"key": "userName"},
        "field_map_extra": {"title": {"constant": "Staff"}},
    }
    transport = httpx.ASGITransport(app=remote)
    h = Harness(engine, config_with("remote", connection), transport)
    admin = httpx.AsyncClient(
        transport=transport,
        base_url="http://remote.test/scim/v2",
        headers={"Authorization": f"Bearer {token}"},
    )
    yield h, admin
    await admin.aclose()
    await h.aclose()


async def test_field_map_extra_adds_one_entry_to_the_default_map(
    setup: tuple[Harness, httpx.AsyncClient], engine: Engine
) -> None:
    harness, _ = setup
    await harness.create_user("ada")
    await harness.worker.drain()
    remote = remote_users(engine)["ada@acme.com"]
    assert remote["title"] == "Staff"  # the extra entry
    assert remote["name"]["givenName"] == "Ada"  # the default map still applies


async def test_an_account_deleted_in_the_target_is_provisioned_again_on_the_next_change(
    setup: tuple[Harness, httpx.AsyncClient], engine: Engine
) -> None:
    harness, admin = setup
    user = await harness.create_user("ada")
    await harness.worker.drain()
    [link] = harness.rows(AccountLink, resource_id=user)
    assert (await admin.delete(f"/Users/{link.remote_id}")).status_code == 204

    await harness.patch(user, "name.givenName", "Augusta")
    await harness.worker.drain()
    remote = remote_users(engine)["ada@acme.com"]
    assert remote["name"]["givenName"] == "Augusta"
    [relinked] = harness.rows(AccountLink, resource_id=user)
    assert relinked.remote_id == remote["id"] != link.remote_id
    assert [a.action for a in harness.rows(AuditEntry)] == ["link.replaced"]
