"""Request bounds (gateway/scim/limits.py): configurable, enforced on every write and
projection, refused with 400 ``invalidValue`` naming the limit, on both engines."""

from typing import Any

import httpx
import pytest

from gateway.config.file import GatewayConfig, parse_config
from gateway.errors import InvalidValueException
from gateway.scim.limits import DEFAULTS, check_patch, child, patch_path

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@pytest.fixture
def config() -> GatewayConfig:
    server = {
        "max_values": 3,
        "max_attribute_names": 2,
        "max_string_length": 300,
        "bulk_max_depth": 2,
    }
    return parse_config({"server": server, "tenants": {"acme": {}, "globex": {}}})


def user(name: str, **attributes: Any) -> dict[str, Any]:
    return {"schemas": [CORE], "userName": name, **attributes}


def emails(count: int) -> list[dict[str, str]]:
    return [{"value": f"e{i}@example.com", "type": "other"} for i in range(count)]


def assert_refused(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert response.json()["detail"] == detail


async def test_more_values_than_max_values_is_refused_naming_the_limit(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/Users", json=user("a", emails=emails(4)))
    limit = "emails: 4 values, over the limit of 3 per multi-valued attribute (server.max_values)"
    assert_refused(refused, limit)
    assert (await client.post("/Users", json=user("a", emails=emails(3)))).status_code == 201


async def test_patch_adding_more_values_than_the_limit_is_refused(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/Users", json=user("a"))).json()
    operation = {"op": "add", "path": "emails", "value": emails(4)}
    body = {"schemas": [PATCH], "Operations": [operation]}
    refused = await client.patch(f"/Users/{created['id']}", json=body)
    assert refused.status_code == 400 and "server.max_values" in refused.json()["detail"]
    current = (await client.get(f"/Users/{created['id']}")).json()
    assert "emails" not in current and current["meta"]["version"] == created["meta"]["version"]


async def test_patches_cannot_grow_a_resource_past_max_values(client: httpx.AsyncClient) -> None:
    """Each PATCH adds two emails: the second would make four, over the limit of three."""
    created = (await client.post("/Users", json=user("a"))).json()
    url = f"/Users/{created['id']}"
    first = [{"op": "add", "path": "emails", "value": emails(2)}]
    added = await client.patch(url, json={"schemas": [PATCH], "Operations": first})
    assert added.status_code == 200, added.text
    more = [{"value": f"more{i}@example.com", "type": "home"} for i in range(2)]
    second = [{"op": "add", "path": "emails", "value": more}]
    refused = await client.patch(url, json={"schemas": [PATCH], "Operations": second})
    assert refused.status_code == 400 and "server.max_values" in refused.json()["detail"]
    current = (await client.get(url)).json()
    assert len(current["emails"]) == 2 and current["meta"] == added.json()["meta"]


async def test_group_members_are_bounded_by_the_body_size_not_by_max_values(
    client: httpx.AsyncClient,
) -> None:
    ids = [(await client.post("/Users", json=user(f"u{i}"))).json()["id"] for i in range(4)]
    group = {"schemas": [GROUP], "displayName": "Sales", "members": [{"value": i} for i in ids]}
    created = await client.post("/Groups", json=group)
    assert created.status_code == 201, created.text
    assert len(created.json()["members"]) == 4


async def test_more_attribute_names_than_the_limit_is_refused_on_every_read(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/Users", json=user("a"))).json()
    limit = "attributes: 3 names, over the limit of 2 (server.max_attribute_names)"
    names = "userName,title,nickName"
    assert_refused(await client.get(f"/Users/{created['id']}?attributes={names}"), limit)
    assert_refused(await client.get(f"/Users?attributes={names}"), limit)
    search = {"schemas": [SEARCH], "excludedAttributes": ["title", "nickName", "locale"]}
    excluded = "excludedAttributes: 3 names, over the limit of 2 (server.max_attribute_names)"
    assert_refused(await client.post("/Users/.search", json=search), excluded)
    within = await client.get(f"/Users/{created['id']}?attributes=userName,title")
    assert within.status_code == 200 and within.json()["userName"] == "a"


async def test_a_write_whose_projection_is_refused_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/Users?attributes=userName,title,nickName", json=user("a"))
    assert refused.status_code == 400
    found = (await client.get('/Users?filter=userName eq "a"')).json()
    assert found["totalResults"] == 0


async def test_string_longer_than_max_string_length_is_refused(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/Users", json=user("a", title="t" * 301))
    assert_refused(
        refused, "title: 301 characters, over the limit of 300 (server.max_string_length)"
    )
    assert (await client.post("/Users", json=user("a", title="t" * 300))).status_code == 201


async def test_body_nested_deeper_than_a_resource_can_be_is_refused_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    nested: Any = "x"
    for _ in range(600):
        nested = {"a": nested}
    refused = await client.post("/Users", json=user("a", title=nested))
    assert refused.status_code == 400
    assert "nested deeper than" in refused.json()["detail"]


async def test_nul_in_an_attribute_name_is_refused_naming_where(
    client: httpx.AsyncClient,
) -> None:
    top = await client.post("/Users", json=user("a", **{"ti\x00tle": "x"}))
    assert_refused(top, "an attribute name holds a NUL character or is too long")
    nested = await client.post("/Users", json={**user("a"), "name": {"given\x00Name": "x"}})
    assert_refused(nested, "name: an attribute name holds a NUL character or is too long")


async def test_nul_in_a_patch_path_filter_is_refused(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user("a"))).json()
    path = 'emails[value eq "a\x00"].value'
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": path, "value": "b"}]}
    refused = await client.patch(f"/Users/{created['id']}", json=body)
    assert refused.status_code == 400 and "NUL" in refused.json()["detail"]


def _bulk(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [BULK], "Operations": list(operations)}


def _create(bulk_id: str, name: str, manager: str | None = None, **extra: Any) -> dict[str, Any]:
    data = user(name, **extra)
    if manager:
        data["schemas"] = [CORE, ENTERPRISE]
        data[ENTERPRISE] = {"manager": {"value": f"bulkId:{manager}"}}
    return {"method": "POST", "bulkId": bulk_id, "path": "/Users", "data": data}


async def test_bulk_operation_over_a_limit_fails_alone(client: httpx.AsyncClient) -> None:
    body = _bulk(_create("a", "a", emails=emails(4)), _create("b", "b"))
    results = (await client.post("/Bulk", json=body)).json()["Operations"]
    assert [r["status"] for r in results] == ["400", "201"]
    assert results[0]["response"]["scimType"] == "invalidValue"
    assert "server.max_values" in results[0]["response"]["detail"]


async def test_bulk_reference_chain_deeper_than_bulk_max_depth_is_refused_whole(
    client: httpx.AsyncClient,
) -> None:
    chain = _bulk(_create("a", "a"), _create("b", "b", "a"), _create("c", "c", "b"))
    refused = await client.post("/Bulk", json=chain)
    limit = "bulkId references chain 3 operations deep, over the limit of 2 (server.bulk_max_depth)"
    assert_refused(refused, limit)
    assert (await client.get("/Users")).json()["totalResults"] == 0
    within = await client.post("/Bulk", json=_bulk(_create("a", "a"), _create("b", "b", "a")))
    assert [r["status"] for r in within.json()["Operations"]] == ["201", "201"]


# -- the walk's attribute paths, on their own -------------------------------------------


def test_patch_path_drops_filters_and_schema_urns() -> None:
    assert patch_path('emails[type eq "work"].value') == "emails.value"
    assert patch_path(f"{ENTERPRISE}:employeeNumber") == "employeeNumber"
    assert patch_path('members[value eq "a:b"]') == "members"
    assert patch_path(None) == ""


def test_schema_urn_keys_hold_top_level_attributes() -> None:
    assert child("", ENTERPRISE) == ""
    assert child("", f"{ENTERPRISE}:employeeNumber") == "employeeNumber"
    assert child("name", "givenName") == "name.givenName"


def test_patch_value_is_bounded_as_the_attribute_its_path_names() -> None:
    """An Entra path-less replace with a URN-qualified key, and a value filter path, are
    held to the indexed column's width (RFC 7644 §3.5.2.3)."""
    wide = "9" * 101
    pathless = {"op": "replace", "value": {f"{ENTERPRISE}:employeeNumber": wide}}
    with pytest.raises(InvalidValueException, match="employeeNumber: 101 characters"):
        check_patch({"schemas": [PATCH], "Operations": [pathless]}, DEFAULTS)
    filtered = {"op": "replace", "path": 'emails[type eq "work"].value', "value": "a" * 301}
    with pytest.raises(InvalidValueException, match="emails.value: 301 characters"):
        check_patch({"schemas": [PATCH], "Operations": [filtered]}, DEFAULTS)
