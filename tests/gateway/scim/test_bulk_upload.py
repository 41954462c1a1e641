"""POST /scim/v2/bulkUpload: the request Entra's bulkUpload takes, on SQLite and PostgreSQL.

Microsoft's contract (target-apis.md §7 [V], learn.microsoft.com/graph/api/
synchronization-synchronizationjob-post-bulkupload): a BulkRequest of at most 50 POSTs of
users keyed by externalId, Content-Type application/scim+json, 202 with a Location.
"""

import copy
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token
from gateway.config.file import GatewayConfig, parse_config

SCIM = "application/scim+json"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"

#: Microsoft's documented example body, verbatim (target-apis.md §7).
MICROSOFT_EXAMPLE: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
    "Operations": [
        {
            "method": "POST",
            "bulkId": "701984",
            "path": "/Users",
            "data": {
                "schemas": [
                    "urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    "urn:contoso:employee",
                ],
                "externalId": "701984",
                "userName": "bjensen@example.com",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
                "active": True,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "employeeNumber": "701984",
                    "department": "Tour Operations",
                    "manager": {"value": "89607"},
                },
                "urn:contoso:employee": {
                    "HireDate": "2021-05-01T00:00:00-05:00",
                    "JobCode": "AB-1002",
                },
            },
        }
    ],
    "failOnErrors": None,
}


@pytest.fixture
def config() -> GatewayConfig:
    acme = {
        "custom_fields": {"JobCode": "string"},
        "bulk_upload": {"attributes": {"urn:contoso:employee:HireDate": f"{HR}:hireDate"}},
        "connections": {"lms": {"type": "talentlms"}},
    }
    return parse_config({"tenants": {"acme": acme, "globex": {}}})


def person(external_id: str, user_name: str | None = None, **extra: Any) -> dict[str, Any]:
    """One bulkUpload operation for a person."""
    data = {
        "schemas": [CORE, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name or f"p{external_id}@example.com",
        **extra,
    }
    return {"method": "POST", "bulkId": external_id, "path": "/Users", "data": data}


def managed_by(manager: str) -> dict[str, Any]:
    return {ENTERPRISE: {"manager": {"value": manager}}}


async def push(client: httpx.AsyncClient, *operations: dict[str, Any]) -> httpx.Response:
    body = {"schemas": [BULK_REQUEST], "Operations": list(operations), "failOnErrors": None}
    return await client.post("/bulkUpload", json=body)


async def outcome(client: httpx.AsyncClient, *operations: dict[str, Any]) -> dict[str, Any]:
    """Push, then read the result at the Location the 202 gave."""
    response = await push(client, *operations)
    assert response.status_code == 202, response.text
    result = await client.get(response.headers["Location"])
    assert result.status_code == 200, result.text
    document: dict[str, Any] = result.json()
    return document


async def user_by_external_id(client: httpx.AsyncClient, external_id: str) -> dict[str, Any]:
    found = await client.get("/Users", params={"filter": f'externalId eq "{external_id}"'})
    assert found.json()["totalResults"] == 1, found.text
    user: dict[str, Any] = found.json()["Resources"][0]
    return user


async def test_microsoft_documented_example_is_accepted_verbatim(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/bulkUpload", json=MICROSOFT_EXAMPLE)
    assert response.status_code == 202, response.text
    assert response.headers["Location"].startswith("http://testserver/scim/v2/bulkUpload/")
    result = (await client.get(response.headers["Location"])).json()
    [entry] = result["Operations"]
    assert entry["bulkId"] == "701984" and entry["externalId"] == "701984"
    assert entry["status"] == "created"
    assert entry["unresolvedManager"] == "89607"  # no user has that externalId yet
    assert result["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "failed": 0}
    user = await user_by_external_id(client, "701984")
    assert user["id"] == entry["id"] and user["userName"] == "bjensen@example.com"
    assert user[ENTERPRISE] == {"employeeNumber": "701984", "department": "Tour Operations"}
    # HireDate mapped by the tenant's bulk_upload.attributes; JobCode is a declared
    # custom field of the tenant, so it lands in customFields without a mapping.
    assert user[HR]["hireDate"] == "2021-05-01"
    assert user[HR]["customFields"] == {"JobCode": "AB-1002"}
