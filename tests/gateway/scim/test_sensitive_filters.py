"""Write-only attributes are unobservable: no filter, sort or PATCH value filter reveals them.

dateOfBirth and ssn are ``returned: never`` and ``writeOnly`` in the schema published to a
token without ``scim:sensitive`` (RFC 7643 §7). Filtering or sorting on them answered a
bit per request: a read-only token recovered a full ssn in ~65 sorted requests and a date
of birth in ~250 ``eq`` batches. Such a token now gets 400 ``invalidFilter`` (``filter``,
value filters, ``.search``) or 400 ``invalidValue`` (``sortBy``); a token with
``scim:sensitive``, whose schema makes them readable, filters and sorts as before.
"""

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SSN = f"{HR}:ssn"
DOB = f"{HR}:dateOfBirth"

#: Every comparison operator, ``pr``, ``not`` and an ``or`` batch, on both attributes;
#: with the names of the users a sensitive token finds.
FILTERS: list[tuple[str, set[str]]] = [
    (f'{SSN} eq "123-45-6789"', {"ann"}),
    (f'{SSN} ne "123-45-6789"', {"bob", "cid"}),
    (f'{SSN} co "45"', {"ann"}),
    (f'{SSN} sw "1"', {"ann"}),
    (f'{SSN} ew "89"', {"ann"}),
    (f'{SSN} gt "5"', {"bob"}),
    (f'{SSN} ge "123-45-6789"', {"ann", "bob"}),
    (f'{SSN} lt "2"', {"ann"}),
    (f'{SSN} le "123-45-6789"', {"ann"}),
    (f"{SSN} pr", {"ann", "bob"}),
    (f'not ({SSN} sw "1")', {"bob", "cid"}),
    (f'{DOB} eq "1990-02-03"', {"ann"}),
    (f'{DOB} gt "1985"', {"ann"}),
    (f"{DOB} pr", {"ann", "bob"}),
    (" or ".join(f'{DOB} eq "1990-02-0{day}"' for day in range(1, 10)), {"ann"}),
    (f'userName sw "a" and {SSN} pr', {"ann"}),
    (f'userName eq "nobody" or {DOB.upper()} pr', {"ann", "bob"}),  # names are case-blind
]
SORTS = [SSN, DOB, SSN.upper()]


@pytest.fixture
async def staff(client: httpx.AsyncClient) -> dict[str, str]:
    """Three users: ann and bob with sensitive values, cid without."""
    people = {
        "ann": {"ssn": "123-45-6789", "dateOfBirth": "1990-02-03"},
        "bob": {"ssn": "987-65-4321", "dateOfBirth": "1980-07-01"},
        "cid": {"hireDate": "2024-05-01"},
    }
    ids = {}
    for name, hr in people.items():
        body = {"schemas": [CORE, HR], "userName": name, HR: hr}
        response = await client.post("/Users", json=body)
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return ids


def _headers(engine: Engine, *scopes: str) -> dict[str, str]:
    secret = create_token(engine, "acme", f"token-{'-'.join(scopes)}", scopes)
    return {"Authorization": f"Bearer {secret}"}


