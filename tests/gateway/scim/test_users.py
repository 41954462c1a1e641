"""The /Users endpoints, end to end through the app on SQLite and PostgreSQL."""

import httpx

from gateway.auth.tokens import create_token

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def user(name: str = "bjensen@acme.com", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schemas": [CORE, ENTERPRISE],
        "userName": name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
        ENTERPRISE: {"employeeNumber": "701984"},
    }
    body.update(extra)
    return body


def patch(*operations: dict[str, object]) -> dict[str, object]:
    return {"schemas": [PATCH], "Operations": list(operations)}


async def test_create_returns_201_with_location_etag_and_meta(client: httpx.AsyncClient) -> None:
    response = await client.post("/Users", json=user())
    assert response.status_code == 201
    body = response.json()
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.headers["location"] == body["meta"]["location"]
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{body['id']}")
    assert response.headers["etag"] == body["meta"]["version"] == 'W/"1"'
    assert body["meta"]["resourceType"] == "User"
    assert body["userName"] == "bjensen@acme.com"
    assert body[ENTERPRISE]["employeeNumber"] == "701984"


async def test_user_name_is_unique_case_insensitively(client: httpx.AsyncClient) -> None:
    assert (await client.post("/Users", json=user("bjensen@acme.com"))).status_code == 201
    response = await client.post("/Users", json=user("BJensen@ACME.com"))
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert response.json()["status"] == "409"


async def test_missing_user_name_is_invalid_value(client: httpx.AsyncClient) -> None:
    response = await client.post("/Users", json={"schemas": [CORE], "active": True})
    assert response.status_code == 400
    assert response.json()["scimType"] in ("invalidValue", "invalidSyntax")


async def test_get_unknown_id_is_404_scim_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


