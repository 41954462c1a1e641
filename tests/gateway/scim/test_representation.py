"""Projections (RFC 7644 §3.9) project one sample value per multi-valued attribute
through scim2-models and spread the result (gateway/scim/representation.py): the answer
must be exactly scim2-models' projection of the whole resource, at a cost linear in the
values instead of values x names."""

from typing import Any

import httpx
import pytest
from scim2_models import Context, ResponseParameters

from gateway.scim.kinds import GROUP as GROUP_KIND
from gateway.scim.kinds import USER as USER_KIND
from gateway.scim.kinds import Kind

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

USER_NAMES = [
    "userName",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "emails.display",
    "phoneNumbers.value",
    "addresses.locality",
    "addresses",
    "name.givenName",
    "name",
    "groups",
    "groups.display",
    "meta",
    "meta.lastModified",
    f"{ENTERPRISE}:manager",
    f"{ENTERPRISE}:employeeNumber",
    ENTERPRISE,
    f"{CORE}:emails.value",
]
GROUP_NAMES = ["members", "members.value", "members.display", "displayName", "meta"]


def reference(kind: Kind, full: dict[str, Any], attributes: list[str], excluded: list[str]) -> Any:
    """scim2-models' projection of the whole resource, value by value."""
    parameters = ResponseParameters[kind.model](  # type: ignore[name-defined]
        attributes=attributes or None, excluded_attributes=excluded or None
    )
    model = kind.model.model_validate(full, scim_ctx=Context.DEFAULT)
    return model.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=parameters
    )


def rich_user() -> dict[str, Any]:
    return {
        "schemas": [CORE, ENTERPRISE],
        "userName": "ann",
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [
            {"value": "ann@example.com", "type": "work", "primary": True},
            {"value": "a@home.example", "type": "home", "display": "Home"},
            {"value": "lee@example.org"},
        ],
        "phoneNumbers": [{"value": "+33 1", "type": "work"}, {"value": "+33 2"}],
        "addresses": [
            {"locality": "Paris", "country": "FR", "type": "work"},
            {"streetAddress": "1 Main St", "type": "home"},
        ],
        ENTERPRISE: {"employeeNumber": "42", "department": "Sales"},
    }


@pytest.fixture
async def stored(client: httpx.AsyncClient) -> dict[str, str]:
    manager = (await client.post("/Users", json={"schemas": [CORE], "userName": "boss"})).json()
    user = rich_user()
    user[ENTERPRISE]["manager"] = {"value": manager["id"]}
    ann = (await client.post("/Users", json=user)).json()
    members = [{"value": ann["id"], "display": "Ann"}, {"value": manager["id"]}]
    group = {"schemas": [GROUP], "displayName": "Sales", "members": members}
    sales = (await client.post("/Groups", json=group)).json()
    return {"Users": ann["id"], "Groups": sales["id"]}


@pytest.mark.parametrize("parameter", ["attributes", "excludedAttributes"])
async def test_projection_equals_scim2_models_projection_of_every_value(
    client: httpx.AsyncClient, stored: dict[str, str], parameter: str
) -> None:
    for endpoint, kind, names in (
        ("Users", USER_KIND, USER_NAMES),
        ("Groups", GROUP_KIND, GROUP_NAMES),
    ):
        url = f"/{endpoint}/{stored[endpoint]}"
        full = (await client.get(url)).json()
        for name in names:
            projected = await client.get(url, params={parameter: name})
            assert projected.status_code == 200, projected.text
            included, excluded = ([name], []) if parameter == "attributes" else ([], [name])
            assert projected.json() == reference(kind, full, included, excluded), name
        pair = names[1:3]
        both = await client.get(url, params={parameter: ",".join(pair)})
        included, excluded = (pair, []) if parameter == "attributes" else ([], pair)
        assert both.json() == reference(kind, full, included, excluded)
