"""Every committed change writes one outbox row per enabled target connection."""

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.config.file import GatewayConfig, parse_config

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(
        {
            "tenants": {
                "acme": {
                    "connections": {
                        "lms": {"type": "talentlms"},
                        "reviews": {"type": "elevo"},
                        "paused": {"type": "lucca", "enabled": False},
                        "hr": {"type": "bamboohr", "direction": "source"},
                    }
                },
                "globex": {},
            }
        }
    )


def _rows(engine: Engine) -> list[sa.Row]:  # type: ignore[type-arg]
    with engine.connect() as connection:
        return list(
            connection.exec_driver_sql(
                "SELECT connection, action, priority, version, resource_type"
                " FROM outbox ORDER BY id"
            )
        )


async def test_create_writes_one_row_per_enabled_target(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    await client.post("/Users", json={"schemas": [CORE], "userName": "a"})
    rows = _rows(engine)
    assert sorted(r.connection for r in rows) == ["lms", "reviews"]
    assert {(r.action, r.priority, r.version) for r in rows} == {("created", 1, 1)}


async def test_deactivation_is_queued_before_other_changes(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    user_id = (await client.post("/Users", json={"schemas": [CORE], "userName": "a"})).json()["id"]
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    assert (await client.patch(f"/Users/{user_id}", json=body)).status_code == 200
    deactivations = [r for r in _rows(engine) if r.action == "deactivated"]
    assert len(deactivations) == 2 and all(r.priority == 0 for r in deactivations)


async def test_failed_write_leaves_no_outbox_row(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/Users", json={"schemas": [CORE], "userName": "a"})
    assert (
        await client.post("/Users", json={"schemas": [CORE], "userName": "A"})
    ).status_code == 409
    assert len(_rows(engine)) == 2


async def test_unchanged_put_writes_no_row(client: httpx.AsyncClient, engine: Engine) -> None:
    body = {"schemas": [CORE], "userName": "a"}
    user_id = (await client.post("/Users", json=body)).json()["id"]
    assert (await client.put(f"/Users/{user_id}", json=body)).status_code == 200
    assert len(_rows(engine)) == 2


async def test_tenant_without_connections_writes_none(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    from gateway.auth.tokens import create_token

    headers = {"Authorization": f"Bearer {create_token(engine, 'globex', 'x')}"}
    assert (
        await client.post("/Users", json={"schemas": [CORE], "userName": "a"}, headers=headers)
    ).status_code == 201
    assert _rows(engine) == []


async def test_delete_is_queued_with_leaver_priority(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    user_id = (await client.post("/Users", json={"schemas": [CORE], "userName": "a"})).json()["id"]
    await client.delete(f"/Users/{user_id}")
    assert {(r.action, r.priority) for r in _rows(engine)[-2:]} == {("deleted", 0)}
