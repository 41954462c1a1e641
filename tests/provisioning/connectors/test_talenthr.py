"""The TalentHR target (LMS -> HR, seed S2.5) against its contract fake.

The first tests pin the fake itself: it refuses what TalentHR refuses (wrong key, no
``Accept: application/json``, form bodies, a taken email). Then the connector: hire bodies
with names resolved to ids, the hire-date fallback, typed errors, paging, and, through the
whole engine, the create-only rule TalentHR connections run with (S2.2).
"""

import base64
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pydantic
import pytest
from sqlalchemy.engine import Engine

from gateway.scim.models import HR_SCHEMA
from gateway.store.tables import AccountLink
from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
    TargetConnector,
)
from provisioning.connectors.talenthr import (
    DEFAULT_FIELD_MAP,
    TalentHrConnector,
    hire_date,
    read_talenthr_error,
)
from provisioning.errors import (
    AuthError,
    ConflictError,
    MappingError,
    PermanentError,
    RateLimited,
    TargetConfigError,
)
from provisioning.mapping import FieldMap
from tests.fakes.talenthr import TAKEN, TalentHrFake
from tests.provisioning.harness import Harness, config_with

API_KEY = "thr-test-key-31f9"
BASE = "http://talenthr.test/v1"
TODAY = date(2026, 3, 2)
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
CONTEXT = DeliveryContext(
    tenant="acme",
    connection="talenthr",
    resource_type="User",
    resource_id="u-1",
    event_id=1,
    action="create",
)
ADA: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@acme.test",
    "hire_date": "2024-05-01",
    "hire_date_fallback": "2026-01-15T09:30:00Z",
}


def basic(key: str, password: str = "c") -> dict[str, str]:
    token = base64.b64encode(f"{key}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": "application/json"}


@pytest.fixture
def fake() -> TalentHrFake:
    return on(TODAY)


@pytest.fixture
async def raw(fake: TalentHrFake) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client on the fake, without the connector."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as client:
        yield client


def connector(
    fake: TalentHrFake, key: str = API_KEY, today: date = TODAY, **options: Any
) -> TalentHrConnector:
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), auth=httpx.BasicAuth(key, "")
    )
    setup = ConnectorSetup(name="talenthr", base_url=BASE, http=http, options=options)
    return TalentHrConnector(setup, today=lambda: today)


def on(day: date) -> TalentHrFake:
    """A fake whose "today" is ``day`` (terminations take effect on their date)."""
    return TalentHrFake(API_KEY, today=lambda: day)


def terminated(fake: TalentHrFake, on_day: str = "2026-02-27", **extra: Any) -> tuple[int, int]:
    """(manager, employee): an active manager and a leaver who reported to them."""
    boss = fake.add_employee("Grace", "Hopper", "grace@acme.test")
    ident = fake.add_employee(
        "Ada", "Lovelace", "ada@acme.test", reports_to_employee_id=boss, **extra
    )
    fake.employees[ident]["termination_date"] = on_day
    return boss, ident


# -- the fake refuses what TalentHR refuses ---------------------------------------------


async def test_fake_rejects_a_wrong_key_with_an_error_member(raw: httpx.AsyncClient) -> None:
    response = await raw.get(f"{BASE}/job-titles", headers=basic("not-the-key"))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Unauthenticated."


async def test_fake_accepts_any_password_including_blank(raw: httpx.AsyncClient) -> None:
    """apidocs.talenthr.io: the password "can be left blank or set to a random string"."""
    for password in ("", "c", "123"):
        response = await raw.get(f"{BASE}/job-titles", headers=basic(API_KEY, password))
        assert response.status_code == 200


async def test_fake_requires_accept_json(raw: httpx.AsyncClient) -> None:
    """apidocs.talenthr.io: "All calls must have an Accept: application/json header"."""
    headers = basic(API_KEY) | {"Accept": "text/html"}
    response = await raw.get(f"{BASE}/job-titles", headers=headers)
    assert response.status_code == 406


async def test_fake_refuses_a_form_encoded_hire(raw: httpx.AsyncClient) -> None:
    response = await raw.post(f"{BASE}/employees/hire", data=ADA, headers=basic(API_KEY))
    assert response.status_code == 415


