"""meta.location and Location follow the host each request names, or the public URL."""

import httpx
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.config import GatewayConfig
from gateway.settings import Settings

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def _location(app: object, base: str, token: str, name: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=base, headers=headers) as http:
        body = {"schemas": [CORE], "userName": f"{name}@example.com"}
        response = await http.post("/Users", json=body)
    assert response.headers["location"] == response.json()["meta"]["location"]
    return str(response.headers["location"])


async def test_each_request_gets_the_base_url_of_the_host_it_named(
    engine: Engine, config: GatewayConfig, token: str
) -> None:
    """The base URL is kept per Host header: one host must never leak into another's."""
    app = create_app(Settings(), engine, config)
    first = await _location(app, "http://one.example/scim/v2", token, "a")
    second = await _location(app, "https://two.example:8443/scim/v2", token, "b")
    third = await _location(app, "http://one.example/scim/v2", token, "c")
    assert first.startswith("http://one.example/scim/v2/Users/")
    assert second.startswith("https://two.example:8443/scim/v2/Users/")
    assert third.startswith("http://one.example/scim/v2/Users/")


async def test_the_public_url_wins_over_the_request(
    engine: Engine, config: GatewayConfig, token: str
) -> None:
    app = create_app(Settings(public_url="https://scim.example.com"), engine, config)
    location = await _location(app, "http://internal:8080/scim/v2", token, "d")
    assert location.startswith("https://scim.example.com/scim/v2/Users/")
