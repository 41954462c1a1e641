"""/Me (RFC 7644 §3.11) is the User the token is linked to."""

import httpx
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_me_is_the_linked_user(client: httpx.AsyncClient, engine: Engine) -> None:
    user = (await client.post("/Users", json={"schemas": [CORE], "userName": "me@acme.com"})).json()
    secret = create_token(engine, "acme", "self-service", ("scim:read", "scim:write"), user["id"])
    headers = {"Authorization": f"Bearer {secret}"}
    me = await client.get("/Me", headers=headers)
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "nickName", "value": "Me"}],
    }
    assert (await client.patch("/Me", json=patch, headers=headers)).json()["nickName"] == "Me"


async def test_me_without_a_linked_user_is_404_explained(client: httpx.AsyncClient) -> None:
    response = await client.get("/Me")
    assert response.status_code == 404
    assert "linked" in response.json()["detail"]
