"""POST /Bulk (RFC 7644 §3.7), end to end through the app on SQLite and PostgreSQL."""

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token
from gateway.config.file import GatewayConfig, parse_config

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_OPERATIONS = 10
MAX_PAYLOAD = 8192

Operation = dict[str, Any]


@pytest.fixture
def config() -> GatewayConfig:
    server = {"bulk_max_operations": MAX_OPERATIONS, "bulk_max_payload_size": MAX_PAYLOAD}
    return parse_config({"server": server, "tenants": {"acme": {}, "globex": {}}})


def create_user(bulk_id: str, name: str, **extra: Any) -> Operation:
    data = {"schemas": [CORE], "userName": name, **extra}
    return {"method": "POST", "bulkId": bulk_id, "path": "/Users", "data": data}


def create_group(bulk_id: str, name: str, *member_refs: str) -> Operation:
    members = [{"value": ref} for ref in member_refs]
    data = {"schemas": [GROUP], "displayName": name, "members": members}
    return {"method": "POST", "bulkId": bulk_id, "path": "/Groups", "data": data}


def patch_op(path: str, *operations: dict[str, Any], **extra: Any) -> Operation:
    data = {"schemas": [PATCH], "Operations": list(operations)}
    return {"method": "PATCH", "path": path, "data": data, **extra}


async def post_bulk(
    client: httpx.AsyncClient, *operations: Operation, **extra: Any
) -> httpx.Response:
    body = {"schemas": [BULK_REQUEST], "Operations": list(operations), **extra}
    return await client.post("/Bulk", json=body)


async def results(client: httpx.AsyncClient, *operations: Operation, **extra: Any) -> list[Any]:
    response = await post_bulk(client, *operations, **extra)
    assert response.status_code == 200, response.text
    assert response.json()["schemas"] == [BULK_RESPONSE]
    return list(response.json()["Operations"])


def created_id(result: dict[str, Any]) -> str:
    return str(result["location"].rsplit("/", 1)[1])


async def test_creates_user_and_group_whose_member_is_the_users_bulk_id(
    client: httpx.AsyncClient,
) -> None:
    user, group = await results(
        client, create_user("u1", "alice"), create_group("g1", "Sales", "bulkId:u1")
    )
    assert user["status"] == "201" and user["bulkId"] == "u1" and user["method"] == "POST"
    assert user["location"].startswith("http://testserver/scim/v2/Users/")
    assert user["version"] == 'W/"1"'
    assert group["status"] == "201"
    fetched = (await client.get(f"/Groups/{created_id(group)}")).json()
    assert [m["value"] for m in fetched["members"]] == [created_id(user)]


async def test_operation_may_reference_a_bulk_id_created_later_in_the_request(
    client: httpx.AsyncClient,
) -> None:
    """RFC 7644 §3.7.2: operations need not come in dependency order."""
    group, user = await results(
        client, create_group("g1", "Sales", "bulkId:u1"), create_user("u1", "alice")
    )
    assert (group["status"], user["status"]) == ("201", "201")
    fetched = (await client.get(f"/Groups/{created_id(group)}")).json()
    assert [m["value"] for m in fetched["members"]] == [created_id(user)]


async def test_manager_value_is_resolved_from_a_bulk_id(client: httpx.AsyncClient) -> None:
    boss = {"manager": {"value": "bulkId:boss"}}
    employee, manager = await results(
        client,
        create_user("emp", "emp", schemas=[CORE, ENTERPRISE], **{ENTERPRISE: boss}),
        create_user("boss", "boss"),
    )
    assert (employee["status"], manager["status"]) == ("201", "201")
    fetched = (await client.get(f"/Users/{created_id(employee)}")).json()
    assert fetched[ENTERPRISE]["manager"]["value"] == created_id(manager)


