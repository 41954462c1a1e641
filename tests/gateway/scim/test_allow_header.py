"""A 405 names the methods the endpoint takes (RFC 9110 §15.5.6), all of them."""

import httpx
import pytest


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/Users", "GET, HEAD, POST"),
        ("OPTIONS", "/Users/some-id", "DELETE, GET, HEAD, PATCH, PUT"),
        # /Users/.search also matches /Users/{id}; the literal endpoint is meant.
        ("OPTIONS", "/Users/.search", "POST"),
        ("POST", "/ServiceProviderConfig", "GET, HEAD"),
    ],
)
async def test_method_not_allowed_lists_every_method_of_the_endpoint(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json()["status"] == "405"
