"""Lenient on what real identity providers send (issue 9, §5), strict where asked.

Body shapes from learn.microsoft.com "Tutorial: Develop and plan provisioning for a SCIM
endpoint" and "Known issues and resolutions with SCIM 2.0 protocol compliance". Over the
app, on SQLite and PostgreSQL. Tenant acme is lenient (the default), globex has
``strict_input: true``.
"""

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token
from gateway.config.file import GatewayConfig, parse_config
from gateway.store.tables import AuditEntry

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
#: The custom extension form Microsoft's tutorial shows for attributes of one's own.
CUSTOM_EXTENSION = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config({"tenants": {"acme": {}, "globex": {"strict_input": True}}})


@pytest.fixture
def strict(engine: Engine) -> dict[str, str]:
    """Headers of a globex (strict_input) caller."""
    return {"Authorization": f"Bearer {create_token(engine, 'globex', 'strict-idp')}"}


def entra_user(user_name: str = "Test_User_ab6490ee@testuser.com", **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [CORE, ENTERPRISE],
        "externalId": f"ext-{user_name}",
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "f", "givenName": "g"},
        "roles": [],
        **extra,
    }


def patch(*operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations), **extra}


def audit_rows(engine: Engine) -> list[Any]:
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return list(connection.execute(sa.select(table).order_by(table.c.id)))


async def create(client: httpx.AsyncClient, user_name: str, **kwargs: Any) -> str:
    response = await client.post("/Users", json=entra_user(user_name), **kwargs)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# -- attribute names in any case, at every depth ------------------------------------------


def capitalised_manager(manager: str) -> dict[str, Any]:
    return {"Manager": {"Value": manager}, "Department": "Sales"}