def _names(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {resource["userName"] for resource in response.json()["Resources"]}


async def _list(
    client: httpx.AsyncClient, entry: str, headers: dict[str, str], **params: Any
) -> httpx.Response:
    """The same list request through GET /Users, POST /Users/.search or POST /.search."""
    if entry == "get":
        return await client.get("/Users", params=params, headers=headers)
    body = {"schemas": [SEARCH], **params}
    path = "/Users/.search" if entry == "search" else "/.search"
    return await client.post(path, json=body, headers=headers)


ENTRIES = ["get", "search", "root-search"]
#: A root search applies the filter to Groups too, which have no ssn: only the per-type
#: entries can show a sensitive token's matches.
TYPED_ENTRIES = ["get", "search"]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(("expression", "expected"), FILTERS)
async def test_filter_on_a_write_only_attribute_is_invalid_filter_without_sensitive_scope(
    client: httpx.AsyncClient,
    engine: Engine,
    staff: dict[str, str],
    entry: str,
    expression: str,
    expected: set[str],
) -> None:
    for scopes in (("scim:read",), ("scim:read", "scim:write")):
        response = await _list(client, entry, _headers(engine, *scopes), filter=expression)
        assert response.status_code == 400, (scopes, response.text)
        error = response.json()
        assert error["scimType"] == "invalidFilter"
        assert HR.lower() in error["detail"].lower()  # the detail names the attribute
        assert "123" not in response.text and "1990" not in response.text


@pytest.mark.parametrize("entry", TYPED_ENTRIES)
@pytest.mark.parametrize(("expression", "expected"), FILTERS)
async def test_a_sensitive_token_filters_on_write_only_attributes(
    client: httpx.AsyncClient,
    engine: Engine,
    staff: dict[str, str],
    entry: str,
    expression: str,
    expected: set[str],
) -> None:
    headers = _headers(engine, "scim:read", "scim:sensitive")
    assert _names(await _list(client, entry, headers, filter=expression)) == expected


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("sort_by", SORTS)
async def test_sort_by_a_write_only_attribute_is_invalid_value_without_sensitive_scope(
    client: httpx.AsyncClient, engine: Engine, staff: dict[str, str], entry: str, sort_by: str
) -> None:
    response = await _list(client, entry, _headers(engine, "scim:read"), sortBy=sort_by)
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert "never returned to this token" in response.json()["detail"]


@pytest.mark.parametrize("entry", TYPED_ENTRIES)
async def test_a_sensitive_token_sorts_by_write_only_attributes(
    client: httpx.AsyncClient, engine: Engine, staff: dict[str, str], entry: str
) -> None:
    headers = _headers(engine, "scim:read", "scim:sensitive")
    for sort_by, order in ((SSN, ["ann", "bob", "cid"]), (DOB, ["bob", "ann", "cid"])):
        response = await _list(client, entry, headers, sortBy=sort_by, filter="userName pr")
        assert [r["userName"] for r in response.json()["Resources"]] == order


async def test_patch_value_filter_naming_a_write_only_attribute_changes_nothing(
    client: httpx.AsyncClient, engine: Engine, staff: dict[str, str]
) -> None:
    """A value filter selects values of the multi-valued attribute it qualifies (RFC 7644
    §3.5.2): it cannot reach ssn, for any token, and the PATCH is refused whole."""
    user = f"/Users/{staff['ann']}"
    operation = {"op": "replace", "path": f'emails[{SSN} sw "1"].type', "value": "home"}
    for scopes in (("scim:write",), ("scim:write", "scim:sensitive")):
        body = {"schemas": [PATCH], "Operations": [operation]}
        response = await client.patch(user, json=body, headers=_headers(engine, *scopes))
        assert response.status_code == 400, response.text
        assert response.json()["scimType"] == "invalidFilter"
    assert (await client.get(user)).json()["meta"]["version"] == 'W/"1"'


async def test_bulk_patch_value_filter_naming_a_write_only_attribute_is_invalid_filter(
    client: httpx.AsyncClient, engine: Engine, staff: dict[str, str]
) -> None:
    operation = {"op": "remove", "path": f"emails[{DOB} pr and value pr]"}
    patch = {"schemas": [PATCH], "Operations": [operation]}
    body = {
        "schemas": [BULK],
        "Operations": [{"method": "PATCH", "path": f"/Users/{staff['ann']}", "data": patch}],
    }
    response = await client.post("/Bulk", json=body, headers=_headers(engine, "scim:write"))
    assert response.status_code == 200, response.text
    result = response.json()["Operations"][0]
    assert result["status"] == "400"
    assert result["response"]["scimType"] == "invalidFilter"


async def test_a_plain_token_still_filters_and_sorts_on_readable_hr_attributes(
    client: httpx.AsyncClient, engine: Engine, staff: dict[str, str]
) -> None:
    headers = _headers(engine, "scim:read")
    found = await client.get("/Users", params={"filter": f"{HR}:hireDate pr"}, headers=headers)
    assert _names(found) == {"cid"}
    sorted_ = await client.get("/Users", params={"sortBy": f"{HR}:hireDate"}, headers=headers)
    assert [r["userName"] for r in sorted_.json()["Resources"]][0] == "cid"
