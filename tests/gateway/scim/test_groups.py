"""/Groups: membership lives in its own table and is patched row by row."""

import httpx

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def _user(client: httpx.AsyncClient, name: str) -> str:
    body = {"schemas": [CORE], "userName": name, "displayName": name.title()}
    response = await client.post("/Users", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _group(
    client: httpx.AsyncClient, name: str, members: tuple[str, ...] | list[str] = ()
) -> dict:  # type: ignore[type-arg]
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    response = await client.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _ids(group: dict) -> set[str]:  # type: ignore[type-arg]
    return {m["value"] for m in group.get("members", [])}


async def _patch(client: httpx.AsyncClient, group_id: str, *ops: dict) -> httpx.Response:  # type: ignore[type-arg]
    return await client.patch(
        f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": list(ops)}
    )


async def test_group_lists_members_with_display_and_user_lists_groups(
    client: httpx.AsyncClient,
) -> None:
    alice = await _user(client, "alice")
    group = await _group(client, "Sales", [alice])
    assert group["members"][0]["display"] == "Alice"
    assert group["members"][0]["type"] == "User"
    assert group["members"][0]["$ref"].endswith(f"/Users/{alice}")
    user = (await client.get(f"/Users/{alice}")).json()
    assert [g["value"] for g in user["groups"]] == [group["id"]]
    assert user["groups"][0]["display"] == "Sales"


async def test_add_and_remove_members_by_filter(client: httpx.AsyncClient) -> None:
    alice, bob = await _user(client, "alice"), await _user(client, "bob")
    group = await _group(client, "Sales", [alice])
    response = await _patch(
        client, group["id"], {"op": "add", "path": "members", "value": [{"value": bob}]}
    )
    assert response.status_code == 200
    assert _ids(response.json()) == {alice, bob}
    response = await _patch(
        client, group["id"], {"op": "remove", "path": f'members[value eq "{alice}"]'}
    )
    assert _ids(response.json()) == {bob}
    assert response.json()["meta"]["version"] == 'W/"3"'


async def test_entra_remove_member_with_value_list_removes_only_that_member(
    client: httpx.AsyncClient,
) -> None:
    """Entra ID: {"op":"Remove","path":"members","value":[{"value":id}]}."""
    alice, bob = await _user(client, "alice"), await _user(client, "bob")
    group = await _group(client, "Sales", [alice, bob])
    response = await _patch(
        client, group["id"], {"op": "Remove", "path": "members", "value": [{"value": alice}]}
    )
    assert response.status_code == 200
    assert _ids(response.json()) == {bob}


async def test_remove_members_without_value_empties_the_group(client: httpx.AsyncClient) -> None:
    alice = await _user(client, "alice")
    group = await _group(client, "Sales", [alice])
    response = await _patch(client, group["id"], {"op": "remove", "path": "members"})
    assert _ids(response.json()) == set()


async def test_replace_members_sets_exactly_the_given_ones(client: httpx.AsyncClient) -> None:
    ids = [await _user(client, n) for n in ("dave", "erin", "frank")]
    group = await _group(client, "Sales", ids[:2])
    response = await _patch(
        client, group["id"], {"op": "replace", "path": "members", "value": [{"value": ids[2]}]}
    )
    assert _ids(response.json()) == {ids[2]}


async def test_unknown_member_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    alice = await _user(client, "alice")
    group = await _group(client, "Sales", [alice])
    response = await _patch(
        client,
        group["id"],
        {"op": "replace", "path": "displayName", "value": "Renamed"},
        {"op": "add", "path": "members", "value": [{"value": "no-such-id"}]},
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    current = (await client.get(f"/Groups/{group['id']}")).json()
    assert current["displayName"] == "Sales" and _ids(current) == {alice}


async def test_deleting_a_user_removes_it_from_its_groups(client: httpx.AsyncClient) -> None:
    alice, bob = await _user(client, "alice"), await _user(client, "bob")
    group = await _group(client, "Sales", [alice, bob])
    assert (await client.delete(f"/Users/{alice}")).status_code == 204
    assert _ids((await client.get(f"/Groups/{group['id']}")).json()) == {bob}


async def test_excluded_members_are_not_returned(client: httpx.AsyncClient) -> None:
    alice = await _user(client, "alice")
    group = await _group(client, "Sales", [alice])
    response = await client.get(f"/Groups/{group['id']}", params={"excludedAttributes": "members"})
    assert "members" not in response.json()
    assert response.json()["displayName"] == "Sales"


async def test_put_replaces_members(client: httpx.AsyncClient) -> None:
    alice, bob = await _user(client, "alice"), await _user(client, "bob")
    group = await _group(client, "Sales", [alice])
    body = {"schemas": [GROUP], "displayName": "Sales", "members": [{"value": bob}]}
    response = await client.put(f"/Groups/{group['id']}", json=body)
    assert response.status_code == 200
    assert _ids(response.json()) == {bob}


async def test_group_may_contain_a_group(client: httpx.AsyncClient) -> None:
    inner = await _group(client, "Inner")
    outer = await _group(client, "Outer", [inner["id"]])
    assert outer["members"][0]["type"] == "Group"


async def test_a_users_patch_and_put_answer_with_its_groups(client: httpx.AsyncClient) -> None:
    """The answer to a user's write is built from its locked read: groups included, the
    new version and document as stored (issue 11: no second read after the write)."""
    alice = await _user(client, "alice")
    group = await _group(client, "Sales", [alice])
    patched = await client.patch(
        f"/Users/{alice}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "title", "value": "VP"}],
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "VP"
    assert patched.json()["meta"]["version"] == patched.headers["etag"] == 'W/"2"'
    assert [g["value"] for g in patched.json()["groups"]] == [group["id"]]
    replaced = await client.put(
        f"/Users/{alice}", json={"schemas": [CORE], "userName": "alice", "title": "CEO"}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["title"] == "CEO"
    assert [g["value"] for g in replaced.json()["groups"]] == [group["id"]]
    assert replaced.json() == (await client.get(f"/Users/{alice}")).json()