async def test_entra_capitalised_manager_value_on_post_and_put(client: httpx.AsyncClient) -> None:
    boss = await create(client, "boss@testuser.com")
    body = entra_user(**{ENTERPRISE: capitalised_manager(boss)})
    created = await client.post("/Users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()[ENTERPRISE]["manager"]["value"] == boss
    assert created.json()[ENTERPRISE]["department"] == "Sales"
    other = await create(client, "other@testuser.com")
    replaced = await client.put(
        f"/Users/{created.json()['id']}",
        json=entra_user(**{ENTERPRISE: capitalised_manager(other)}),
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()[ENTERPRISE]["manager"]["value"] == other


async def test_entra_capitalised_manager_value_in_bulk(client: httpx.AsyncClient) -> None:
    boss = await create(client, "boss@testuser.com")
    body = {
        "schemas": [BULK],
        "Operations": [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "u1",
                "data": entra_user(**{ENTERPRISE: capitalised_manager(boss)}),
            }
        ],
    }
    response = await client.post("/Bulk", json=body)
    result = response.json()["Operations"][0]
    assert result["status"] == "201", result
    user = (await client.get(result["location"].split("/scim/v2", 1)[1])).json()
    assert user[ENTERPRISE]["manager"]["value"] == boss


# -- Microsoft's ADSCIM group schema ------------------------------------------------------


@pytest.mark.parametrize("tenant", ["lenient", "strict"])
async def test_entra_group_listing_the_adscim_schema_is_created(
    client: httpx.AsyncClient, strict: dict[str, str], tenant: str
) -> None:
    """The tutorial's Create Group request, verbatim in shape; strict tenants take it too."""
    body = {
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"},
        "schemas": [GROUP, ADSCIM_GROUP],
    }
    headers = strict if tenant == "strict" else {}
    response = await client.post("/Groups", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["schemas"] == [GROUP]


async def test_a_schemas_list_holding_an_object_is_a_scim_400_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    """Found by schemathesis: ``"schemas": [{}]`` crashed the ADSCIM quirk (unhashable)."""
    response = await client.post("/Users", json={"schemas": [{}], "userName": "odd"})
    assert response.status_code == 400, response.text
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


# -- unknown attributes: ignored and audited, or refused ----------------------------------


async def test_unknown_attributes_and_extensions_are_ignored_and_named_in_the_audit(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    body = entra_user(
        shoeSize="44",
        name={"givenName": "g", "familyName": "f", "nickname2": "secret-ish"},
        **{CUSTOM_EXTENSION: {"badgeNumber": "B-1234"}},
    )
    body["schemas"] = [*body["schemas"], CUSTOM_EXTENSION]
    response = await client.post("/Users", json=body)
    assert response.status_code == 201, response.text
    user = response.json()
    assert "shoeSize" not in user and CUSTOM_EXTENSION not in user
    assert user["schemas"] == [CORE] and user["name"] == {"givenName": "g", "familyName": "f"}
    [entry] = [row for row in audit_rows(engine) if row.resource_id == user["id"]]
    assert entry.action == "scim.ignored_attributes" and entry.tenant_id == "acme"
    for name in ("shoeSize", "name.nickname2", CUSTOM_EXTENSION):
        assert name in entry.detail
    assert (
        "B-1234" not in entry.detail
        and "secret-ish" not in entry.detail
        and "44" not in entry.detail
    )


async def test_put_with_unknown_attributes_is_audited_and_a_clean_write_is_not(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    user_id = await create(client, "kim@testuser.com")
    assert audit_rows(engine) == []  # a write that ignored nothing leaves no entry
    replaced = await client.put(f"/Users/{user_id}", json=entra_user("kim@testuser.com", Foo=1))
    assert replaced.status_code == 200, replaced.text
    [entry] = audit_rows(engine)
    assert entry.resource_id == user_id and "Foo" in entry.detail


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ({"shoeSize": "44"}, "shoeSize: is not an attribute of the resource's schemas"),
        (
            {CUSTOM_EXTENSION: {"a": 1}},
            f"{CUSTOM_EXTENSION}: is not an attribute of the resource's schemas",
        ),
    ],
)
async def test_strict_tenant_refuses_unknown_attributes(
    client: httpx.AsyncClient,
    strict: dict[str, str],
    engine: Engine,
    extra: dict[str, Any],
    detail: str,
) -> None:
    response = await client.post("/Users", json=entra_user(**extra), headers=strict)
    assert response.status_code == 400
    assert response.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "400",
        "scimType": "invalidValue",
        "detail": detail,
    }
    listed = await client.get("/Users", headers=strict)
    assert listed.json()["totalResults"] == 0 and audit_rows(engine) == []


async def test_strict_tenant_refuses_in_a_bulk_create_what_a_lone_post_refuses(
    client: httpx.AsyncClient, strict: dict[str, str], engine: Engine
) -> None:
    """The Bulk parse is lenient; the strict tenant's create is not, and decides."""
    lone = await client.post("/Users", json=entra_user(shoeSize="44"), headers=strict)
    operation = {"method": "POST", "path": "/Users", "bulkId": "u1"}
    body = {"schemas": [BULK], "Operations": [{**operation, "data": entra_user(shoeSize="44")}]}
    response = await client.post("/Bulk", json=body, headers=strict)
    [result] = response.json()["Operations"]
    assert lone.status_code == 400 and result["status"] == "400"
    assert result["response"] == lone.json()
    listed = await client.get("/Users", headers=strict)
    assert listed.json()["totalResults"] == 0 and audit_rows(engine) == []


async def test_strict_tenant_refuses_an_unknown_schema_extension_urn(
    client: httpx.AsyncClient, strict: dict[str, str]
) -> None:
    body = entra_user()
    body["schemas"] = [*body["schemas"], CUSTOM_EXTENSION]
    response = await client.post("/Users", json=body, headers=strict)
    assert response.status_code == 400
    assert CUSTOM_EXTENSION in response.json()["detail"]


async def test_patch_naming_unknown_attributes_changes_nothing_and_is_audited(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    user_id = await create(client, "kim@testuser.com")
    response = await client.patch(
        f"/Users/{user_id}",
        json=patch(
            {"op": "Replace", "path": "shoeSize", "value": "44"},
            {"op": "Replace", "value": {"name.givenName": "Kim", f"{CUSTOM_EXTENSION}:badge": "B"}},
        ),
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"]["givenName"] == "Kim" and "shoeSize" not in response.json()
    [entry] = audit_rows(engine)
    assert entry.resource_id == user_id and entry.action == "scim.ignored_attributes"
    assert "shoeSize" in entry.detail and f"{CUSTOM_EXTENSION}:badge" in entry.detail
    assert "name.givenName" not in entry.detail and "44" not in entry.detail


async def test_strict_tenant_refuses_a_patch_naming_an_unknown_attribute(
    client: httpx.AsyncClient, strict: dict[str, str]
) -> None:
    user_id = await create(client, "kim@testuser.com", headers=strict)
    response = await client.patch(
        f"/Users/{user_id}",
        json=patch({"op": "Replace", "path": "shoeSize", "value": "44"}),
        headers=strict,
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidPath"


# -- PatchOp members RFC 7644 does not define ---------------------------------------------


@pytest.mark.parametrize("tenant", ["lenient", "strict"])
async def test_entra_named_operation_and_top_level_id_are_ignored(
    client: httpx.AsyncClient, strict: dict[str, str], tenant: str
) -> None:
    headers = strict if tenant == "strict" else {}
    alice = await create(client, "alice@testuser.com", headers=headers)
    group = await client.post(
        "/Groups", json={"schemas": [GROUP], "displayName": "G"}, headers=headers
    )
    group_id = group.json()["id"]
    body = patch(
        {
            "name": "addMember",
            "op": "add",
            "path": "members",
            "value": [{"$ref": None, "value": alice}],
        },
        id=group_id,
    )
    added = await client.patch(f"/Groups/{group_id}", json=body, headers=headers)
    assert added.status_code == 200, added.text
    assert [m["value"] for m in added.json()["members"]] == [alice]
    renamed = await client.patch(
        f"/Users/{alice}",
        json=patch(
            {"op": "Replace", "name": "x", "path": "displayName", "value": "Alice"}, id=alice
        ),
        headers=headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["displayName"] == "Alice"


# -- trailing slashes ---------------------------------------------------------------------


async def test_paths_with_a_trailing_slash_are_served_not_redirected(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/Users/", json=entra_user())
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    listed = await client.get("/Users/")
    assert listed.status_code == 200 and listed.json()["totalResults"] == 1
    assert (await client.get(f"/Users/{user_id}/")).json()["id"] == user_id
    group = await client.post("/Groups/", json={"schemas": [GROUP], "displayName": "G"})
    assert group.status_code == 201
    assert (await client.get("/Groups/")).json()["totalResults"] == 1
    deleted = await client.delete(f"/Groups/{group.json()['id']}/")
    assert deleted.status_code == 204


# -- emails -------------------------------------------------------------------------------


async def test_entra_user_whose_email_has_no_at_sign_is_created(client: httpx.AsyncClient) -> None:
    """RFC 7643 §4.1.2 says SHOULD; Entra maps attributes that are not always addresses."""
    body = entra_user(emails=[{"primary": True, "type": "work", "value": "jdoe"}])
    response = await client.post("/Users", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["emails"][0]["value"] == "jdoe"


# -- manager paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["manager", f"{ENTERPRISE}.manager", f"{ENTERPRISE.upper()}.Manager"]
)
async def test_entra_manager_paths_resolve_to_the_enterprise_manager(
    client: httpx.AsyncClient, path: str
) -> None:
    boss = await create(client, "boss@testuser.com")
    user_id = await create(client, "kim@testuser.com")
    response = await client.patch(
        f"/Users/{user_id}", json=patch({"op": "Add", "path": path, "value": boss})
    )
    assert response.status_code == 200, response.text
    assert response.json()[ENTERPRISE]["manager"]["value"] == boss
    cleared = await client.patch(
        f"/Users/{user_id}", json=patch({"op": "Replace", "path": path, "value": ""})
    )
    assert "manager" not in cleared.json().get(ENTERPRISE, {})


async def test_dot_form_reaches_other_enterprise_attributes(client: httpx.AsyncClient) -> None:
    user_id = await create(client, "kim@testuser.com")
    response = await client.patch(
        f"/Users/{user_id}",
        json=patch({"op": "Replace", "path": f"{ENTERPRISE}.department", "value": "Sales"}),
    )
    assert response.status_code == 200, response.text
    assert response.json()[ENTERPRISE]["department"] == "Sales"


# -- null is unassigned -------------------------------------------------------------------


async def test_null_attributes_on_create_are_unassigned(client: httpx.AsyncClient) -> None:
    body = entra_user(displayName=None, title=None, nickName=None, addresses=None)
    body[ENTERPRISE] = {"manager": None, "department": None}
    body["name"] = {"givenName": "g", "familyName": None}
    response = await client.post("/Users", json=body)
    assert response.status_code == 201, response.text
    user = response.json()
    assert "displayName" not in user and "title" not in user and ENTERPRISE not in user
    assert user["name"] == {"givenName": "g"}


async def test_null_on_put_and_patch_unassigns(client: httpx.AsyncClient) -> None:
    boss = await create(client, "boss@testuser.com")
    body = entra_user(displayName="Kim", title="Boss")
    body[ENTERPRISE] = {"manager": {"value": boss}, "department": "Sales"}
    user_id = (await client.post("/Users", json=body)).json()["id"]
    replaced = await client.put(
        f"/Users/{user_id}",
        json={**body, "displayName": None, ENTERPRISE: {"Manager": None, "department": "Sales"}},
    )
    assert replaced.status_code == 200, replaced.text
    assert "displayName" not in replaced.json()
    assert replaced.json()[ENTERPRISE] == {"department": "Sales"}
    patched = await client.patch(
        f"/Users/{user_id}",
        json=patch(
            {"op": "replace", "path": "title", "value": None},
            {"op": "replace", "value": {"name.familyName": None}},
            {"op": "replace", "path": f"{ENTERPRISE}:department", "value": None},
        ),
    )
    assert patched.status_code == 200, patched.text
    user = patched.json()
    assert "title" not in user and "familyName" not in user["name"] and ENTERPRISE not in user


async def test_null_members_unassign_every_member(client: httpx.AsyncClient) -> None:
    alice = await create(client, "alice@testuser.com")
    group = await client.post(
        "/Groups", json={"schemas": [GROUP], "displayName": "G", "members": [{"value": alice}]}
    )
    group_id = group.json()["id"]
    cleared = await client.patch(
        f"/Groups/{group_id}", json=patch({"op": "replace", "path": "members", "value": None})
    )
    assert cleared.status_code == 200, cleared.text
    assert "members" not in cleared.json()
    put = await client.put(
        f"/Groups/{group_id}", json={"schemas": [GROUP], "displayName": "G", "members": None}
    )
    assert put.status_code == 200 and "members" not in put.json()