async def test_fake_refuses_a_taken_email_case_insensitively(
    raw: httpx.AsyncClient, fake: TalentHrFake
) -> None:
    fake.add_employee("Ada", "Lovelace", "Ada@Acme.test")
    body = {
        **ADA,
        "email": "ada@acme.test",
        "employment_status": {"employment_status_id": 1},
    }
    response = await raw.post(f"{BASE}/employees/hire", json=body, headers=basic(API_KEY))
    assert response.status_code == 422
    assert response.json()["error"]["errors"]["email"] == [TAKEN]


async def test_fake_requires_a_y_m_d_hire_date(raw: httpx.AsyncClient) -> None:
    body = {**ADA, "hire_date": "01/05/2024", "employment_status": {"employment_status_id": 1}}
    response = await raw.post(f"{BASE}/employees/hire", json=body, headers=basic(API_KEY))
    assert response.status_code == 422
    assert "hire_date" in response.json()["error"]["errors"]


async def test_fake_refuses_termination_date_and_asks_for_effective_date(
    raw: httpx.AsyncClient, fake: TalentHrFake
) -> None:
    """§9 [V]: the terminate body's field is ``effective_date``, not ``termination_date``."""
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test")
    url = f"{BASE}/employees/{ident}/terminate"
    refused = await raw.post(url, json={"termination_date": "2026-03-02"}, headers=basic(API_KEY))
    assert refused.status_code == 422
    assert "effective_date" in refused.json()["error"]["errors"]
    assert fake.employees[ident]["termination_date"] is None
    accepted = await raw.post(url, json={"effective_date": "2026-03-02"}, headers=basic(API_KEY))
    assert accepted.status_code == 200 and accepted.json()["data"]["is_terminated"] is True


async def test_fake_keeps_a_future_termination_active_until_its_date(
    raw: httpx.AsyncClient, fake: TalentHrFake
) -> None:
    """§9 [V]: "later date = active until then"."""
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test")
    url = f"{BASE}/employees/{ident}/terminate"
    await raw.post(url, json={"effective_date": "2026-03-31"}, headers=basic(API_KEY))
    assert fake.is_terminated(ident) is False
    shown = await raw.get(f"{BASE}/employees/{ident}", headers=basic(API_KEY))
    assert shown.json()["data"]["termination_date"] == "2026-03-31"
    assert shown.json()["data"]["is_terminated"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"employment_status": {"employment_status_id": 1}}, "reports_to_employee_id"),
        ({"reports_to_employee_id": "BOSS"}, "employment_status.employment_status_id"),
        (
            {"reports_to_employee_id": "SELF", "employment_status": {"employment_status_id": 1}},
            "reports_to_employee_id",
        ),
    ],
)
async def test_fake_rehire_requires_an_active_manager_and_an_employment_status(
    raw: httpx.AsyncClient, fake: TalentHrFake, body: dict[str, Any], field: str
) -> None:
    boss, ident = terminated(fake)
    body = {**body, "hire_date": "2026-03-02"}
    ids = {"BOSS": boss, "SELF": ident}
    if body.get("reports_to_employee_id") in ids:
        body["reports_to_employee_id"] = ids[body["reports_to_employee_id"]]
    url = f"{BASE}/employees/{ident}/rehire"
    response = await raw.post(url, json=body, headers=basic(API_KEY))
    assert response.status_code == 422
    assert field in response.json()["error"]["errors"]
    assert fake.is_terminated(ident)


async def test_fake_rehire_needs_a_hire_date_strictly_after_the_termination(
    raw: httpx.AsyncClient, fake: TalentHrFake
) -> None:
    boss, ident = terminated(fake, on_day="2026-03-02")
    body: dict[str, Any] = {
        "hire_date": "2026-03-02",
        "reports_to_employee_id": boss,
        "employment_status": {"employment_status_id": 1},
    }
    url = f"{BASE}/employees/{ident}/rehire"
    refused = await raw.post(url, json=body, headers=basic(API_KEY))
    assert refused.status_code == 422 and "hire_date" in refused.json()["error"]["errors"]
    body["hire_date"] = "2026-03-03"
    accepted = await raw.post(url, json=body, headers=basic(API_KEY))
    assert accepted.status_code == 200
    assert accepted.json()["data"]["id"] == ident  # the same employee, never a new one
    assert len(fake.employees) == 2


