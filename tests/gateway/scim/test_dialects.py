"""Replays of the request sequences Entra ID and Okta send, from their public docs.

Entra ID: learn.microsoft.com "Tutorial: Develop and plan provisioning for a SCIM
endpoint" (request/response samples) and "Known issues and resolutions with SCIM 2.0
protocol compliance". Okta: developer.okta.com "SCIM 2.0 protocol reference".
Each test names the deviation it replays.
"""

import httpx

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch(*operations: dict[str, object]) -> dict[str, object]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def entra_user(user_name: str = "Test_User_ab6490ee@testuser.com") -> dict[str, object]:
    """The create body from Microsoft's sample, meta and empty roles included."""
    return {
        "schemas": [CORE, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
    }


# -- Entra ID ---------------------------------------------------------------------------


async def test_entra_connection_test_finds_no_random_user(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", params={"filter": 'userName eq "non-existent user"'})
    assert response.status_code == 200
    assert response.json()["totalResults"] == 0 and response.json()["Resources"] == []


async def test_entra_create_then_find_by_user_name_and_external_id(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/Users", json=entra_user())
    assert created.status_code == 201, created.text
    by_name = await client.get(
        "/Users", params={"filter": 'userName eq "test_user_ab6490ee@testuser.com"'}
    )
    assert by_name.json()["Resources"][0]["id"] == created.json()["id"]
    by_external = await client.get(
        "/Users", params={"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'}
    )
    assert by_external.json()["totalResults"] == 1


async def test_entra_capitalised_replace_of_multi_valued_and_nested(
    client: httpx.AsyncClient,
) -> None:
    user_id = (await client.post("/Users", json=entra_user())).json()["id"]
    response = await client.patch(
        f"/Users/{user_id}",
        json=patch(
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@microsoft.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ),
    )
    assert response.status_code == 200
    assert response.json()["emails"][0]["value"] == "updatedEmail@microsoft.com"
    assert response.json()["name"]["familyName"] == "updatedFamilyName"


async def test_entra_disables_with_the_string_false(client: httpx.AsyncClient) -> None:
    user_id = (await client.post("/Users", json=entra_user())).json()["id"]
    response = await client.patch(
        f"/Users/{user_id}", json=patch({"op": "Replace", "path": "active", "value": "False"})
    )
    assert response.status_code == 200 and response.json()["active"] is False
    found = await client.get("/Users", params={"filter": "active eq false"})
    assert [r["id"] for r in found.json()["Resources"]] == [user_id]


async def test_entra_pathless_replace_with_dotted_keys(client: httpx.AsyncClient) -> None:
    user_id = (await client.post("/Users", json=entra_user())).json()["id"]
    response = await client.patch(
        f"/Users/{user_id}",
        json=patch(
            {
                "op": "Replace",
                "value": {
                    "name.givenName": "Kim",
                    "name.familyName": "Aiden",
                    f"{ENTERPRISE}:department": "Sales",
                    "active": "True",
                },
            }
        ),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"]["givenName"] == "Kim" and body["name"]["familyName"] == "Aiden"
    assert body[ENTERPRISE]["department"] == "Sales" and body["active"] is True


async def test_entra_sets_manager_as_a_bare_id_and_clears_it(client: httpx.AsyncClient) -> None:
    manager = (await client.post("/Users", json=entra_user("boss@testuser.com"))).json()["id"]
    user_id = (await client.post("/Users", json=entra_user())).json()["id"]
    response = await client.patch(
        f"/Users/{user_id}",
        json=patch({"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager}),
    )
    assert response.status_code == 200, response.text
    assert response.json()[ENTERPRISE]["manager"]["value"] == manager
    cleared = await client.patch(
        f"/Users/{user_id}",
        json=patch({"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": ""}),
    )
    assert cleared.status_code == 200
    assert "manager" not in cleared.json().get(ENTERPRISE, {})


async def test_entra_adds_a_work_email_where_none_exists(client: httpx.AsyncClient) -> None:
    body = entra_user()
    body.pop("emails")
    user_id = (await client.post("/Users", json=body)).json()["id"]
    response = await client.patch(
        f"/Users/{user_id}",
        json=patch(
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "new@testuser.com"}
        ),
    )
    assert response.status_code == 200, response.text
    assert response.json()["emails"] == [{"type": "work", "value": "new@testuser.com"}]


async def test_entra_attribute_names_in_any_case(client: httpx.AsyncClient) -> None:
    body = {
        "schemas": [CORE],
        "USERNAME": "casey@testuser.com",
        "Active": "True",
        "Emails": [{"Value": "casey@testuser.com", "Type": "work", "Primary": "true"}],
    }
    response = await client.post("/Users", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["userName"] == "casey@testuser.com"
    assert response.json()["emails"][0]["primary"] is True


async def test_entra_group_sequence(client: httpx.AsyncClient) -> None:
    """Create, add members (with "$ref": null), get without members, remove by value list."""
    alice = (await client.post("/Users", json=entra_user("alice@testuser.com"))).json()["id"]
    bob = (await client.post("/Users", json=entra_user("bob@testuser.com"))).json()["id"]
    group = await client.post(
        "/Groups",
        json={
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
            "schemas": [GROUP],
        },
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    added = await client.patch(
        f"/Groups/{group_id}",
        json=patch(
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": alice}, {"$ref": None, "value": bob}],
            }
        ),
    )
    assert added.status_code == 200, added.text
    found = await client.get(
        "/Groups",
        params={"excludedAttributes": "members", "filter": 'displayName eq "displayName"'},
    )
    assert found.json()["totalResults"] == 1 and "members" not in found.json()["Resources"][0]
    slim = await client.get(f"/Groups/{group_id}", params={"excludedAttributes": "members"})
    assert "members" not in slim.json()
    removed = await client.patch(
        f"/Groups/{group_id}",
        json=patch({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": alice}]}),
    )
    assert [m["value"] for m in removed.json()["members"]] == [bob]


async def test_entra_filter_on_member_presence(client: httpx.AsyncClient) -> None:
    """Entra checks membership with a filter on the group's members."""
    alice = (await client.post("/Users", json=entra_user("alice@testuser.com"))).json()["id"]
    group = (
        await client.post(
            "/Groups", json={"schemas": [GROUP], "displayName": "G", "members": [{"value": alice}]}
        )
    ).json()
    response = await client.get(
        "/Groups",
        params={
            "filter": f'id eq "{group["id"]}" and members[value eq "{alice}"]',
            "excludedAttributes": "members",
        },
    )
    assert response.json()["totalResults"] == 1


# -- Okta -------------------------------------------------------------------------------


def okta_user() -> dict[str, object]:
    """Okta's create body: password, empty groups and locale included."""
    return {
        "schemas": [CORE],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


async def test_okta_connection_probe_pages_of_two(client: httpx.AsyncClient) -> None:
    for n in range(3):
        body = {**okta_user(), "userName": f"u{n}@okta.local", "externalId": f"x{n}"}
        assert (await client.post("/Users", json=body)).status_code == 201
    response = await client.get("/Users", params={"startIndex": 1, "count": 2})
    body = response.json()
    assert response.status_code == 200
    assert body["totalResults"] == 3 and body["itemsPerPage"] == 2 and body["startIndex"] == 1


async def test_okta_lookup_before_create_then_create(client: httpx.AsyncClient) -> None:
    lookup = await client.get(
        "/Users",
        params={"filter": 'userName eq "test.user@okta.local"', "startIndex": 1, "count": 100},
    )
    assert lookup.json()["totalResults"] == 0
    created = await client.post("/Users", json=okta_user())
    assert created.status_code == 201, created.text
    assert "password" not in created.json()
    again = await client.get("/Users", params={"filter": 'userName eq "test.user@okta.local"'})
    assert again.json()["totalResults"] == 1


async def test_okta_put_is_a_full_replacement(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=okta_user())).json()
    body = {
        **okta_user(),
        "id": created["id"],
        "name": {"givenName": "Another", "familyName": "User"},
    }
    body.pop("locale")
    response = await client.put(f"/Users/{created['id']}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["name"]["givenName"] == "Another"
    assert "locale" not in response.json()


async def test_okta_deactivates_with_pathless_replace(client: httpx.AsyncClient) -> None:
    user_id = (await client.post("/Users", json=okta_user())).json()["id"]
    response = await client.patch(
        f"/Users/{user_id}", json=patch({"op": "replace", "value": {"active": False}})
    )
    assert response.status_code == 200 and response.json()["active"] is False


async def test_okta_group_push_sequence(client: httpx.AsyncClient) -> None:
    """Create, rename with the id repeated in the value, add, remove by filter, PUT, DELETE."""
    user_id = (await client.post("/Users", json=okta_user())).json()["id"]
    group = await client.post(
        "/Groups", json={"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}
    )
    assert group.status_code == 201
    group_id = group.json()["id"]
    renamed = await client.patch(
        f"/Groups/{group_id}",
        json=patch(
            {"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv2 renamed"}}
        ),
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["displayName"] == "Test SCIMv2 renamed"
    added = await client.patch(
        f"/Groups/{group_id}",
        json=patch(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": user_id, "display": "test.user@okta.local"}],
            }
        ),
    )
    assert added.json()["members"][0]["display"] == "test.user@okta.local"
    removed = await client.patch(
        f"/Groups/{group_id}",
        json=patch({"op": "remove", "path": f'members[value eq "{user_id}"]'}),
    )
    assert removed.json().get("members", []) == []
    replaced = await client.put(
        f"/Groups/{group_id}",
        json={
            "schemas": [GROUP],
            "id": group_id,
            "displayName": "Test SCIMv2",
            "members": [{"value": user_id}],
        },
    )
    assert [m["value"] for m in replaced.json()["members"]] == [user_id]
    assert (await client.delete(f"/Groups/{group_id}")).status_code == 204
