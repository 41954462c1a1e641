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


# -- upsert by externalId ---------------------------------------------------------------


async def test_a_second_push_of_an_external_id_updates_that_user_and_keeps_what_it_omits(
    client: httpx.AsyncClient,
) -> None:
    email = [{"value": "ada@example.com", "type": "work", "primary": True}]
    first = await outcome(client, person("1", "ada@example.com", title="Engineer", emails=email))
    created = first["Operations"][0]
    later = person("1", "ada@example.com", title="Lead Engineer", name={"givenName": "Ada"})
    second = (await outcome(client, later))["Operations"][0]
    assert second["status"] == "updated" and second["id"] == created["id"]
    user = await user_by_external_id(client, "1")
    assert user["title"] == "Lead Engineer" and user["name"]["givenName"] == "Ada"
    assert user["emails"][0]["value"] == "ada@example.com"  # absent from the push: kept
    again = (await outcome(client, later))["Operations"][0]
    assert again["status"] == "unchanged"
    assert user["meta"]["version"] == (await user_by_external_id(client, "1"))["meta"]["version"]


async def test_active_false_disables_the_user_and_a_null_clears_an_attribute(
    client: httpx.AsyncClient,
) -> None:
    await outcome(client, person("7", title="Clerk"))
    # Entra sends booleans as strings at times; scimgw's dialect reads them.
    result = await outcome(client, person("7", active="False", title=None))
    assert result["Operations"][0]["status"] == "updated"
    user = await user_by_external_id(client, "7")
    assert user["active"] is False and "title" not in user


async def test_attribute_names_are_read_in_any_case_as_entra_sends_them(
    client: httpx.AsyncClient,
) -> None:
    operation = {
        "Method": "post",
        "BulkId": "x",
        "Path": "/users",
        "Data": {"ExternalID": "42", "UserName": "case@example.com", "Active": "True"},
    }
    body = {"Schemas": [BULK_REQUEST], "operations": [operation]}
    response = await client.post("/bulkUpload", json=body)
    assert response.status_code == 202, response.text
    assert (await user_by_external_id(client, "42"))["userName"] == "case@example.com"


# -- managers by externalId ---------------------------------------------------------------


async def test_a_manager_later_in_the_same_request_is_named_by_its_scimgw_id(
    client: httpx.AsyncClient,
) -> None:
    result = await outcome(client, person("20", **managed_by("10")), person("10"))
    report, manager = result["Operations"]
    assert [report["status"], manager["status"]] == ["created", "created"]
    assert "unresolvedManager" not in report
    user = await user_by_external_id(client, "20")
    assert user[ENTERPRISE]["manager"]["value"] == manager["id"]


async def test_a_manager_pushed_in_an_earlier_request_is_named_by_its_scimgw_id(
    client: httpx.AsyncClient,
) -> None:
    manager = (await outcome(client, person("10")))["Operations"][0]
    await outcome(client, person("20", **managed_by("10")))
    user = await user_by_external_id(client, "20")
    assert user[ENTERPRISE]["manager"]["value"] == manager["id"]


async def test_a_manager_pushed_in_a_later_request_is_named_as_soon_as_it_arrives(
    client: httpx.AsyncClient,
) -> None:
    """An HR export split into requests of 50 puts many managers after their reports."""
    first = await outcome(
        client, person("20", **managed_by("99")), person("21", **managed_by("99"))
    )
    assert [e["unresolvedManager"] for e in first["Operations"]] == ["99", "99"]
    assert "manager" not in (await user_by_external_id(client, "20")).get(ENTERPRISE, {})
    manager = (await outcome(client, person("99")))["Operations"][0]
    assert manager["status"] == "created" and manager["reportsNamed"] == 2
    for report in ("20", "21"):
        user = await user_by_external_id(client, report)
        assert user[ENTERPRISE]["manager"]["value"] == manager["id"]
    # named once: pushing the manager again names nobody
    again = (await outcome(client, person("99")))["Operations"][0]
    assert again["status"] == "unchanged" and "reportsNamed" not in again