async def test_fake_rehires_only_a_terminated_employee(
    raw: httpx.AsyncClient, fake: TalentHrFake
) -> None:
    boss = fake.add_employee("Grace", "Hopper", "grace@acme.test")
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test")
    body = {
        "hire_date": "2026-03-03",
        "reports_to_employee_id": boss,
        "employment_status": {"employment_status_id": 1},
    }
    response = await raw.post(f"{BASE}/employees/{ident}/rehire", json=body, headers=basic(API_KEY))
    assert response.status_code == 422


async def test_fake_update_requires_names_and_email_even_for_one_field(
    raw: httpx.AsyncClient, fake: TalentHrFake
) -> None:
    """§9 [V]: ``PUT /employees/{id}`` requires first_name, last_name and email."""
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test")
    url = f"{BASE}/employees/{ident}"
    response = await raw.put(url, json={"work_phone": "+30 210"}, headers=basic(API_KEY))
    assert response.status_code == 422
    assert set(response.json()["error"]["errors"]) == {"first_name", "last_name", "email"}
    assert "work_phone" not in fake.employees[ident]


# -- the connector -------------------------------------------------------------------


def test_connector_implements_the_protocol_and_its_default_map_parses(
    fake: TalentHrFake,
) -> None:
    assert isinstance(connector(fake), TargetConnector)
    FieldMap.parse(dict(DEFAULT_FIELD_MAP))


def test_unknown_options_are_refused(fake: TalentHrFake) -> None:
    with pytest.raises(pydantic.ValidationError):
        connector(fake, branch="all")


async def test_check_with_a_wrong_key_is_an_auth_error(fake: TalentHrFake) -> None:
    with pytest.raises(AuthError) as caught:
        await connector(fake, key="revoked").check()
    assert "Unauthenticated." in caught.value.message


async def test_check_names_a_missing_employment_status(fake: TalentHrFake) -> None:
    with pytest.raises(TargetConfigError, match="employment status named 'Seasonal'"):
        await connector(fake, employment_status="Seasonal").check()


async def test_create_hires_with_names_resolved_to_ids(fake: TalentHrFake) -> None:
    payload = {**ADA, "job_title": "Engineer", "department": "learning", "location": "Remote"}
    account = await connector(fake, employment_status="Part-Time").create(payload, CONTEXT)
    employee = fake.employees[int(account.id)]
    assert account.active is True
    assert employee["job_title_id"] == 2 and employee["location_id"] == 2
    assert employee["department_id"] == 3  # "learning" matched "Learning"
    assert employee["employment_status_id"] == 2
    assert employee["hire_date"] == "2024-05-01"
    assert employee["is_existing"] is True and employee["prevent_email"] is False


async def test_lookups_are_cached_per_instance(fake: TalentHrFake) -> None:
    target = connector(fake)
    await target.create({**ADA, "job_title": "Engineer"}, CONTEXT)
    await target.create({**ADA, "email": "bob@acme.test", "job_title": "Trainer"}, CONTEXT)
    assert fake.calls("GET", "/job-titles") == ["/v1/job-titles"]
    assert fake.calls("GET", "/employment-statuses") == ["/v1/employment-statuses"]


async def test_an_unknown_name_is_a_config_error_naming_it(fake: TalentHrFake) -> None:
    with pytest.raises(TargetConfigError, match="no department named 'Sales'"):
        await connector(fake).create({**ADA, "department": "Sales"}, CONTEXT)
    assert fake.employees == {}


async def test_a_name_created_later_is_found_on_retry(fake: TalentHrFake) -> None:
    """TargetConfigError is retried: once the admin adds the entry, the next attempt
    reloads the list instead of trusting the cache."""
    target = connector(fake)
    with pytest.raises(TargetConfigError):
        await target.create({**ADA, "division": "Asia"}, CONTEXT)
    fake.lists["divisions"][3] = "Asia"
    account = await target.create({**ADA, "division": "Asia"}, CONTEXT)
    assert fake.employees[int(account.id)]["division_id"] == 3


async def test_hire_sends_the_managers_remote_id_as_an_integer(fake: TalentHrFake) -> None:
    boss = fake.add_employee("Grace", "Hopper", "grace@acme.test")
    account = await connector(fake).create({**ADA, "reports_to_employee_id": str(boss)}, CONTEXT)
    assert fake.employees[int(account.id)]["reports_to_employee_id"] == boss


