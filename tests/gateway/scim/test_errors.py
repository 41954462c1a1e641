"""Bad requests get SCIM errors with the right status and scimType, never a 500."""

import httpx

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_invalid_json_is_invalid_syntax(client: httpx.AsyncClient) -> None:
    response = await client.post("/Users", content=b'{"userName": ')
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"


async def test_json_array_body_is_invalid_syntax(client: httpx.AsyncClient) -> None:
    response = await client.post("/Users", content=b"[]")
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Users",
        content=b"userName=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json()["status"] == "415"


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"userName": "' + b"x" * 2_000_000 + b'"}'
    response = await client.post("/Users", content=body)
    assert response.status_code == 413


async def test_unknown_endpoint_is_scim_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/Widgets")
    assert response.status_code == 404
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


async def test_wrong_method_is_scim_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/Users")
    assert response.status_code == 405
    assert response.json()["status"] == "405"


async def test_bad_count_is_invalid_value(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", params={"count": "many"})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
