"""A token of tenant A never sees tenant B: 404 for ids, absent from every list."""

import httpx
import pytest
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def globex(engine: Engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(engine, 'globex', 'entra')}"}


async def _acme_user(client: httpx.AsyncClient) -> str:
    body = {"schemas": [CORE], "userName": "secret@acme.com", "externalId": "acme-1"}
    return str((await client.post("/Users", json=body)).json()["id"])


async def test_other_tenant_gets_404_for_every_verb(
    client: httpx.AsyncClient, globex: dict[str, str]
) -> None:
    user_id = await _acme_user(client)
    body = {"schemas": [CORE], "userName": "stolen"}
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert (await client.get(f"/Users/{user_id}", headers=globex)).status_code == 404
    assert (await client.put(f"/Users/{user_id}", json=body, headers=globex)).status_code == 404
    assert (await client.patch(f"/Users/{user_id}", json=patch, headers=globex)).status_code == 404
    assert (await client.delete(f"/Users/{user_id}", headers=globex)).status_code == 404
    assert (await client.get(f"/Users/{user_id}")).json().get("active") is not False


async def test_other_tenant_never_sees_them_in_lists_filters_or_search(
    client: httpx.AsyncClient, globex: dict[str, str]
) -> None:
    await _acme_user(client)
    listing = (await client.get("/Users", headers=globex)).json()
    assert listing["totalResults"] == 0 and listing["Resources"] == []
    # The same query string from both tenants: parsed queries are kept, results are not.
    secret = {"filter": 'userName eq "secret@acme.com"'}
    assert (await client.get("/Users", params=secret)).json()["totalResults"] == 1
    filtered = await client.get("/Users", params=secret, headers=globex)
    assert filtered.json()["totalResults"] == 0
    search = {"schemas": [SEARCH], "filter": 'externalId eq "acme-1"'}
    for path in ("/Users/.search", "/.search"):
        response = await client.post(path, json=search, headers=globex)
        assert response.status_code == 200 and response.json()["totalResults"] == 0
    mine = await client.post("/.search", json=search)
    assert mine.json()["totalResults"] == 1


async def test_same_user_name_may_exist_in_two_tenants(
    client: httpx.AsyncClient, globex: dict[str, str]
) -> None:
    await _acme_user(client)
    body = {"schemas": [CORE], "userName": "secret@acme.com"}
    assert (await client.post("/Users", json=body, headers=globex)).status_code == 201


async def test_other_tenant_cannot_add_foreign_member(
    client: httpx.AsyncClient, globex: dict[str, str]
) -> None:
    user_id = await _acme_user(client)
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "G",
        "members": [{"value": user_id}],
    }
    response = await client.post("/Groups", json=body, headers=globex)
    assert response.status_code == 400