async def test_a_taken_email_is_a_conflict(fake: TalentHrFake) -> None:
    fake.add_employee("Ada", "Lovelace", "ADA@acme.test")
    with pytest.raises(ConflictError, match="already been taken"):
        await connector(fake).create(ADA, CONTEXT)


async def test_other_validation_errors_are_permanent_with_the_vendor_words(
    fake: TalentHrFake,
) -> None:
    with pytest.raises(PermanentError) as caught:
        await connector(fake).create({**ADA, "email": "not-an-email"}, CONTEXT)
    assert not isinstance(caught.value, ConflictError)
    assert "email: The email must be a valid email address." in caught.value.message


@pytest.mark.parametrize(
    ("given", "fallback", "expected"),
    [
        ("2024-05-01", "2026-01-15T09:30:00Z", "2024-05-01"),
        ("2024-05-01T23:30:00-05:00", None, "2024-05-01"),
        ("soon", "2026-01-15T09:30:00Z", "2026-01-15"),
        ("0000-00-00", "2026-01-15T09:30:00+00:00", "2026-01-15"),
        (None, "2026-01-15T09:30:00Z", "2026-01-15"),
    ],
)
def test_hire_date_falls_back_to_the_creation_date(
    given: str | None, fallback: str | None, expected: str
) -> None:
    """S2.5: "if the LMS has no valid hireDate field, use the LMS user's creation date"."""
    payload = {"hire_date": given, "hire_date_fallback": fallback}
    assert hire_date({k: v for k, v in payload.items() if v}) == expected


def test_no_hire_date_at_all_is_a_mapping_error_naming_no_value() -> None:
    with pytest.raises(MappingError) as caught:
        hire_date({"hire_date": "1990-13-45x"})
    assert "1990" not in caught.value.message


async def test_find_pages_through_the_directory() -> None:
    small = TalentHrFake(API_KEY, page_limit=2)
    for n in range(5):
        small.add_employee(f"P{n}", "Tester", f"p{n}@acme.test")
    [found] = await connector(small).find("email", "P4@ACME.test")
    assert found.fields["first_name"] == "P4" and found.active is True
    assert len(small.calls("GET", "/directory")) == 4  # 2 + 2 + 1, then an empty page


async def test_find_reports_terminated_employees_as_inactive(fake: TalentHrFake) -> None:
    fake.add_employee("Ada", "Lovelace", "ada@acme.test", termination_date="2025-12-31")
    [found] = await connector(fake).find("email", "ada@acme.test")
    assert found.active is False


async def test_find_by_another_key_is_refused(fake: TalentHrFake) -> None:
    with pytest.raises(PermanentError):
        await connector(fake).find("employeeNumber", "E1")


async def test_update_puts_personal_fields_only(fake: TalentHrFake) -> None:
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test", hire_date="2020-01-01")
    account = RemoteAccount(id=str(ident))
    await connector(fake).update(account, {**ADA, "first_name": "Augusta"}, CONTEXT)
    assert fake.employees[ident]["first_name"] == "Augusta"
    assert fake.employees[ident]["hire_date"] == "2020-01-01"


async def test_update_of_one_field_sends_the_names_and_email_talenthr_has(
    fake: TalentHrFake,
) -> None:
    """A field map without the names still updates: the required three come from TalentHR."""
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test")
    await connector(fake).update(RemoteAccount(id=str(ident)), {"work_phone": "+30 210"}, CONTEXT)
    [sent] = fake.sent("PUT")
    assert sent == {
        "work_phone": "+30 210",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@acme.test",
    }
    assert fake.employees[ident]["work_phone"] == "+30 210"


async def test_update_of_a_vanished_employee_says_so(fake: TalentHrFake) -> None:
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await connector(fake).update(RemoteAccount(id="999"), ADA, CONTEXT)
    assert caught.value.status == 404


