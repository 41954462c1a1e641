"""Lucca's legacy v3 directory target, against its contract fake (docs/connectors/lucca.md).

Two halves: the fake refuses what Lucca refuses (wrong auth, wrong encoding, unknown
fields and filters, duplicates, bad dates, too many requests), and the connector turns
those answers into the right typed errors while doing what S4 asks (defaults, the
department head as manager, contract dates for deactivation, create-only).
"""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from gateway.config import TargetConnection
from provisioning.connectors import ConnectorSetup, DeliveryContext, RemoteAccount, lucca
from provisioning.connectors.lucca import LuccaConnector, LuccaOptions, read_lucca_error
from provisioning.errors import (
    AuthError,
    ConflictError,
    MappingError,
    PermanentError,
    RateLimited,
    TargetConfigError,
)
from provisioning.mapping import FieldMap
from provisioning.targets.client import build_client
from tests.fakes.lucca import LuccaFake
from tests.provisioning.harness import Harness, config_with

KEY = "9a7f2c1e-lucca-test-key"
BASE_URL = "http://acme.ilucca.test"
TODAY = date(2025, 6, 2)
ENTITY, SALES, ROLE = 1, 10, 55
OPTIONS = {
    "default_legal_entity_id": ENTITY,
    "default_department_id": SALES,
    "default_role_id": ROLE,
}
ADA = {"firstName": "Ada", "lastName": "Lovelace", "mail": "ada@acme.com", "login": "ada"}


def context(action: str = "create") -> DeliveryContext:
    return DeliveryContext("acme", "lucca", "User", "2819c223", 1, action)


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUCCA_KEY", KEY)
    monkeypatch.setenv("WRONG_LUCCA_KEY", "not-the-key")


@pytest.fixture
def fake() -> LuccaFake:
    fake = LuccaFake(KEY, legal_entities=(ENTITY, 2), roles=(ROLE,), today=lambda: TODAY)
    head = fake.add_user(firstName="Grace", lastName="Head", mail="grace@acme.com", login="grace")
    fake.add_department(SALES, "Sales", head_id=head)
    return fake


def client(fake: LuccaFake, key: str = "${LUCCA_KEY}") -> httpx.AsyncClient:
    """The engine's own client for a Lucca connection: the auth template applies the key."""
    settings = TargetConnection.model_validate(
        {
            "type": "lucca",
            "base_url": BASE_URL,
            "auth": {"type": "api_key", "key": key, "template": "lucca application={key}"},
        }
    )
    return build_client(settings, transport=httpx.ASGITransport(app=fake.app))


@pytest.fixture
async def http(fake: LuccaFake) -> AsyncIterator[httpx.AsyncClient]:
    async with client(fake) as http:
        yield http


def connector(http: httpx.AsyncClient, **options: Any) -> LuccaConnector:
    setup = ConnectorSetup("lucca", BASE_URL, http, {**OPTIONS, **options})
    return LuccaConnector(setup, today=lambda: TODAY)


def stored(fake: LuccaFake, mail: str) -> dict[str, Any]:
    return fake.by_mail()[mail]


# -- the fake refuses what Lucca refuses ----------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, f"Bearer {KEY}", KEY, f"lucca application={KEY}x", f"lucca key={KEY}"],
)
async def test_fake_rejects_anything_but_the_lucca_application_scheme(
    fake: LuccaFake, header: str | None
) -> None:
    """developers.lucca.fr/api-reference/legacy/authentication: 401 on a bad key."""
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as raw:
        response = await raw.get(f"{BASE_URL}/api/v3/users", headers=headers)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


async def test_fake_accepts_the_documented_header_in_either_case(fake: LuccaFake) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as raw:
        for scheme in ("lucca", "Lucca"):
            headers = {"Authorization": f"{scheme} application={KEY}"}
            response = await raw.get(f"{BASE_URL}/api/v3/users", headers=headers)
            assert response.status_code == 200
            assert response.json() == {
                "data": {
                    "items": [
                        {
                            "id": 1,
                            "name": "Grace Head",
                            "url": "https://acme.ilucca.test/api/v3/users/1",
                        }
                    ]
                }
            }