async def test_entra_bare_manager_id_in_bulk_data_is_rewritten_then_resolved(
    client: httpx.AsyncClient,
) -> None:
    """Bulk data goes through the same IdP dialects as a lone POST (dialects.py, Entra)."""
    bare = {ENTERPRISE: {"manager": "bulkId:boss"}}
    employee, manager = await results(
        client,
        create_user("emp", "emp", schemas=[CORE, ENTERPRISE], **bare),
        create_user("boss", "boss"),
    )
    assert (employee["status"], manager["status"]) == ("201", "201")
    fetched = (await client.get(f"/Users/{created_id(employee)}")).json()
    assert fetched[ENTERPRISE]["manager"]["value"] == created_id(manager)
    assert "bulkId" not in str(fetched[ENTERPRISE]["manager"])


async def test_patch_and_delete_address_a_resource_by_its_bulk_id(
    client: httpx.AsyncClient,
) -> None:
    replace_active = {"op": "replace", "path": "active", "value": False}
    created, patched, deleted = await results(
        client,
        create_user("u1", "alice"),
        patch_op("/Users/bulkId:u1", replace_active, version='W/"1"'),
        {"method": "DELETE", "path": "/Users/bulkId:u1"},
    )
    user_id = created_id(created)
    assert patched["status"] == "200" and patched["version"] == 'W/"2"'
    assert patched["location"].endswith(f"/Users/{user_id}")
    assert deleted["status"] == "204" and deleted["location"].endswith(f"/Users/{user_id}")
    assert (await client.get(f"/Users/{user_id}")).status_code == 404


async def test_version_is_if_match_and_a_stale_one_fails_with_412(
    client: httpx.AsyncClient,
) -> None:
    user_id = (await client.post("/Users", json={"schemas": [CORE], "userName": "a"})).json()["id"]
    replace_active = {"op": "replace", "path": "active", "value": False}
    stale = patch_op(f"/Users/{user_id}", replace_active, version='W/"7"')
    (result,) = await results(client, stale)
    assert result["status"] == "412" and result["response"]["status"] == "412"
    assert (await client.get(f"/Users/{user_id}")).json()["meta"]["version"] == 'W/"1"'


async def test_fail_on_errors_stops_after_that_many_errors(client: httpx.AsyncClient) -> None:
    """RFC 7644 §3.7: the operations after the limit are neither performed nor listed."""
    listed = await results(
        client,
        create_user("u1", "alice"),
        create_user("u2", "alice"),
        create_user("u3", "carol"),
        failOnErrors=1,
    )
    assert [r["status"] for r in listed] == ["201", "409"]
    carol = await client.get("/Users", params={"filter": 'userName eq "carol"'})
    assert carol.json()["totalResults"] == 0


async def test_duplicate_user_name_fails_only_its_own_operation(
    client: httpx.AsyncClient,
) -> None:
    first, duplicate, other = await results(
        client, create_user("u1", "alice"), create_user("u2", "ALICE"), create_user("u3", "bob")
    )
    assert (first["status"], other["status"]) == ("201", "201")
    assert duplicate["status"] == "409" and duplicate["bulkId"] == "u2"
    assert "location" not in duplicate
    error = duplicate["response"]
    assert error["schemas"] == [ERROR]
    assert (error["status"], error["scimType"]) == ("409", "uniqueness")


async def test_more_operations_than_max_operations_is_413(client: httpx.AsyncClient) -> None:
    """RFC 7644 §3.7.4: maxOperations exceeded is 413, and nothing is performed."""
    operations = [create_user(f"u{i}", f"user{i}") for i in range(MAX_OPERATIONS + 1)]
    response = await post_bulk(client, *operations)
    assert response.status_code == 413
    assert response.json()["status"] == "413"
    detail = response.json()["detail"]
    assert str(MAX_OPERATIONS) in detail and str(MAX_OPERATIONS + 1) in detail
    assert (await client.get("/Users")).json()["totalResults"] == 0


