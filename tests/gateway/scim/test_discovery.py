"""Discovery documents come from the real models and the configured limits."""

import httpx
import pytest

from gateway.config.file import GatewayConfig, parse_config


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(
        {"server": {"bulk_max_operations": 42, "max_results": 250}, "tenants": {"acme": {}}}
    )


async def test_service_provider_config_advertises_what_is_enforced(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get("/ServiceProviderConfig")).json()
    assert body["patch"]["supported"] and body["etag"]["supported"] and body["sort"]["supported"]
    assert body["bulk"] == {"supported": True, "maxOperations": 42, "maxPayloadSize": 1048576}
    assert body["filter"] == {"supported": True, "maxResults": 250}
    assert body["pagination"]["cursor"] is True
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


async def test_resource_types_and_schemas_list_the_extensions(client: httpx.AsyncClient) -> None:
    types = (await client.get("/ResourceTypes")).json()["Resources"]
    user = next(t for t in types if t["id"] == "User")
    assert {e["schema"] for e in user["schemaExtensions"]} == {
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:scimgw:params:scim:schemas:extension:hr:2.0:User",
    }
    hr = (await client.get("/Schemas/urn:scimgw:params:scim:schemas:extension:hr:2.0:User")).json()
    dob = next(a for a in hr["attributes"] if a["name"] == "dateOfBirth")
    assert dob["returned"] == "never" and dob["mutability"] == "writeOnly"
    assert hr["meta"]["location"].endswith(
        "/Schemas/urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
    )


async def test_unknown_schema_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/Schemas/urn:nope")).status_code == 404


async def test_discovery_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/ServiceProviderConfig", headers={"Authorization": ""})
    assert response.status_code == 401
