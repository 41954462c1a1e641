"""SQLite and PostgreSQL accept and refuse exactly the same filter and paging input.

Each case runs over HTTP (GET /Users and POST /Users/.search) on both engines (the
``client`` fixture is parametrised over them) and must answer the status and ``scimType``
written here, and for a 200 the same ``totalResults``. Every case below was a 500 on one
engine or both, or an answer that differed between them, before it was pinned.
"""

import base64
import json
from typing import Any

import httpx
import pytest

from gateway.config.file import GatewayConfig, parse_config
from gateway.scim.listing import MAX_START_INDEX, ListQuery

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def config() -> GatewayConfig:
    custom = {"level": "integer", "score": "decimal", "since": "dateTime"}
    return parse_config({"tenants": {"acme": {"custom_fields": custom}}})


@pytest.fixture
async def users(client: httpx.AsyncClient) -> None:
    for name, level in (("u7", 3), ("ann", 12)):
        body = {
            "schemas": [CORE, HR],
            "userName": name,
            "displayName": name.upper(),
            "emails": [{"value": f"{name}@example.com", "type": "work"}],
            HR: {"customFields": {"level": level, "since": "2024-05-01T00:00:00Z"}},
        }
        assert (await client.post("/Users", json=body)).status_code == 201


def _or(template: str, n: int) -> str:
    return " or ".join(template.format(i) for i in range(n))


def _nested(depth: int) -> str:
    """``userName pr and (userName eq "x" or (... userName eq "u7"))``: ``depth`` levels."""
    expression = 'userName eq "u7"'
    for level in range(depth):
        clause = "userName pr and" if level % 2 else 'userName eq "x" or'
        expression = f"{clause} ({expression})"
    return expression


def _cursor(offset: int) -> str:
    """A cursor as a client can forge one: its fingerprint is a hash of the query."""
    data = {"o": offset, "q": ListQuery().fingerprint()}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


#: name -> (list parameters, status, scimType, totalResults of a 200).
CASES: dict[str, tuple[dict[str, Any], int, str | None, int | None]] = {
    # A NUL reaches the engine through a JSON escape in the filter's string: PostgreSQL
    # text cannot hold it (500 there, an empty list on SQLite).
    "nul escaped": ({"filter": 'userName eq "u\\u0000"'}, 400, "invalidFilter", None),
    "nul escaped in co": ({"filter": 'displayName co "\\u0000"'}, 400, "invalidFilter", None),
    "nul raw": ({"filter": 'userName eq "u\x00"'}, 400, "invalidFilter", None),
    "unpaired surrogate": ({"filter": 'userName eq "\\ud800"'}, 400, "invalidFilter", None),
    # SQLite refused a 1,000-term flat OR ("Expression tree is too large"): 500.
    "1000 userName eq": ({"filter": _or('userName eq "u{}"', 1000)}, 200, None, 1),
    "1000 emails eq": ({"filter": _or('emails.value eq "u{}@example.com"', 1000)}, 200, None, 1),
    "1000 co": ({"filter": _or('displayName co "U{}"', 1000)}, 200, None, 1),
    "1000 and": ({"filter": " and ".join(["userName pr"] * 1000)}, 200, None, 2),
    "1001 clauses": ({"filter": _or('userName eq "u{}"', 1001)}, 400, "invalidFilter", None),
    "depth 10": ({"filter": _nested(10)}, 200, None, 1),
    "depth 11": ({"filter": _nested(11)}, 400, "invalidFilter", None),
    # SQLite cannot bind an integer beyond 64 bits: 500 there.
    "integer beyond 64 bits": (
        {"filter": f"{HR}:customFields.level lt {10**30}"},
        200,
        None,
        2,
    ),
    "number beyond float": (
        {"filter": f"{HR}:customFields.score gt 1e400"},
        400,
        "invalidFilter",
        None,
    ),
    # Instants beyond year 9999 or before year 1 in UTC: no driver binds them (500 on both).
    "dateTime past 9999 in UTC": (
        {"filter": 'meta.created lt "9999-12-31T23:59:59-14:00"'},
        200,
        None,
        2,
    ),
    "dateTime before year 1 in UTC": (
        {"filter": f'{HR}:customFields.since gt "0001-01-01T00:00:00+14:00"'},
        200,
        None,
        2,
    ),
    # SQLite compared "999-..." with "2024-..." as text: year 999 came after 2024.
    "dateTime in year 999": (
        {"filter": f'{HR}:customFields.since gt "0999-01-01T00:00:00Z"'},
        200,
        None,
        2,
    ),
    # An OFFSET beyond 64 bits: 500 on both.
    "startIndex 10^30": ({"startIndex": 10**30}, 400, "invalidValue", None),
    "startIndex largest": ({"startIndex": MAX_START_INDEX}, 200, None, 2),
    "startIndex not a number": ({"startIndex": "first"}, 400, "invalidValue", None),
    "count 10^30 is clamped": ({"count": 10**30}, 200, None, 2),
    "count -10^30 is zero": ({"count": -(10**30)}, 200, None, 2),
    "cursor at 10^30": (
        {"cursor": _cursor(10**30)},
        400,
        "invalidCursor",
        None,
    ),
    "sortBy multi-valued": ({"sortBy": "emails.value"}, 200, None, 2),
}


@pytest.mark.parametrize("via", ["GET", ".search"])
@pytest.mark.parametrize("case", list(CASES))
async def test_both_engines_answer_the_same(
    client: httpx.AsyncClient, users: None, case: str, via: str
) -> None:
    params, status, scim_type, total = CASES[case]
    if via == "GET":
        response = await client.get("/Users", params={k: str(v) for k, v in params.items()})
    else:
        response = await client.post("/Users/.search", json={"schemas": [SEARCH], **params})
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("scimType") == scim_type
    if status == 200:
        assert body["totalResults"] == total
    else:
        assert "Internal" not in body.get("detail", "")
