"""Lists: filters, totalResults over all pages, index and cursor paging, sorting, search."""

import httpx
import pytest

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
async def people(client: httpx.AsyncClient) -> list[str]:
    names = ["carol", "alice", "erin", "bob", "dave"]
    ids = []
    for name in names:
        body = {
            "schemas": [CORE],
            "userName": f"{name}@acme.com",
            "displayName": name.title(),
            "active": name != "erin",
            "emails": [{"value": f"{name}@acme.com", "type": "work"}],
        }
        response = await client.post("/Users", json=body)
        ids.append(response.json()["id"])
    return ids


async def test_total_results_counts_all_matches_not_the_page(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    response = await client.get("/Users", params={"filter": "active eq true", "count": 2})
    body = response.json()
    assert body["totalResults"] == 4 and body["itemsPerPage"] == 2 and len(body["Resources"]) == 2


async def test_index_paging_walks_every_resource_once(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    seen = []
    for start in (1, 3, 5):
        page = (await client.get("/Users", params={"startIndex": start, "count": 2})).json()
        assert page["startIndex"] == start
        seen += [r["id"] for r in page["Resources"]]
    assert sorted(seen) == sorted(people)


async def test_count_zero_returns_only_the_total(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    body = (await client.get("/Users", params={"count": 0})).json()
    assert body["totalResults"] == 5 and body["Resources"] == []


async def test_sort_by_user_name_both_ways(client: httpx.AsyncClient, people: list[str]) -> None:
    ascending = (await client.get("/Users", params={"sortBy": "userName"})).json()["Resources"]
    assert [r["displayName"] for r in ascending] == ["Alice", "Bob", "Carol", "Dave", "Erin"]
    descending = (
        await client.get("/Users", params={"sortBy": "userName", "sortOrder": "descending"})
    ).json()
    assert [r["displayName"] for r in descending["Resources"]][0] == "Erin"


async def test_cursor_paging_forward_and_back(client: httpx.AsyncClient, people: list[str]) -> None:
    """RFC 9865: an empty cursor asks for the first page; nextCursor and previousCursor."""
    first = (
        await client.get("/Users", params={"cursor": "", "count": 2, "sortBy": "userName"})
    ).json()
    assert "startIndex" not in first and "previousCursor" not in first
    second = (
        await client.get(
            "/Users", params={"cursor": first["nextCursor"], "count": 2, "sortBy": "userName"}
        )
    ).json()
    third = (
        await client.get(
            "/Users", params={"cursor": second["nextCursor"], "count": 2, "sortBy": "userName"}
        )
    ).json()
    names = [r["displayName"] for page in (first, second, third) for r in page["Resources"]]
    assert names == ["Alice", "Bob", "Carol", "Dave", "Erin"]
    assert "nextCursor" not in third
    back = (
        await client.get(
            "/Users", params={"cursor": second["previousCursor"], "count": 2, "sortBy": "userName"}
        )
    ).json()
    assert [r["displayName"] for r in back["Resources"]] == ["Alice", "Bob"]


async def test_foreign_or_mangled_cursor_is_invalid_cursor(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    first = (await client.get("/Users", params={"cursor": "", "count": 2})).json()
    other_filter = await client.get(
        "/Users", params={"cursor": first["nextCursor"], "filter": "active eq true"}
    )
    assert other_filter.status_code == 400 and other_filter.json()["scimType"] == "invalidCursor"
    mangled = await client.get("/Users", params={"cursor": "not-a-cursor"})
    assert mangled.status_code == 400 and mangled.json()["scimType"] == "invalidCursor"


async def test_cursor_and_start_index_together_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", params={"cursor": "", "startIndex": 1})
    assert response.status_code == 400


async def test_unknown_filter_attribute_is_invalid_filter_not_empty(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    response = await client.get("/Users", params={"filter": 'shoeSize eq "44"'})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"


async def test_malformed_filter_is_invalid_filter(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", params={"filter": 'userName eq "x" and'})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"


async def test_complex_filter_on_work_email(client: httpx.AsyncClient, people: list[str]) -> None:
    response = await client.get(
        "/Users",
        params={
            "filter": 'emails[type eq "work" and value sw "b"] or userName eq "ALICE@acme.com"'
        },
    )
    assert sorted(r["displayName"] for r in response.json()["Resources"]) == ["Alice", "Bob"]


async def test_search_endpoint_takes_the_same_parameters(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    body = {
        "schemas": [SEARCH],
        "filter": "active eq true",
        "sortBy": "userName",
        "count": 2,
        "startIndex": 2,
        "attributes": ["userName"],
    }
    response = await client.post("/Users/.search", json=body)
    page = response.json()
    assert page["totalResults"] == 4
    assert [r["userName"] for r in page["Resources"]] == ["bob@acme.com", "carol@acme.com"]
    assert set(page["Resources"][0]) == {"schemas", "id", "userName"}


@pytest.mark.parametrize("schemas", [None, True, "x", SEARCH, {"a": SEARCH}, [1]])
async def test_search_without_search_schema_is_refused(
    client: httpx.AsyncClient, schemas: object
) -> None:
    body = {"filter": "active eq true"} if schemas is None else {"schemas": schemas}
    response = await client.post("/Users/.search", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("filter", 1.5),
        ("filter", ["userName pr"]),
        ("sortBy", {"a": 1}),
        ("sortOrder", 1),
        ("cursor", 7),
        ("startIndex", True),
        ("count", 2.5),
        ("attributes", [1, 2]),
        ("attributes", 3),
        ("excludedAttributes", ["userName", None]),
    ],
)
@pytest.mark.parametrize("path", ["/Users/.search", "/.search"])
async def test_a_search_member_of_the_wrong_json_type_is_invalid_value(
    client: httpx.AsyncClient, member: str, value: object, path: str
) -> None:
    response = await client.post(path, json={"schemas": [SEARCH], member: value})
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert response.json()["detail"].startswith(f"{member} must be")


async def test_a_null_search_member_is_taken_as_absent(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    body = {"schemas": [SEARCH], "filter": None, "excludedAttributes": None, "count": None}
    response = await client.post("/Users/.search", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["totalResults"] == len(people)


async def test_root_search_spans_users_and_groups(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Alice"}
    await client.post("/Groups", json=group)
    response = await client.post(
        "/.search", json={"schemas": [SEARCH], "filter": 'displayName eq "alice"'}
    )
    types = sorted(r["meta"]["resourceType"] for r in response.json()["Resources"])
    assert types == ["Group", "User"]


async def test_a_repeated_filter_sees_resources_created_in_between(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    """Query strings are parsed once and kept; their results are not."""
    query = {"filter": 'userName sw "zed"'}
    assert (await client.get("/Users", params=query)).json()["totalResults"] == 0
    body = {"schemas": [CORE], "userName": "zed@acme.com"}
    assert (await client.post("/Users", json=body)).status_code == 201
    assert (await client.get("/Users", params=query)).json()["totalResults"] == 1


async def test_a_repeated_bad_query_is_refused_every_time(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        response = await client.get("/Users", params={"filter": "userName eq", "count": "2"})
        assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"
    for _ in range(2):
        response = await client.get("/Users", params={"count": "two"})
        assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"


async def test_a_repeated_query_with_a_cursor_still_pages_forward(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    """The parsed query and its store search are kept per query string; the pages,
    totals and cursors still follow the data."""
    query = {"filter": 'userName sw "a" or userName sw "b"', "count": 1, "cursor": ""}
    first = (await client.get("/Users", params=query)).json()
    again = (await client.get("/Users", params=query)).json()
    assert first == again and first["totalResults"] == 2
    second = (await client.get("/Users", params={**query, "cursor": first["nextCursor"]})).json()
    assert second["Resources"][0]["id"] != first["Resources"][0]["id"]
