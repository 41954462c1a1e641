"""Bearer tokens decide the tenant and the allowed operations."""

import httpx
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.auth.authenticator import Authenticator
from gateway.auth.tokens import create_token, revoke_token
from gateway.config.file import parse_config
from gateway.settings import Settings

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_missing_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == "401"


async def test_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", headers={"Authorization": "Bearer scimgw_nope"})
    assert response.status_code == 401


async def test_revoked_token_is_refused_once_the_cache_expires(engine: Engine, token: str) -> None:
    """A token validated less than token_cache_seconds ago is trusted without a lookup;
    a revocation made elsewhere (the CLI) takes effect when that time has passed."""
    now = [1000.0]
    config = parse_config({"server": {"token_cache_seconds": 5}, "tenants": {"acme": {}}})
    app = create_app(Settings(), engine, config)
    app.runtime.authenticator = Authenticator(
        engine, config, httpx.AsyncClient(), clock=lambda: now[0]
    )
    secret = create_token(engine, "acme", "temp")
    headers = {"Authorization": f"Bearer {secret}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/scim/v2") as client:
        assert (await client.get("/Users", headers=headers)).status_code == 200
        assert revoke_token(engine, "acme", "temp")
        now[0] += 4
        assert (await client.get("/Users", headers=headers)).status_code == 200
        now[0] += 2
        assert (await client.get("/Users", headers=headers)).status_code == 401


async def test_without_cache_revocation_is_immediate(engine: Engine) -> None:
    config = parse_config({"server": {"token_cache_seconds": 0}, "tenants": {"acme": {}}})
    app = create_app(Settings(), engine, config)
    secret = create_token(engine, "acme", "temp")
    headers = {"Authorization": f"Bearer {secret}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/scim/v2") as client:
        assert (await client.get("/Users", headers=headers)).status_code == 200
        assert revoke_token(engine, "acme", "temp")
        assert (await client.get("/Users", headers=headers)).status_code == 401


async def test_read_only_token_cannot_write(client: httpx.AsyncClient, engine: Engine) -> None:
    secret = create_token(engine, "acme", "auditor", ("scim:read",))
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/Users", headers=headers)).status_code == 200
    response = await client.post(
        "/Users", json={"schemas": [CORE], "userName": "x"}, headers=headers
    )
    assert response.status_code == 403


async def test_only_a_hash_of_the_token_is_stored(engine: Engine) -> None:
    secret = create_token(engine, "acme", "hashed")
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT token_hash, hint FROM api_token").all()
    assert all(secret not in row.token_hash for row in stored)
    assert all(len(row.hint) < 16 for row in stored)
