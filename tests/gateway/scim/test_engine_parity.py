"""SQLite and PostgreSQL accept and refuse exactly the same bodies (issue 9, §3).

Each input runs through the app as POST, PUT, PATCH and a Bulk operation, on both
engines (the ``client`` fixture is parametrised over them), and must get the same status
and ``scimType`` everywhere. Before the request bounds (gateway/scim/limits.py),
PostgreSQL answered 500 to a NUL character or a value wider than an indexed column,
which SQLite stored.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.config.file import GatewayConfig, parse_config

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@pytest.fixture
def config() -> GatewayConfig:
    fields = {"level": "integer", "Team": "string"}
    return parse_config({"tenants": {"acme": {"custom_fields": fields}, "globex": {}}})


@dataclass(frozen=True)
class Case:
    """Attributes of a User (or a Group), and the answer every engine must give."""

    attributes: dict[str, Any]
    status: int
    scim_type: str | None = None
    endpoint: str = "Users"


def _hr(**fields: Any) -> dict[str, Any]:
    return {"schemas": [CORE, HR], HR: {"customFields": fields}}


REFUSED = 400, "invalidValue"

CASES = {
    "userName of 300 characters": Case({"userName": "u" * 300}, 201),
    "userName of 301 characters": Case({"userName": "u" * 301}, *REFUSED),
    # 200 characters, 400 once case-folded: the column holds the folded value.
    "userName longer once folded": Case({"userName": "İ" * 200}, *REFUSED),
    "externalId of 1,000 characters": Case({"externalId": "x" * 1000}, *REFUSED),
    "displayName of 100 KB": Case({"displayName": "x" * 100_000}, *REFUSED),
    "NUL in title": Case({"title": "a\x00b"}, *REFUSED),
    "NUL in a name part": Case({"name": {"givenName": "Ann\x00"}}, *REFUSED),
    "NUL in a custom field": Case(_hr(Team="Sa\x00les"), *REFUSED),
    "employeeNumber of 101 characters": Case(
        {"schemas": [CORE, ENTERPRISE], ENTERPRISE: {"employeeNumber": "9" * 101}}, *REFUSED
    ),
    "integer field at 2^63-1": Case(_hr(level=2**63 - 1), 201),
    "integer field at 2^64-1": Case(_hr(level=2**64 - 1), *REFUSED),
    "integer field as a 23-digit string": Case(_hr(level="9" * 23), *REFUSED),
    "title of 4,097 characters": Case({"title": "t" * 4097}, *REFUSED),
    "group displayName of 301 characters": Case(
        {"displayName": "g" * 301}, *REFUSED, endpoint="Groups"
    ),
    "NUL in a group displayName": Case({"displayName": "Sa\x00les"}, *REFUSED, endpoint="Groups"),
}


def _body(case: Case, name: str) -> dict[str, Any]:
    """A full resource carrying the case's attributes (``name`` keeps userName unique)."""
    if case.endpoint == "Groups":
        return {"schemas": [GROUP], "displayName": name, **case.attributes}
    attributes = dict(case.attributes)
    schemas = attributes.pop("schemas", [CORE])
    return {"schemas": schemas, "userName": name, **attributes}


async def _existing(client: httpx.AsyncClient, case: Case) -> dict[str, Any]:
    created = await client.post(
        f"/{case.endpoint}", json=_body(Case({}, 0, None, case.endpoint), "existing")
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _post(client: httpx.AsyncClient, case: Case) -> tuple[int, str | None]:
    response = await client.post(f"/{case.endpoint}", json=_body(case, "new"))
    return _outcome(response.status_code, response.json())


async def _put(client: httpx.AsyncClient, case: Case) -> tuple[int, str | None]:
    existing = await _existing(client, case)
    response = await client.put(f"/{case.endpoint}/{existing['id']}", json=_body(case, "existing"))
    await _assert_unchanged_when_refused(client, case, existing, response.status_code)
    return _outcome(200 if response.status_code == 200 else response.status_code, response.json())


async def _patch(client: httpx.AsyncClient, case: Case) -> tuple[int, str | None]:
    """A path-less replace carrying the case's attributes (RFC 7644 §3.5.2.3)."""
    existing = await _existing(client, case)
    value = {k: v for k, v in case.attributes.items() if k != "schemas"}
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": value}]}
    response = await client.patch(f"/{case.endpoint}/{existing['id']}", json=body)
    await _assert_unchanged_when_refused(client, case, existing, response.status_code)
    return _outcome(response.status_code, response.json())


async def _bulk(client: httpx.AsyncClient, case: Case) -> tuple[int, str | None]:
    operation = {"method": "POST", "bulkId": "b", "path": f"/{case.endpoint}"}
    body = {"schemas": [BULK], "Operations": [{**operation, "data": _body(case, "new")}]}
    response = await client.post("/Bulk", json=body)
    assert response.status_code == 200, response.text
    result = response.json()["Operations"][0]
    return _outcome(int(result["status"]), result.get("response") or {})


async def _assert_unchanged_when_refused(
    client: httpx.AsyncClient, case: Case, existing: dict[str, Any], status: int
) -> None:
    if status >= 400:  # a failed write changes nothing
        current = (await client.get(f"/{case.endpoint}/{existing['id']}")).json()
        assert current["meta"]["version"] == existing["meta"]["version"]


def _outcome(status: int, body: dict[str, Any]) -> tuple[int, str | None]:
    # A write that succeeds answers 201 (create) or 200 (replace, patch): both are "stored".
    return (201 if status in (200, 201) else status), body.get("scimType")


Method = Callable[[httpx.AsyncClient, Case], Awaitable[tuple[int, str | None]]]
METHODS: dict[str, Method] = {"POST": _post, "PUT": _put, "PATCH": _patch, "Bulk": _bulk}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("name", list(CASES))
async def test_every_engine_gives_the_same_answer(
    client: httpx.AsyncClient, name: str, method: str
) -> None:
    case = CASES[name]
    assert await METHODS[method](client, case) == (case.status, case.scim_type)


async def test_refusal_names_the_attribute_and_the_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/Users", json={"schemas": [CORE], "userName": "u" * 301})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "userName: 301 characters, over the limit of 300 (an indexed column's width)"
    )
    nul = await client.post("/Users", json={"schemas": [CORE], "userName": "a", "title": "\x00"})
    assert nul.json()["detail"] == "title: contains a NUL character (U+0000), which is not allowed"
