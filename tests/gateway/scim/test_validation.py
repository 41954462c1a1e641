"""Validation a SCIM client expects, and errors worded for it (issue 9, §4).

Over the app, on SQLite and PostgreSQL: a refused write changes nothing.
"""

import httpx
import pytest
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def user(user_name: str = "kim@acme.com", **extra: object) -> dict[str, object]:
    return {"schemas": [CORE], "userName": user_name, **extra}


def hr_user(name: str = "kim@acme.com", **hr: object) -> dict[str, object]:
    return {"schemas": [CORE, HR], "userName": name, HR: hr}


def patch(*operations: dict[str, object]) -> dict[str, object]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def assert_invalid(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["scimType"] == "invalidValue"
    assert body["detail"] == detail


async def total(client: httpx.AsyncClient, endpoint: str) -> int:
    return int((await client.get(endpoint)).json()["totalResults"])


# -- blank names --------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
async def test_blank_user_name_is_refused_on_create(client: httpx.AsyncClient, blank: str) -> None:
    response = await client.post("/Users", json=user(blank))
    assert_invalid(response, "userName: must not be empty or blank")
    assert await total(client, "/Users") == 0


async def test_blank_user_name_is_refused_on_put_and_patch(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=user())).json()
    put = await client.put(f"/Users/{created['id']}", json=user(" "))
    assert_invalid(put, "userName: must not be empty or blank")
    patched = await client.patch(
        f"/Users/{created['id']}", json=patch({"op": "replace", "path": "userName", "value": ""})
    )
    assert_invalid(patched, "userName: must not be empty or blank")
    current = (await client.get(f"/Users/{created['id']}")).json()
    assert current["userName"] == "kim@acme.com" and current["meta"]["version"] == 'W/"1"'


async def test_blank_group_display_name_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/Groups", json={"schemas": [GROUP], "displayName": ""})
    assert_invalid(response, "displayName: must not be empty or blank")
    assert await total(client, "/Groups") == 0
    group = (await client.post("/Groups", json={"schemas": [GROUP], "displayName": "G"})).json()
    renamed = await client.patch(
        f"/Groups/{group['id']}",
        json=patch({"op": "replace", "value": {"displayName": "  "}}),
    )
    assert_invalid(renamed, "displayName: must not be empty or blank")


# -- HR dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("2024-05-01", "2024-05-01"),
        ("2024-05-01T00:00:00+02:00", "2024-05-01"),  # midnight in Paris is still the 1st
        ("2024-05-01T23:30:00-05:00", "2024-05-01"),  # and so is late evening in Chicago
        ("2024-05-01T08:00:00Z", "2024-05-01"),
        ("2024-05-01T08:00:00.000Z", "2024-05-01"),
    ],
)
async def test_hire_date_accepts_what_hr_systems_send_and_keeps_the_calendar_date(
    client: httpx.AsyncClient, sent: str, kept: str
) -> None:
    response = await client.post("/Users", json=hr_user(hireDate=sent, terminationDate=sent))
    assert response.status_code == 201, response.text
    assert response.json()[HR] == {"hireDate": kept, "terminationDate": kept}
    stored = (await client.get(f"/Users/{response.json()['id']}")).json()
    assert stored[HR]["hireDate"] == kept


@pytest.mark.parametrize("sent", ["banana", "next monday", "01/05/2024", "20240501", "2024-02-30"])
async def test_hire_date_that_is_not_a_date_is_refused_naming_the_attribute(
    client: httpx.AsyncClient, sent: str
) -> None:
    response = await client.post("/Users", json=hr_user(hireDate=sent))
    assert_invalid(
        response,
        f"{HR}:hireDate: expected a date (YYYY-MM-DD) or an ISO 8601 dateTime"
        " such as 2024-05-01T00:00:00+02:00",
    )
    assert await total(client, "/Users") == 0


async def test_termination_date_is_checked_on_patch_too(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Users", json=hr_user(hireDate="2024-05-01"))).json()
    response = await client.patch(
        f"/Users/{created['id']}",
        json=patch({"op": "add", "path": f"{HR}:terminationDate", "value": "soon"}),
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{HR}:terminationDate: expected a date")
    ok = await client.patch(
        f"/Users/{created['id']}",
        json=patch(
            {"op": "add", "path": f"{HR}:terminationDate", "value": "2025-01-31T18:00:00+01:00"}
        ),
    )
    assert ok.json()[HR]["terminationDate"] == "2025-01-31"


async def test_a_refused_date_of_birth_is_not_echoed(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """The error names the attribute, never the value: a date of birth is sensitive."""
    response = await client.post("/Users", json=hr_user(dateOfBirth="31st of June 1980"))
    assert response.status_code == 400
    assert "June" not in response.text and f"{HR}:dateOfBirth" in response.json()["detail"]
    secret = create_token(engine, "acme", "hr", ("scim:write", "scim:sensitive"))
    headers = {"Authorization": f"Bearer {secret}"}
    created = await client.post(
        "/Users", json=hr_user(dateOfBirth="1980-06-30T00:00:00+02:00"), headers=headers
    )
    assert created.json()[HR]["dateOfBirth"] == "1980-06-30"


# -- wording --------------------------------------------------------------------------------


async def test_invalid_boolean_names_the_attribute_and_the_expected_type(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/Users", json=user(active="maybe"))
    assert_invalid(response, "active: expected a boolean (true or false)")
    created = (await client.post("/Users", json=user())).json()
    patched = await client.patch(
        f"/Users/{created['id']}", json=patch({"op": "replace", "path": "active", "value": "maybe"})
    )
    assert_invalid(patched, "active: expected a boolean (true or false)")


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ({"name": "Kim"}, "name: expected a complex value (a JSON object)"),
        ({"emails": {"value": "kim@acme.com"}}, "emails: expected a list of values"),
        ({"emails": [{"value": 42}]}, "emails[0].value: expected a string"),
    ],
)
async def test_type_errors_are_worded_for_a_scim_client(
    client: httpx.AsyncClient, extra: dict[str, object], detail: str
) -> None:
    response = await client.post("/Users", json=user(**extra))
    assert_invalid(response, detail)
    assert "Input should" not in response.text and "pydantic" not in response.text


async def test_email_without_at_sign_is_accepted(client: httpx.AsyncClient) -> None:
    """RFC 7643 §4.1.2: the value SHOULD be an RFC 5321 address; directories hold others."""
    response = await client.post("/Users", json=user(emails=[{"value": "kim", "type": "work"}]))
    assert response.status_code == 201, response.text
    found = await client.get("/Users", params={"filter": 'emails.value eq "kim"'})
    assert found.json()["totalResults"] == 1