async def test_a_report_pushed_again_with_another_manager_stops_waiting_for_the_first(
    client: httpx.AsyncClient,
) -> None:
    await outcome(client, person("20", **managed_by("99")))
    boss = (await outcome(client, person("50")))["Operations"][0]
    await outcome(client, person("20", **managed_by("50")))
    assert (await outcome(client, person("99")))["Operations"][0].get("reportsNamed") is None
    user = await user_by_external_id(client, "20")
    assert user[ENTERPRISE]["manager"]["value"] == boss["id"]


async def test_a_waiting_report_deleted_meanwhile_is_forgotten(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    report = (await outcome(client, person("20", **managed_by("99"))))["Operations"][0]
    assert (await client.delete(f"/Users/{report['id']}")).status_code == 204
    manager = (await outcome(client, person("99")))["Operations"][0]
    assert manager["status"] == "created" and "reportsNamed" not in manager
    with engine.connect() as connection:
        waiting = connection.execute(
            sa.text("SELECT count(*) FROM bulk_upload_pending_manager")
        ).scalar()
    assert waiting == 0


async def test_a_null_manager_clears_it(client: httpx.AsyncClient) -> None:
    await outcome(client, person("10"), person("20", **managed_by("10")))
    result = await outcome(client, person("20", **{ENTERPRISE: {"manager": None}}))
    assert result["Operations"][0]["status"] == "updated"
    assert "manager" not in (await user_by_external_id(client, "20")).get(ENTERPRISE, {})


async def test_a_manager_whose_operation_fails_leaves_the_report_waiting_for_it(
    client: httpx.AsyncClient,
) -> None:
    result = await outcome(client, person("20", **managed_by("10")), person("10", emails="bad"))
    report, manager = result["Operations"]
    assert manager["status"] == "failed"
    assert report["status"] == "created" and report["unresolvedManager"] == "10"
    fixed = (await outcome(client, person("10")))["Operations"][0]
    assert fixed["reportsNamed"] == 1
    user = await user_by_external_id(client, "20")
    assert user[ENTERPRISE]["manager"]["value"] == fixed["id"]


# -- custom schema attributes -------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        parse_config(
            {
                "tenants": {
                    "acme": {
                        "bulk_upload": {
                            "attributes": {
                                "urn:contoso:employee:HireDate": f"{HR}:hireDate",
                                "urn:contoso:employee:Site": f"{HR}:location",
                                "urn:contoso:employee:JobTitle": "title",
                            }
                        }
                    }
                }
            }
        )
    ],
)
async def test_custom_schema_attributes_go_where_the_tenant_maps_them_and_others_are_listed(
    client: httpx.AsyncClient,
) -> None:
    custom = {
        "hiredate": "2024-02-01",  # any case, as SCIM names are case-insensitive
        "Site": "Lyon",
        "JobTitle": "Chef",
        "Badge": "B-12",
    }
    operation = person("5", **{"urn:contoso:employee": custom})
    operation["data"]["schemas"].append("urn:contoso:employee")
    entry = (await outcome(client, operation))["Operations"][0]
    assert entry["status"] == "created"
    assert entry["ignoredAttributes"] == ["urn:contoso:employee:Badge"]
    user = await user_by_external_id(client, "5")
    assert user[HR] == {"hireDate": "2024-02-01", "location": "Lyon"}
    assert user["title"] == "Chef"
    assert "urn:contoso:employee" not in user["schemas"]


@pytest.mark.parametrize(
    "config",
    [
        parse_config(
            {"tenants": {"acme": {"bulk_upload": {"attributes": {"urn:c:e:Code": "codeName"}}}}}
        )
    ],
)
async def test_a_map_naming_no_attribute_fails_the_operations_that_use_it(
    client: httpx.AsyncClient,
) -> None:
    result = await outcome(client, person("1", **{"urn:c:e": {"Code": "x"}}), person("2"))
    failed, created = result["Operations"]
    assert [failed["status"], created["status"]] == ["failed", "created"]
    assert "maps to codeName, which is no attribute" in failed["error"]["detail"]