async def test_payload_larger_than_max_payload_size_is_413(client: httpx.AsyncClient) -> None:
    response = await post_bulk(client, create_user("u1", "alice", displayName="x" * MAX_PAYLOAD))
    assert response.status_code == 413
    assert response.json()["status"] == "413"
    assert str(MAX_PAYLOAD) in response.json()["detail"]
    assert (await client.get("/Users")).json()["totalResults"] == 0


async def test_reference_to_an_unknown_bulk_id_fails_that_operation(
    client: httpx.AsyncClient,
) -> None:
    group, user = await results(
        client, create_group("g1", "Sales", "bulkId:nobody"), create_user("u1", "alice")
    )
    assert group["status"] == "400" and group["response"]["scimType"] == "invalidValue"
    assert "nobody" in group["response"]["detail"]
    assert user["status"] == "201"


async def test_reference_to_a_failed_operation_fails_too(client: httpx.AsyncClient) -> None:
    await client.post("/Users", json={"schemas": [CORE], "userName": "alice"})
    user, group = await results(
        client, create_user("u1", "alice"), create_group("g1", "Sales", "bulkId:u1")
    )
    assert user["status"] == "409"
    assert group["status"] == "400" and "u1" in group["response"]["detail"]
    assert (await client.get("/Groups")).json()["totalResults"] == 0


async def test_circular_bulk_ids_fail_with_409_and_end(client: httpx.AsyncClient) -> None:
    """RFC 7644 §3.7.1 lets the service answer 409 rather than untangle a cycle."""
    listed = await results(
        client,
        create_group("a", "A", "bulkId:b"),
        create_group("b", "B", "bulkId:a"),
        create_group("self", "Self", "bulkId:self"),
        create_user("u1", "alice"),
    )
    assert [r["status"] for r in listed] == ["409", "409", "409", "201"]
    assert "circular" in listed[0]["response"]["detail"]
    assert (await client.get("/Groups")).json()["totalResults"] == 0


async def test_other_tenants_user_is_404_in_that_operation_and_unchanged(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    globex = {"Authorization": f"Bearer {create_token(engine, 'globex', 'entra')}"}
    body = {"schemas": [CORE], "userName": "secret@globex.com"}
    theirs = (await client.post("/Users", json=body, headers=globex)).json()["id"]
    deactivate = {"op": "replace", "path": "active", "value": False}
    patched, created = await results(
        client, patch_op(f"/Users/{theirs}", deactivate), create_user("u1", "alice")
    )
    assert patched["status"] == "404" and patched["response"]["status"] == "404"
    assert created["status"] == "201"
    user = (await client.get(f"/Users/{theirs}", headers=globex)).json()
    assert user.get("active") is not False and user["meta"]["version"] == 'W/"1"'


async def test_invalid_method_or_path_fails_only_that_operation(
    client: httpx.AsyncClient,
) -> None:
    listed = await results(
        client,
        {"method": "GET", "path": "/Users"},
        {"method": "POST", "bulkId": "w", "path": "/Widgets", "data": {"name": "w"}},
        {"method": "DELETE", "path": "/Users"},
        create_user("u1", "alice"),
    )
    assert [r["status"] for r in listed] == ["400", "400", "400", "201"]
    assert listed[0]["response"]["scimType"] in ("invalidSyntax", "invalidValue")
    assert listed[1]["response"]["scimType"] == "invalidPath"
    assert listed[2]["response"]["scimType"] == "invalidPath"


async def test_request_without_the_bulk_request_schema_is_400(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/Bulk", json={"Operations": [create_user("u1", "alice")]})
    assert response.status_code == 400
    assert BULK_REQUEST in response.json()["detail"]


async def test_read_only_token_cannot_bulk(client: httpx.AsyncClient, engine: Engine) -> None:
    reader = create_token(engine, "acme", "reader", scopes=("scim:read",))
    body = {"schemas": [BULK_REQUEST], "Operations": [create_user("u1", "alice")]}
    response = await client.post("/Bulk", json=body, headers={"Authorization": f"Bearer {reader}"})
    assert response.status_code == 403
