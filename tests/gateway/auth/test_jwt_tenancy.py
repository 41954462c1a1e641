"""OAuth2 JWT access tokens through the app: the issuer decides the tenant."""

import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.config.file import parse_config
from gateway.settings import Settings

ISSUER = "https://login.example.com/acme/v2.0"
JWKS_URL = "https://login.example.com/acme/keys"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})


def _token(**claims: object) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": "api://scimgw",
        "sub": "entra-app",
        "iat": now,
        "exp": now + 600,
    }
    payload.update(claims)
    return jwt.encode({"alg": "RS256", "kid": "k1"}, payload, KEY)


@pytest.fixture
async def jwt_client(engine: Engine):  # type: ignore[no-untyped-def]
    jwks = {"keys": [KEY.as_dict(private=False)]}
    keys = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=jwks))
    )
    config = parse_config(
        {
            "tenants": {
                "acme": {
                    "jwt": {"issuer": ISSUER, "audience": "api://scimgw", "jwks_url": JWKS_URL}
                },
                "globex": {},
            }
        }
    )
    app = create_app(Settings(), engine, config, http=keys)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver/scim/v2"
    ) as client:
        yield client
    await keys.aclose()


async def test_valid_jwt_writes_into_the_issuers_tenant(
    jwt_client: httpx.AsyncClient, engine: Engine
) -> None:
    headers = {"Authorization": f"Bearer {_token()}"}
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "jwt@acme.com"}
    assert (await jwt_client.post("/Users", json=body, headers=headers)).status_code == 201
    with engine.connect() as connection:
        tenants = connection.exec_driver_sql("SELECT tenant_id FROM scim_user").scalars().all()
    assert tenants == ["acme"]


async def test_expired_or_foreign_jwt_is_401(jwt_client: httpx.AsyncClient) -> None:
    expired = _token(exp=int(time.time()) - 3600)
    assert (
        await jwt_client.get("/Users", headers={"Authorization": f"Bearer {expired}"})
    ).status_code == 401
    foreign = _token(iss="https://evil.example.com")
    assert (
        await jwt_client.get("/Users", headers={"Authorization": f"Bearer {foreign}"})
    ).status_code == 401
    wrong_audience = _token(aud="api://other")
    response = await jwt_client.get("/Users", headers={"Authorization": f"Bearer {wrong_audience}"})
    assert response.status_code == 401