@pytest.mark.parametrize("config", [parse_config({"tenants": {"acme": {"strict_input": True}}})])
async def test_a_strict_tenant_fails_an_operation_whose_custom_attribute_nothing_takes(
    client: httpx.AsyncClient,
) -> None:
    result = await outcome(client, person("1", **{"urn:c:e": {"Badge": "B"}}), person("2"))
    failed, created = result["Operations"]
    assert [failed["status"], created["status"]] == ["failed", "created"]
    assert failed["error"]["detail"].startswith("urn:c:e:Badge: no bulk_upload.attributes")


# -- refusals -------------------------------------------------------------------------------


async def _user_count(client: httpx.AsyncClient) -> int:
    return int((await client.get("/Users")).json()["totalResults"])


async def test_fifty_one_operations_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    response = await push(client, *(person(str(n)) for n in range(51)))
    assert response.status_code == 413
    assert "at most 50" in response.json()["detail"]
    assert await _user_count(client) == 0
    assert (await push(client, *(person(str(n)) for n in range(50)))).status_code == 202


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"method": "PATCH"}, "method is 'PATCH'"),
        ({"method": "PUT"}, "method is 'PUT'"),
        ({"path": "/Groups"}, "path is '/Groups'"),
        ({"path": "/Users/1"}, "path is '/Users/1'"),
    ],
)
async def test_an_operation_that_is_not_a_post_to_users_refuses_the_request_naming_it(
    client: httpx.AsyncClient, change: dict[str, Any], named: str
) -> None:
    response = await push(client, person("1"), {**person("2"), **change})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"Operations[1] (bulkId 2): {named}")
    assert await _user_count(client) == 0


