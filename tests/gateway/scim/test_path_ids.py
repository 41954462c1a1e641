"""An id in the path that no resource can have is 404 on both engines, for every method."""

import httpx
import pytest

PATCH = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}


@pytest.mark.parametrize("resource", ["Users", "Groups"])
@pytest.mark.parametrize("resource_id", ["%00", "a%00b", "x" * 37, "%F0%9F%98%80" * 10])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_an_impossible_id_is_not_found_whatever_the_method_and_engine(
    client: httpx.AsyncClient, resource: str, resource_id: str, method: str
) -> None:
    body = PATCH if method == "PATCH" else {"userName": "x", "displayName": "x"}
    response = await client.request(
        method, f"/{resource}/{resource_id}", json=None if method in ("GET", "DELETE") else body
    )
    assert response.status_code in (400, 404), response.text
    if method in ("GET", "DELETE"):
        assert response.status_code == 404
        assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
