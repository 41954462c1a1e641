"""bulkUpload over a real socket, and under concurrent pushes, on SQLite and PostgreSQL."""

import asyncio
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.config.file import GatewayConfig, parse_config
from tests.conftest import LiveServer
from tests.gateway.scim.test_bulk_upload import BULK_REQUEST, MICROSOFT_EXAMPLE, SCIM, person


@pytest.fixture
def config() -> GatewayConfig:
    connections = {"lms": {"type": "talentlms"}, "reviews": {"type": "elevo"}}
    return parse_config({"tenants": {"acme": {"connections": connections}, "globex": {}}})


def _outbox(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.exec_driver_sql(
                "SELECT connection, action, resource_id FROM outbox ORDER BY id"
            )
        )


async def test_a_user_pushed_over_a_socket_reaches_every_target_connection(
    live_server: LiveServer, engine: Engine
) -> None:
    headers = {"Authorization": f"Bearer {live_server.token}", "Content-Type": SCIM}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as http:
        started = time.perf_counter()
        response = await http.post("/bulkUpload", json=MICROSOFT_EXAMPLE)
        elapsed = time.perf_counter() - started
        assert response.status_code == 202, response.text
        result = (await http.get(response.headers["Location"])).json()
    print(f"bulkUpload of Microsoft's example over a socket: {elapsed * 1000:.1f} ms")
    user_id = result["Operations"][0]["id"]
    rows = _outbox(engine)
    assert sorted(row.connection for row in rows) == ["lms", "reviews"]
    assert {(row.action, row.resource_id) for row in rows} == {("created", user_id)}


async def test_fifty_people_pushed_over_a_socket_are_applied_and_reported_in_order(
    live_server: LiveServer, engine: Engine
) -> None:
    headers = {"Authorization": f"Bearer {live_server.token}", "Content-Type": SCIM}
    body = {"schemas": [BULK_REQUEST], "Operations": [person(str(n)) for n in range(50)]}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as http:
        started = time.perf_counter()
        response = await http.post("/bulkUpload", json=body)
        elapsed = time.perf_counter() - started
        result = (await http.get(response.headers["Location"])).json()
    print(f"bulkUpload of 50 new people over a socket: {elapsed * 1000:.1f} ms")
    assert [entry["externalId"] for entry in result["Operations"]] == [str(n) for n in range(50)]
    assert result["counts"]["created"] == 50
    assert len(_outbox(engine)) == 100  # two target connections each


async def test_concurrent_pushes_of_one_new_person_create_one_user(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """On PostgreSQL the pushes run in parallel threads: without the lock on the
    externalId, each would find no user and create its own."""
    operation = person("77", title="Analyst")
    body = {"schemas": [BULK_REQUEST], "Operations": [operation]}
    responses = await asyncio.gather(*(client.post("/bulkUpload", json=body) for _ in range(6)))
    assert [r.status_code for r in responses] == [202] * 6
    with engine.connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM scim_user WHERE external_id = '77'")
        ).scalar()
    assert count == 1
    statuses = sorted(r.json()["Operations"][0]["status"] for r in responses)
    assert statuses == ["created"] + ["unchanged"] * 5