async def test_deactivate_terminates_with_todays_effective_date(fake: TalentHrFake) -> None:
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test")
    await connector(fake, termination_type="resignation").deactivate(
        RemoteAccount(id=str(ident)), CONTEXT
    )
    assert fake.sent("POST", "/employees") == [
        {"effective_date": "2026-03-02", "termination_type": "resignation"}
    ]
    assert fake.is_terminated(ident)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_the_effective_date_is_today_in_the_company_time_zone(
    fake: TalentHrFake, zone: str
) -> None:
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test")
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), auth=httpx.BasicAuth(API_KEY, "")
    )
    setup = ConnectorSetup(name="talenthr", base_url=BASE, http=http, options={"timezone": zone})
    await TalentHrConnector(setup).deactivate(RemoteAccount(id=str(ident)), CONTEXT)
    [sent] = fake.sent("POST", "/employees")
    assert sent["effective_date"] == datetime.now(ZoneInfo(zone)).date().isoformat()


async def test_deactivate_leaves_a_terminated_or_vanished_employee_alone(
    fake: TalentHrFake,
) -> None:
    """TalentHR refuses a second termination [A]; deactivation must stay idempotent."""
    _, ident = terminated(fake)
    target = connector(fake)
    await target.deactivate(RemoteAccount(id=str(ident)), CONTEXT)
    await target.deactivate(RemoteAccount(id="999"), CONTEXT)
    assert fake.calls("POST") == []
    assert fake.employees[ident]["termination_date"] == "2026-02-27"


async def test_reactivate_rehires_the_same_employee_under_the_former_manager(
    fake: TalentHrFake,
) -> None:
    boss, ident = terminated(fake)
    await connector(fake, employment_status="Part-Time").reactivate(
        RemoteAccount(id=str(ident)), CONTEXT
    )
    assert fake.sent("POST", f"/employees/{ident}/rehire") == [
        {
            "hire_date": "2026-03-02",
            "reports_to_employee_id": boss,
            "employment_status": {"employment_status_id": 2},
            "prevent_email": False,
            "is_existing": True,
        }
    ]
    assert not fake.is_terminated(ident) and len(fake.employees) == 2


async def test_rehire_the_day_of_the_termination_is_dated_the_next_day() -> None:
    """§9 [V]: the rehire date must be strictly after the termination's effective date."""
    fake = on(TODAY)
    fake.add_employee("Grace", "Hopper", "grace@acme.test")
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test", reports_to_employee_id=101)
    target, account = connector(fake), RemoteAccount(id=str(ident))
    await target.deactivate(account, CONTEXT)
    await target.reactivate(account, CONTEXT)
    assert fake.employees[ident]["hire_date"] == "2026-03-03"
    assert fake.employees[ident]["termination_date"] is None


async def test_rehire_falls_back_to_the_configured_manager(fake: TalentHrFake) -> None:
    boss, ident = terminated(fake)
    fake.employees[boss]["termination_date"] = "2026-01-31"  # the former manager left
    other = fake.add_employee("Alan", "Turing", "alan@acme.test")
    await connector(fake, rehire_manager_id=other).reactivate(RemoteAccount(id=str(ident)), CONTEXT)
    assert fake.employees[ident]["reports_to_employee_id"] == other


async def test_rehire_without_an_active_manager_names_the_option(fake: TalentHrFake) -> None:
    boss, ident = terminated(fake)
    del fake.employees[boss]
    with pytest.raises(TargetConfigError, match="options.rehire_manager_id"):
        await connector(fake).reactivate(RemoteAccount(id=str(ident)), CONTEXT)
    assert fake.is_terminated(ident)


async def test_reactivate_leaves_an_employee_who_is_not_terminated_alone(
    fake: TalentHrFake,
) -> None:
    """A future termination is not in effect yet: there is nothing to rehire."""
    ident = fake.add_employee("Ada", "Lovelace", "ada@acme.test", termination_date="2026-04-30")
    await connector(fake).reactivate(RemoteAccount(id=str(ident)), CONTEXT)
    assert fake.calls("POST") == []


async def test_reactivate_of_a_vanished_employee_says_so(fake: TalentHrFake) -> None:
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await connector(fake).reactivate(RemoteAccount(id="999"), CONTEXT)
    assert caught.value.status == 404


async def test_delete_is_refused(fake: TalentHrFake) -> None:
    with pytest.raises(PermanentError, match="deprovision.action: deactivate"):
        await connector(fake).delete(RemoteAccount(id="1"), CONTEXT)


