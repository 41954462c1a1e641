"""Bulk operations run in batches, one transaction each (gateway/scim/bulk.py): a failed
operation is undone alone, chains resolve across batches, failOnErrors counts as before.

Batches hold four operations here, so that each request spans several of them.
"""

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.config.file import GatewayConfig, parse_config
from gateway.scim import bulk
from gateway.store.tables import AuditEntry

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CHAIN = 30


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "BATCH_OPERATIONS", 4)


@pytest.fixture
def config() -> GatewayConfig:
    server = {"bulk_max_operations": 100, "bulk_max_depth": 100}
    acme = {"connections": {"lms": {"type": "talentlms"}}}
    return parse_config({"server": server, "tenants": {"acme": acme}})


def create_user(bulk_id: str, name: str, **extra: Any) -> dict[str, Any]:
    data = {"schemas": [CORE], "userName": name, **extra}
    return {"method": "POST", "bulkId": bulk_id, "path": "/Users", "data": data}


async def results(client: httpx.AsyncClient, *operations: Any, **extra: Any) -> list[Any]:
    body = {"schemas": [BULK_REQUEST], "Operations": list(operations), **extra}
    response = await client.post("/Bulk", json=body)
    assert response.status_code == 200, response.text
    return list(response.json()["Operations"])


def user_names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        query = "SELECT user_name_key FROM scim_user ORDER BY user_name_key"
        rows = connection.exec_driver_sql(query)
        return [row[0] for row in rows]


def outbox_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {row[0] for row in connection.exec_driver_sql("SELECT resource_id FROM outbox")}


def created_id(result: dict[str, Any]) -> str:
    return str(result["location"].rsplit("/", 1)[1])


async def test_failed_create_in_the_middle_of_a_batch_is_absent_and_the_others_stay(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    await client.post("/Users", json={"schemas": [CORE], "userName": "taken"})
    names = ["a", "b", "TAKEN", "c", "d", "e"]
    listed = await results(client, *(create_user(f"u{i}", n) for i, n in enumerate(names)))
    assert [r["status"] for r in listed] == ["201", "201", "409", "201", "201", "201"]
    assert user_names(engine) == ["a", "b", "c", "d", "e", "taken"]
    created = {created_id(r) for r in listed if r["status"] == "201"}
    # One outbox row per stored user, none for the one refused: its row went with it.
    assert created < outbox_ids(engine) and len(outbox_ids(engine)) == len(created) + 1


async def test_create_in_a_replayed_batch_drops_and_audits_its_unknown_attributes_once(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """A create stored again after its batch rolled back (a later one failed) is the
    same as a lone POST's: unknown extension out of its document, named in one audit row."""
    await client.post("/Users", json={"schemas": [CORE], "userName": "taken"})
    unknown = "urn:example:params:scim:schemas:extension:Shoes:2.0:User"
    odd = create_user("odd", "odd", shoeSize="44")
    odd["data"]["schemas"] = [CORE, unknown]  # listed, with no attributes of its own
    listed = await results(client, odd, create_user("dup", "TAKEN"))
    assert [r["status"] for r in listed] == ["201", "409"]
    stored = (await client.get(f"/Users/{created_id(listed[0])}")).json()
    assert stored["schemas"] == [CORE] and unknown not in stored and "shoeSize" not in stored
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = list(connection.execute(sa.select(table)))
    [entry] = [row for row in rows if row.resource_id == created_id(listed[0])]
    assert "shoeSize" in entry.detail and unknown in entry.detail


async def test_operation_failing_after_it_wrote_leaves_nothing_behind(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """A group PATCH adds a member (a write), then fails on its next operation (an unknown
    member): the member is not added, the group keeps its version, and the operations
    around it stay."""
    alice = (await client.post("/Users", json={"schemas": [CORE], "userName": "alice"})).json()
    group = (await client.post("/Groups", json={"schemas": [GROUP], "displayName": "G"})).json()
    queued = outbox_ids(engine)
    add = {"op": "add", "path": "members", "value": [{"value": alice["id"]}]}
    wrong = {"op": "add", "path": "members", "value": [{"value": "no-such-id"}]}
    patch = {
        "method": "PATCH",
        "path": f"/Groups/{group['id']}",
        "data": {"schemas": [PATCH], "Operations": [add, wrong]},
    }
    first, failed, last = await results(
        client, create_user("u1", "bob"), patch, create_user("u2", "carol")
    )
    assert (first["status"], last["status"]) == ("201", "201")
    assert failed["status"] == "400"
    fetched = (await client.get(f"/Groups/{group['id']}")).json()
    assert "members" not in fetched or fetched["members"] == []
    assert fetched["meta"]["version"] == group["meta"]["version"]
    assert outbox_ids(engine) - queued == {created_id(first), created_id(last)}


async def test_chain_of_dependents_resolves_across_batches(client: httpx.AsyncClient) -> None:
    """Each user's manager is the user the previous operation creates, listed in reverse."""
    operations = []
    for i in range(CHAIN):
        extra: dict[str, Any] = {}
        if i:
            extra = {
                "schemas": [CORE, ENTERPRISE],
                ENTERPRISE: {"manager": {"value": f"bulkId:b{i - 1}"}},
            }
        operations.append(create_user(f"b{i}", f"user{i}", **extra))
    listed = await results(client, *reversed(operations))
    by_bulk_id = {r["bulkId"]: r for r in listed}
    assert {r["status"] for r in listed} == {"201"}
    for i in range(1, CHAIN):
        user = (await client.get(f"/Users/{created_id(by_bulk_id[f'b{i}'])}")).json()
        assert user[ENTERPRISE]["manager"]["value"] == created_id(by_bulk_id[f"b{i - 1}"])


async def test_fail_on_errors_stops_at_exactly_that_many_errors_across_batches(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    await client.post("/Users", json={"schemas": [CORE], "userName": "taken"})
    names = ["a", "taken", "b", "c", "d", "taken", "e", "taken", "f"]
    operations = [create_user(f"u{i}", n) for i, n in enumerate(names)]
    listed = await results(client, *operations, failOnErrors=2)
    assert [r["status"] for r in listed] == ["201", "409", "201", "201", "201", "409"]
    assert user_names(engine) == ["a", "b", "c", "d", "taken"]