async def test_if_none_match_current_version_is_304(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    location = f"/Users/{created['id']}"
    assert (await client.get(location, headers={"If-None-Match": 'W/"1"'})).status_code == 304
    assert (await client.get(location, headers={"If-None-Match": 'W/"0"'})).status_code == 200


async def test_put_with_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/Users", json=user())).json()
    location = f"/Users/{created['id']}"
    changed = user(displayName="Babs")
    response = await client.put(location, json=changed, headers={"If-Match": 'W/"7"'})
    assert response.status_code == 412
    assert "displayName" not in (await client.get(location)).json()


async def test_put_replaces_and_bumps_version(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    location = f"/Users/{created['id']}"
    response = await client.put(
        location, json=user(displayName="Babs"), headers={"If-Match": 'W/"1"'}
    )
    assert response.status_code == 200
    assert response.json()["displayName"] == "Babs"
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["meta"]["created"] == created["meta"]["created"]


async def test_put_without_changes_keeps_version(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    response = await client.put(f"/Users/{created['id']}", json=user())
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'


async def test_patch_answers_200_with_the_resource(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    body = patch({"op": "replace", "path": "displayName", "value": "Babs"})
    response = await client.patch(f"/Users/{created['id']}", json=body)
    assert response.status_code == 200
    assert response.json()["displayName"] == "Babs"
    assert response.json()["meta"]["version"] == 'W/"2"'


async def test_patch_of_read_only_id_is_mutability_error(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    body = patch({"op": "replace", "path": "id", "value": "other"})
    response = await client.patch(f"/Users/{created['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["scimType"] == "mutability"


async def test_patch_removing_required_user_name_is_refused(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    response = await client.patch(
        f"/Users/{created['id']}", json=patch({"op": "remove", "path": "userName"})
    )
    assert response.status_code == 400
    assert (await client.get(f"/Users/{created['id']}")).json()["userName"] == "bjensen@acme.com"


async def test_failed_patch_applies_no_operation(client: httpx.AsyncClient) -> None:
    """RFC 7644 §3.5.2: a PATCH is atomic; one bad operation voids the others."""
    created = (await client.post("/Users", json=user())).json()
    body = patch(
        {"op": "replace", "path": "displayName", "value": "Babs"},
        {"op": "replace", "path": "id", "value": "x"},
    )
    assert (await client.patch(f"/Users/{created['id']}", json=body)).status_code == 400
    current = (await client.get(f"/Users/{created['id']}")).json()
    assert "displayName" not in current
    assert current["meta"]["version"] == 'W/"1"'


async def test_patch_with_value_filter_path(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    body = patch(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "babs@acme.com"}
    )
    response = await client.patch(f"/Users/{created['id']}", json=body)
    assert response.status_code == 200
    assert response.json()["emails"][0]["value"] == "babs@acme.com"


async def test_patch_to_taken_user_name_is_409_and_keeps_the_old(client: httpx.AsyncClient) -> None:
    await client.post("/Users", json=user("taken@acme.com"))
    created = (await client.post("/Users", json=user("mine@acme.com"))).json()
    body = patch({"op": "replace", "path": "userName", "value": "TAKEN@acme.com"})
    response = await client.patch(f"/Users/{created['id']}", json=body)
    assert response.status_code == 409
    assert (await client.get(f"/Users/{created['id']}")).json()["userName"] == "mine@acme.com"


async def test_delete_then_get_is_404(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    assert (await client.delete(f"/Users/{created['id']}")).status_code == 204
    assert (await client.get(f"/Users/{created['id']}")).status_code == 404
    assert (await client.delete(f"/Users/{created['id']}")).status_code == 404


async def test_password_is_never_stored_nor_returned(client: httpx.AsyncClient) -> None:
    created = await client.post("/Users", json=user(password="hunter2!"))
    assert created.status_code == 201
    assert "password" not in created.json()
    assert "hunter2" not in (await client.get(f"/Users/{created.json()['id']}")).text


async def test_sensitive_attributes_are_not_returned_by_default(client: httpx.AsyncClient) -> None:
    body = user(
        schemas=[CORE, HR],
        **{HR: {"hireDate": "2024-05-01", "dateOfBirth": "1990-02-03", "ssn": "123"}},
    )
    created = (await client.post("/Users", json=body)).json()
    assert created[HR] == {"hireDate": "2024-05-01"}
    asked = await client.get(f"/Users/{created['id']}", params={"attributes": f"{HR}:dateOfBirth"})
    # The whole value: a random id may hold "1990".
    assert "1990-02-03" not in asked.text


async def test_privileged_token_reads_sensitive_attributes(
    client: httpx.AsyncClient, engine: object
) -> None:
    body = user(schemas=[CORE, HR], **{HR: {"dateOfBirth": "1990-02-03", "hireDate": "2024-05-01"}})
    created = (await client.post("/Users", json=body)).json()
    secret = create_token(engine, "acme", "hr-admin", ("scim:read", "scim:sensitive"))  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {secret}"}
    plain = await client.get(f"/Users/{created['id']}", headers=headers)
    assert plain.json()[HR]["dateOfBirth"] == "1990-02-03"
    narrowed = await client.get(
        f"/Users/{created['id']}", params={"attributes": "userName"}, headers=headers
    )
    assert "1990-02-03" not in narrowed.text
    excluded = await client.get(
        f"/Users/{created['id']}",
        params={"excludedAttributes": f"{HR}:dateOfBirth"},
        headers=headers,
    )
    assert "1990-02-03" not in excluded.text and excluded.json()[HR]["hireDate"] == "2024-05-01"


async def test_put_without_sensitive_attributes_keeps_them(
    client: httpx.AsyncClient, engine: object
) -> None:
    """Write-only attributes left out of a PUT are kept (RFC 7644 §3.5.1)."""
    created = (
        await client.post("/Users", json=user(schemas=[CORE, HR], **{HR: {"ssn": "123-45"}}))
    ).json()
    assert (
        await client.put(f"/Users/{created['id']}", json=user(displayName="B"))
    ).status_code == 200
    secret = create_token(engine, "acme", "hr-admin", ("scim:read", "scim:sensitive"))  # type: ignore[arg-type]
    again = await client.get(
        f"/Users/{created['id']}", headers={"Authorization": f"Bearer {secret}"}
    )
    assert again.json()[HR]["ssn"] == "123-45"


async def test_attributes_parameter_limits_the_representation(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    response = await client.get(f"/Users/{created['id']}", params={"attributes": "userName"})
    assert set(response.json()) == {"schemas", "id", "userName"}
    response = await client.get(
        f"/Users/{created['id']}", params={"excludedAttributes": "emails,name"}
    )
    assert "emails" not in response.json() and "name" not in response.json()
    assert response.json()["userName"] == "bjensen@acme.com"