async def test_beyond_the_rate_limit_is_rate_limited_with_retry_after() -> None:
    now = [1000.0]
    fake = TalentHrFake(API_KEY, rate_limit=2, window=60, clock=lambda: now[0])
    target = connector(fake)
    await target.find("email", "x@acme.test")  # one call each: an empty directory
    await target.find("email", "x@acme.test")
    now[0] += 15
    with pytest.raises(RateLimited) as caught:
        await target.check()
    assert caught.value.status == 429 and caught.value.retry_after == 45


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "Forbidden"}, "Forbidden"),
        ({"error": {"message": "Nope", "status_code": 403}}, "Nope"),
        (
            {"error": {"message": "Invalid", "errors": {"email": ["Bad.", "Taken."]}}},
            "Invalid (email: Bad. Taken.)",
        ),
        ({"message": "Server Error"}, "Server Error"),
    ],
)
def test_read_talenthr_error(body: dict[str, Any], expected: str) -> None:
    assert read_talenthr_error(httpx.Response(400, json=body)) == expected


# -- through the engine: the create-only rule (S2.2) and the hire date (S2.5) -----------


@pytest.fixture
async def harness(
    engine: Engine, fake: TalentHrFake, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.setenv("TALENTHR_API_KEY", API_KEY)
    connection = {
        "type": "talenthr",
        "base_url": BASE,
        "auth": {"type": "basic", "username": "${TALENTHR_API_KEY}"},
        "create_only": True,
        "matching": {"key": "email", "adopt_existing": True},
    }
    harness = Harness(engine, config_with("talenthr", connection), httpx.ASGITransport(fake.app))
    yield harness
    await harness.aclose()


async def test_create_only_never_updates_a_hired_employee(
    harness: Harness, fake: TalentHrFake
) -> None:
    user = await harness.create_user("ada")
    await harness.worker.drain()
    await harness.patch(user, "name.givenName", "Augusta")
    await harness.worker.drain()
    employee = fake.by_email("ada@acme.com")
    assert employee is not None and employee["first_name"] == "Ada"
    assert fake.calls("PUT") == []


async def test_create_only_adopts_an_existing_employee_without_touching_it(
    harness: Harness, fake: TalentHrFake
) -> None:
    ident = fake.add_employee("Ada", "Byron", "ADA@acme.com", hire_date="2019-09-01")
    user = await harness.create_user("ada")
    await harness.worker.drain()
    [link] = harness.rows(AccountLink, resource_id=user)
    assert link.remote_id == str(ident) and link.state == "active"
    assert fake.employees[ident]["last_name"] == "Byron"
    assert fake.calls("PUT") == [] and fake.calls("POST", "/employees/hire") == []


async def test_create_only_still_terminates_a_leaver(harness: Harness, fake: TalentHrFake) -> None:
    user = await harness.create_user("ada")
    await harness.worker.drain()
    await harness.patch(user, "active", False)
    await harness.worker.drain()
    employee = fake.by_email("ada@acme.com")
    assert employee is not None and employee["termination_date"] is not None


async def test_hire_date_comes_from_the_hr_extension(harness: Harness, fake: TalentHrFake) -> None:
    extra = {"schemas": [CORE, HR_SCHEMA], HR_SCHEMA: {"hireDate": "2024-05-01"}}
    await harness.create_user("ada", **extra)
    await harness.worker.drain()
    employee = fake.by_email("ada@acme.com")
    assert employee is not None and employee["hire_date"] == "2024-05-01"


async def test_a_user_without_a_hire_date_falls_back_to_the_users_creation_date(
    harness: Harness, fake: TalentHrFake
) -> None:
    # The gateway refuses a hireDate that is not a date (tests/gateway/scim/test_validation.py),
    # so the fallback is reached by a user who has none.
    extra = {"schemas": [CORE, HR_SCHEMA], HR_SCHEMA: {"language": "en"}}
    user = await harness.create_user("ada", **extra)
    created = (await harness.scim.get(f"/Users/{user}")).json()["meta"]["created"]
    await harness.worker.drain()
    employee = fake.by_email("ada@acme.com")
    expected = datetime.fromisoformat(created).astimezone(UTC).date().isoformat()
    assert employee is not None and employee["hire_date"] == expected