async def test_an_operation_without_external_id_refuses_the_request(
    client: httpx.AsyncClient,
) -> None:
    operation = person("1")
    del operation["data"]["externalId"]
    response = await push(client, operation)
    assert response.status_code == 400 and "externalId" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []},
        {"schemas": [BULK_REQUEST], "Operations": []},
        {"schemas": [BULK_REQUEST]},
        {"schemas": [BULK_REQUEST], "Operations": [person("1")], "failOnErrors": "1"},
        {"schemas": [BULK_REQUEST], "Operations": [{**person("1"), "bulkId": "b" * 301}]},
        {"schemas": [BULK_REQUEST], "Operations": [{**person("1"), "bulkId": 7}]},
        {"schemas": [BULK_REQUEST], "Operations": [{**person("1"), "data": "a user"}]},
        {"schemas": [BULK_REQUEST], "Operations": ["POST /Users"]},
    ],
)
async def test_a_body_that_is_not_a_bulk_request_of_operations_is_refused(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/bulkUpload", json=body)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
async def test_a_body_not_declared_scim_json_is_refused_as_graph_refuses_it(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    body = httpx.Request("POST", "http://x", json=MICROSOFT_EXAMPLE).content
    headers = {"Content-Type": content_type} if content_type else {}
    request = client.build_request("POST", "/bulkUpload", content=body, headers=headers)
    if content_type is None:
        del request.headers["Content-Type"]
    response = await client.send(request)
    assert response.status_code == 415
    assert "application/scim+json" in response.json()["detail"]
    assert await _user_count(client) == 0


async def test_a_token_without_write_scope_cannot_push(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    reader = create_token(engine, "acme", "auditor", scopes=("scim:read",))
    headers = {"Authorization": f"Bearer {reader}"}
    response = await client.post("/bulkUpload", json=MICROSOFT_EXAMPLE, headers=headers)
    assert response.status_code == 403


# -- per-record failures --------------------------------------------------------------------


async def test_a_failing_operation_does_not_undo_the_others_and_its_result_says_why(
    client: httpx.AsyncClient,
) -> None:
    await outcome(client, person("1", "taken@example.com"))
    result = await outcome(
        client,
        person("2"),
        person("3", "TAKEN@example.com"),  # userName is unique, case-insensitively
        person("4", emails="not a list"),
        person("5"),
    )
    statuses = [entry["status"] for entry in result["Operations"]]
    assert statuses == ["created", "failed", "failed", "created"]
    taken, invalid = result["Operations"][1], result["Operations"][2]
    assert taken["error"]["status"] == "409" and taken["error"]["scimType"] == "uniqueness"
    assert taken["externalId"] == "3" and "id" not in taken
    assert invalid["error"]["status"] == "400" and "emails" in invalid["error"]["detail"]
    assert result["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "failed": 2}
    assert await _user_count(client) == 3


@pytest.mark.parametrize(
    "config", [parse_config({"server": {"max_string_length": 300}, "tenants": {"acme": {}}})]
)
async def test_an_operation_over_a_request_bound_fails_alone(client: httpx.AsyncClient) -> None:
    result = await outcome(client, person("1", title="x" * 301), person("2"))
    assert [e["status"] for e in result["Operations"]] == ["failed", "created"]
    assert "title" in result["Operations"][0]["error"]["detail"]


# -- the result URL -------------------------------------------------------------------------


async def test_another_tenant_cannot_read_a_result(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    location = (await push(client, person("1"))).headers["Location"]
    other = create_token(engine, "globex", "hr")
    response = await client.get(location, headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 404
    assert (await client.get(location)).status_code == 200


@pytest.mark.parametrize(
    "config", [parse_config({"tenants": {"acme": {"bulk_upload": {"keep_results": 10}}}})]
)
async def test_a_tenant_keeps_its_latest_results_only(client: httpx.AsyncClient) -> None:
    locations = [(await push(client, person(str(n)))).headers["Location"] for n in range(11)]
    assert (await client.get(locations[0])).status_code == 404
    kept = [(await client.get(url)).status_code for url in locations[1:]]
    assert kept == [200] * 10


async def test_results_hold_no_attribute_values(client: httpx.AsyncClient, engine: Engine) -> None:
    secret = {HR: {"ssn": "123-45-6789", "dateOfBirth": "1980-01-02"}}
    await outcome(client, person("1", **secret), person("2", emails="bad", **secret))
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT operations FROM bulk_upload_result")).scalar()
    assert "123-45-6789" not in str(stored) and "1980" not in str(stored)


# -- rate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        parse_config(
            {"tenants": {"acme": {"bulk_upload": {"requests_per_second": 2}}, "globex": {}}}
        )
    ],
)
async def test_requests_past_the_tenants_rate_get_429_with_retry_after(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    statuses = [(await push(client, person(str(n)))).status_code for n in range(3)]
    assert statuses == [202, 202, 429]
    refused = await push(client, person("9"))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert await _user_count(client) == 2
    other = create_token(engine, "globex", "hr")  # another tenant has its own budget
    headers = {"Authorization": f"Bearer {other}"}
    body = copy.deepcopy(MICROSOFT_EXAMPLE)
    assert (await client.post("/bulkUpload", json=body, headers=headers)).status_code == 202


@pytest.mark.parametrize(
    "result_id", ["%00", "x%27%3B--", "a" * 300, "12345678-1234-1234-1234-1234567890zz"]
)
async def test_a_result_address_that_is_no_result_id_is_not_found_on_either_engine(
    client: httpx.AsyncClient, result_id: str
) -> None:
    response = await client.get(f"/bulkUpload/{result_id}")
    assert response.status_code == 404, response.text
    assert response.json()["status"] == "404"


async def test_a_user_naming_itself_its_manager_is_written_without_a_manager(
    client: httpx.AsyncClient,
) -> None:
    result = await outcome(client, person("7", **managed_by("7")))
    [entry] = result["Operations"]
    assert entry["status"] == "created"
    assert "unresolvedManager" not in entry
    user = await user_by_external_id(client, "7")
    assert "manager" not in user.get(ENTERPRISE, {})
    # and pushed again with itself as manager, it stays without one
    again = await outcome(client, person("7", **managed_by("7")))
    assert again["Operations"][0]["status"] == "unchanged"
    assert "manager" not in (await user_by_external_id(client, "7")).get(ENTERPRISE, {})
