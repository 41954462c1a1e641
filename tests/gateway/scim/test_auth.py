"""Bearer tokens decide the tenant and the allowed operations."""

import httpx
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token, revoke_token

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_missing_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == "401"


async def test_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", headers={"Authorization": "Bearer scimgw_nope"})
    assert response.status_code == 401


async def test_revoked_token_is_refused_at_once(client: httpx.AsyncClient, engine: Engine) -> None:
    secret = create_token(engine, "acme", "temp")
    headers = {"Authorization": f"Bearer {secret}"}
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