async def test_fake_rejects_a_form_encoded_body(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v3/users", data=ADA, params={"contract": "true"})
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("params", "field"),
    [({"email": "ada@acme.com"}, "email"), ({"fields": "id,e_mail"}, "fields")],
)
async def test_fake_refuses_unknown_filters_and_fields(
    http: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    """A misspelt filter must not list every user (which would link the wrong account)."""
    response = await http.get("/api/v3/users", params=params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


async def test_fake_pages_with_offset_and_limit_up_to_1000(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    for n in range(4):
        fake.add_user(firstName=f"P{n}", lastName="X", mail=f"p{n}@acme.com", login=f"p{n}")
    page = await http.get("/api/v3/users", params={"paging": "1,2", "fields": "id"})
    assert page.json()["data"]["items"] == [{"id": 2}, {"id": 3}]
    too_big = await http.get("/api/v3/users", params={"paging": "0,1001"})
    assert too_big.status_code == 400


async def test_fake_leaves_former_employees_out_unless_asked(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    fake.add_user(**ADA, dtContractEnd="2025-01-31T00:00:00")
    default = await http.get("/api/v3/users", params={"mail": "ada@acme.com"})
    assert default.json()["data"]["items"] == []
    params = {"mail": "ada@acme.com", "formerEmployees": "true"}
    assert len((await http.get("/api/v3/users", params=params)).json()["data"]["items"]) == 1


async def test_fake_accepts_a_write_wrapped_in_data_and_refuses_a_bad_date(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    """update-a-user-by-id shows both a flat body and one wrapped in ``data``."""
    user = fake.add_user(**ADA)
    wrapped = await http.put(f"/api/v3/users/{user}", json={"data": {"jobTitle": "Analyst"}})
    assert wrapped.status_code == 200 and fake.users[user]["jobTitle"] == "Analyst"
    bad = await http.put(f"/api/v3/users/{user}", json={"dtContractEnd": "31/01/2025"})
    assert bad.status_code == 400 and "dtContractEnd" in bad.json()["errors"]


async def test_fake_creates_no_contract_without_contract_true(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    """post-work-contract: ``contract=false`` creates the user alone, who is not employed."""
    body = {**ADA, "legalEntityId": ENTITY, "departmentId": SALES, "rolePrincipalId": ROLE}
    response = await http.post("/api/v3/users", json=body)
    assert response.status_code == 200
    assert fake.is_active(stored(fake, "ada@acme.com")) is False


async def test_fake_throttles_at_50_requests_a_minute(fake: LuccaFake) -> None:
    now = [0.0]
    fake.clock = lambda: now[0]
    async with client(fake) as http:
        for _ in range(50):
            assert (await http.get("/api/v3/users")).status_code == 200
        throttled = await http.get("/api/v3/users")
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "60"
        now[0] = 60.5
        assert (await http.get("/api/v3/users")).status_code == 200


# -- check and find ---------------------------------------------------------------------


async def test_check_passes_with_the_key_and_fails_with_another(fake: LuccaFake) -> None:
    async with client(fake) as good:
        await connector(good).check()
    async with client(fake, "${WRONG_LUCCA_KEY}") as bad:
        with pytest.raises(AuthError, match="Invalid or missing API key"):
            await connector(bad).check()


async def test_check_reports_a_default_department_that_does_not_exist(
    http: httpx.AsyncClient,
) -> None:
    with pytest.raises(TargetConfigError, match="department 99 does not exist"):
        await connector(http, default_department_id=99).check()


async def test_find_by_email_is_case_insensitive_and_sees_former_employees(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    user = fake.add_user(**ADA, dtContractEnd="2025-01-31T00:00:00")
    [found] = await connector(http).find("email", "Ada@ACME.com")
    assert found.id == str(user) and found.active is False


async def test_find_by_user_name_and_employee_number(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    user = fake.add_user(**ADA, employeeNumber="00057")
    assert [a.id for a in await connector(http).find("userName", "ada")] == [str(user)]
    assert [a.id for a in await connector(http).find("employeeNumber", "00057")] == [str(user)]
    assert await connector(http).find("employeeNumber", "00058") == []


async def test_find_reads_every_page(
    http: httpx.AsyncClient, fake: LuccaFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Employee numbers are unique per legal entity only, so a lookup can span pages."""
    monkeypatch.setattr(lucca, "USER_PAGES", replace(lucca.USER_PAGES, size=2))
    fake.legal_entities |= {3, 4, 5}
    for entity in (1, 2, 3, 4, 5):
        mail = f"n{entity}@acme.com"
        fake.add_user(
            **{**ADA, "mail": mail, "login": mail}, legalEntityId=entity, employeeNumber="7"
        )
    found = await connector(http).find("employeeNumber", "7")
    assert len(found) == 5
    pages = [q["paging"] for _, path, q in fake.requests if path == "/api/v3/users"]
    assert pages == ["0,2", "2,2", "4,2"]


async def test_find_by_external_id_is_refused(http: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError, match="cannot look users up by 'externalId'"):
        await connector(http).find("externalId", "x")


# -- create: defaults (S4.3), contract, department head as manager (S4.4) -----------------


async def test_create_applies_the_defaults_and_opens_a_contract_starting_today(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    account = await connector(http).create(ADA, context())
    user = stored(fake, "ada@acme.com")
    assert account.id == str(user["id"]) and account.active is True
    assert (user["legalEntityId"], user["departmentId"], user["rolePrincipalId"]) == (
        ENTITY,
        SALES,
        ROLE,
    )
    assert user["contract"] is True and user["dtContractStart"] == "2025-06-02T00:00:00"
    assert ("POST", "/api/v3/users", {"contract": "true"}) in fake.requests


async def test_create_keeps_mapped_ids_and_writes_dates_the_lucca_way(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    """A lookup table may give ids as strings; hr:hireDate is an ISO date."""
    fake.add_department(14, "Support")
    payload = {**ADA, "departmentId": "14", "legalEntityId": 2, "dtContractStart": "2025-09-01"}
    await connector(http).create(payload, context())
    user = stored(fake, "ada@acme.com")
    assert (user["departmentId"], user["legalEntityId"]) == (14, 2)
    assert user["dtContractStart"] == "2025-09-01T00:00:00"


async def test_a_lookup_table_gives_ids_and_an_unknown_name_falls_back_to_the_default(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    """The configuration docs/connectors/lucca.md shows, end to end through the map."""
    fake.add_department(14, "Support", head_id=fake.departments[SALES].head_id)
    lookup = {"lookup": {"table": {"Support": 14}, "default": None}}
    field_map = FieldMap.parse(
        {
            **LuccaConnector.default_field_map,
            "departmentId": {"from": "enterprise:department", "transform": [lookup]},
        }
    )
    target = connector(http)
    for name, department in (("ada", "Support"), ("bob", "Marketing")):
        doc = {
            "userName": f"{name}@acme.com",
            "name": {"givenName": name.title(), "familyName": "Tester"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": department
            },
        }
        await target.create(field_map.apply(doc), context())
    assert stored(fake, "ada@acme.com")["departmentId"] == 14
    assert stored(fake, "bob@acme.com")["departmentId"] == SALES


async def test_custom_fields_are_written_at_the_root_with_their_e_name(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    fake.extended = frozenset({"e_bloodType"})
    await connector(http).create({**ADA, "e_bloodType": "AB"}, context())
    assert stored(fake, "ada@acme.com")["e_bloodType"] == "AB"
    with pytest.raises(PermanentError, match="e_shoeSize: Unknown property"):
        await connector(http).update(
            RemoteAccount(str(stored(fake, "ada@acme.com")["id"])), {"e_shoeSize": 44}, context()
        )


async def test_a_department_name_where_an_id_belongs_is_a_mapping_error(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    with pytest.raises(MappingError, match="departmentId: expected a Lucca id") as caught:
        await connector(http).create({**ADA, "departmentId": "Sales"}, context())
    assert "Sales" not in caught.value.message  # values never go into delivery rows
    assert fake.by_mail().keys() == {"grace@acme.com"}


async def test_a_missing_organisation_field_without_default_names_the_option(
    http: httpx.AsyncClient,
) -> None:
    target = connector(http, default_role_id=None)
    with pytest.raises(MappingError, match=r"rolePrincipalId: .*options.default_role_id"):
        await target.create(ADA, context())


async def test_without_a_manager_the_department_head_becomes_the_manager(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    await connector(http).create(ADA, context())
    assert stored(fake, "ada@acme.com")["managerId"] == fake.departments[SALES].head_id


async def test_a_given_manager_is_kept_and_the_department_not_read(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    boss = fake.add_user(firstName="Bo", lastName="Ss", mail="boss@acme.com", login="boss")
    await connector(http).create({**ADA, "managerId": str(boss)}, context())
    assert stored(fake, "ada@acme.com")["managerId"] == boss
    assert not any("departments" in path for _, path, _ in fake.requests)


@pytest.mark.parametrize("last_day", ["2025-05-30T00:00:00", "2025-06-02T00:00:00"])
async def test_an_inactive_head_stops_the_creation_naming_the_department(
    http: httpx.AsyncClient, fake: LuccaFake, last_day: str
) -> None:
    """S4.4: said plainly; retried (TargetConfigError) so naming a new head heals it."""
    head = fake.departments[SALES].head_id
    assert head is not None
    fake.users[head]["dtContractEnd"] = last_day
    with pytest.raises(TargetConfigError) as caught:
        await connector(http).create(ADA, context())
    assert caught.value.message == (
        f"department Sales (id {SALES}): its head (id {head}) is no longer active; "
        "set a manager on the user or a new head of the department in Lucca"
    )
    assert "ada@acme.com" not in fake.by_mail()


async def test_a_department_without_head_gives_no_manager(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    fake.departments[SALES].head_id = None
    await connector(http).create(ADA, context())
    assert stored(fake, "ada@acme.com").get("managerId") is None


async def test_fake_answers_each_departments_api_in_its_own_shape(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    """§9 [V]: v3 answers ``headID`` plus ``head{}`` inside ``data`` (and only
    ``id,name,url`` unless ``fields`` asks); the Organization Structure API ``headId``."""
    head = fake.departments[SALES].head_id
    organization = await http.get(f"{BASE_URL}/organization/structure/api/departments/{SALES}")
    assert organization.json()["headId"] == head
    assert "headID" not in organization.json() and "head" not in organization.json()
    v3 = f"{BASE_URL}/api/v3/departments/{SALES}"
    assert set((await http.get(v3)).json()["data"]) == {"id", "name", "url"}
    wanted = await http.get(v3, params={"fields": "id,headID,head,parentId"})
    data = wanted.json()["data"]
    assert data["headID"] == head and data["head"]["id"] == head and "headId" not in data
    assert data["head"]["name"] == "Grace Head" and data["parentId"] == "/"


async def test_the_v3_departments_api_gives_the_head_through_head_id(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    await connector(http, departments_api="v3").create(ADA, context())
    assert stored(fake, "ada@acme.com")["managerId"] == fake.departments[SALES].head_id
    [(_, path, params)] = [r for r in fake.requests if "departments" in r[1]]
    assert path == f"/api/v3/departments/{SALES}" and params["fields"] == "id,name,headID"


async def test_an_inactive_head_read_through_v3_stops_the_creation(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    head = fake.departments[SALES].head_id
    assert head is not None
    fake.users[head]["dtContractEnd"] = "2025-05-30T00:00:00"
    with pytest.raises(TargetConfigError, match=f"its head \\(id {head}\\) is no longer active"):
        await connector(http, departments_api="v3").create(ADA, context())


def test_an_unknown_departments_api_is_refused(http: httpx.AsyncClient) -> None:
    with pytest.raises(ValidationError):
        connector(http, departments_api="v4")


async def test_the_head_rule_can_be_switched_off(http: httpx.AsyncClient, fake: LuccaFake) -> None:
    await connector(http, manager_from_department_head=False).create(ADA, context())
    assert stored(fake, "ada@acme.com").get("managerId") is None
    assert not any("departments" in path for _, path, _ in fake.requests)


@pytest.mark.parametrize(
    ("clash", "field"),
    [({"login": "ADA"}, "login"), ({"mail": "Ada@acme.com"}, "mail")],
)
async def test_a_duplicate_login_or_mail_is_a_conflict_with_lucca_s_words(
    http: httpx.AsyncClient, fake: LuccaFake, clash: dict[str, str], field: str
) -> None:
    fake.add_user(**{**ADA, "mail": "other@acme.com", "login": "other", **clash})
    with pytest.raises(ConflictError) as caught:
        await connector(http).create(ADA, context())
    assert caught.value.status == 400
    assert f"{field}: This {field} is already used by another user." in caught.value.message


async def test_another_validation_error_is_permanent_with_its_field(
    http: httpx.AsyncClient,
) -> None:
    with pytest.raises(PermanentError) as caught:
        await connector(http).create({**ADA, "mail": "not-an-address"}, context())
    assert not isinstance(caught.value, ConflictError)
    assert caught.value.message == (
        "HTTP 400: One or more validation errors occurred.; mail: Invalid value."
    )


async def test_throttling_is_rate_limited_with_retry_after(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    fake.fail_next(429, headers={"Retry-After": "12"}, body={"title": "Too Many Requests"})
    with pytest.raises(RateLimited) as caught:
        await connector(http).create(ADA, context())
    assert caught.value.retry_after == 12


# -- update, deactivate, reactivate, delete ------------------------------------------------


async def test_update_puts_only_the_mapped_fields(http: httpx.AsyncClient, fake: LuccaFake) -> None:
    user = fake.add_user(**ADA, jobTitle="Set by HR")
    account = RemoteAccount(str(user))
    await connector(http).update(account, {"firstName": "Augusta"}, context("update"))
    assert fake.users[user]["firstName"] == "Augusta"
    assert fake.users[user]["jobTitle"] == "Set by HR"


async def test_update_of_a_user_gone_says_it_must_be_relinked(http: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await connector(http).update(RemoteAccount("404"), {"firstName": "A"}, context())
    assert caught.value.status == 404


async def test_deactivate_ends_the_contract_today_and_reactivate_reopens_it(
    http: httpx.AsyncClient, fake: LuccaFake
) -> None:
    user = fake.add_user(**ADA, dtContractStart="2024-01-01T00:00:00")
    account, target = RemoteAccount(str(user)), connector(http)
    await target.deactivate(account, context("deactivate"))
    assert fake.users[user]["dtContractEnd"] == "2025-06-02T00:00:00"
    assert fake.is_active(fake.users[user]) is False
    [found] = await target.find("email", "ada@acme.com")
    assert found.active is False
    await target.reactivate(account, context("reactivate"))
    assert fake.users[user]["dtContractEnd"] is None and fake.is_active(fake.users[user])


async def test_deactivate_and_delete_of_a_user_gone_succeed(http: httpx.AsyncClient) -> None:
    await connector(http).deactivate(RemoteAccount("404"), context("deactivate"))
    await connector(http).delete(RemoteAccount("404"), context("delete"))


async def test_delete_removes_the_user(http: httpx.AsyncClient, fake: LuccaFake) -> None:
    user = fake.add_user(**ADA)
    await connector(http).delete(RemoteAccount(str(user)), context("delete"))
    assert user not in fake.users


# -- the engine: default map, create-only (S4.6) -----------------------------------------


async def test_create_only_connection_creates_then_leaves_hr_edits_but_deactivates(
    engine: Engine,
) -> None:
    """S4.6: after creation HR owns the record; deprovisioning still applies."""
    fake = LuccaFake(KEY, legal_entities=(ENTITY,), roles=(ROLE,))  # the real calendar
    fake.add_department(SALES, "Sales")
    settings = {
        "type": "lucca",
        "base_url": BASE_URL,
        "auth": {"type": "api_key", "key": "${LUCCA_KEY}", "template": "lucca application={key}"},
        "create_only": True,
        "options": OPTIONS,
    }
    harness = Harness(engine, config_with("lucca", settings), httpx.ASGITransport(app=fake.app))
    try:
        user = await harness.create_user("ada", title="Analyst")
        await harness.worker.drain()
        await harness.patch(user, "name.givenName", "Augusta")
        await harness.worker.drain()
        assert stored(fake, "ada@acme.com")["firstName"] == "Ada"
        await harness.patch(user, "active", False)
        await harness.worker.drain()
        assert fake.is_active(stored(fake, "ada@acme.com")) is False
    finally:
        await harness.aclose()
    assert [(m, p) for m, p, _ in fake.requests if m != "GET"] == [
        ("POST", "/api/v3/users"),
        ("PUT", f"/api/v3/users/{stored(fake, 'ada@acme.com')['id']}"),
    ]


def test_default_field_map_parses_and_maps_a_hired_candidate() -> None:
    field_map = FieldMap.parse(dict(LuccaConnector.default_field_map))
    doc = {
        "userName": "ada@acme.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada.l@gmail.com", "type": "home"}],
        "title": "Analyst",
        "urn:scimgw:params:scim:schemas:extension:hr:2.0:User": {"hireDate": "2025-09-01"},
    }
    assert field_map.apply(doc) == {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "mail": "ada@acme.com",
        "login": "ada@acme.com",
        "personalEmail": "ada.l@gmail.com",
        "jobTitle": "Analyst",
        "dtContractStart": "2025-09-01",
    }


# -- options and error reading ---------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{"default_role": 55}, {"default_department_id": 0}, {"timezone": "Mars/Olympus"}],
)
def test_options_refuse_unknown_keys_bad_ids_and_zones(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        LuccaOptions.model_validate(options)


def test_read_lucca_error_reads_problem_details_with_field_errors() -> None:
    body = {"title": "One or more validation errors occurred.", "errors": {"Id": ["Required."]}}
    response = httpx.Response(400, json=body)
    assert read_lucca_error(response) == "One or more validation errors occurred.; Id: Required."
    assert read_lucca_error(httpx.Response(401, json={"detail": "Bad key."})) == "Bad key."
