"""Tribal Habits, connector and contract fake (docs/connectors/tribalhabits.md).

The fake is tested first for what the real API refuses (wrong key, a scheme before the key,
form bodies, duplicates, bad custom field values, the rate limit's one-minute block), then
the connector against it, through the engine's real HTTP client and ``api_key`` auth.
"""

from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from gateway.config import TargetConnection
from gateway.scim.models import ENTERPRISE_SCHEMA, HR_SCHEMA
from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
    TargetConnector,
)
from provisioning.connectors.tribalhabits import (
    BLOCK_SECONDS,
    DEFAULT_FIELD_MAP,
    TribalHabitsConnector,
    TribalHabitsOptions,
)
from provisioning.errors import (
    AuthError,
    ConflictError,
    MappingError,
    PermanentError,
    RateLimited,
    TransientError,
)
from provisioning.mapping import FieldMap, MappingContext
from provisioning.targets.client import build_client
from tests.fakes.tribalhabits import CustomField, TribalHabitsFake
from tests.provisioning.harness import Harness, config_with

API_KEY = "th-test-key-1f9e27c3"
BASE_URL = "https://acme.tribalhabits.test/papi"
ENTERPRISE = ENTERPRISE_SCHEMA
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
CONTEXT = DeliveryContext("acme", "lms", "User", "u-1", 1, "create")
PAYLOAD = {
    "user_name.email": "ada@acme.com",
    "user_name.employeeNumber": "E-1001",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@acme.com",
    "manager_email": None,
    "active": True,
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def api_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TH_KEY", API_KEY)
    monkeypatch.setenv("TH_WRONG_KEY", "th-another-org")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> TribalHabitsFake:
    fields = {
        "Location": CustomField("string"),
        "StartDate": CustomField("date"),
        "Teams": CustomField("list", ("Sales", "Support")),
    }
    return TribalHabitsFake(API_KEY, custom_fields=fields, clock=clock)


@pytest.fixture
async def raw(fake: TribalHabitsFake) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no auth, to see what the fake answers to any request."""
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


Build = Callable[..., TribalHabitsConnector]


@pytest.fixture
async def build(fake: TribalHabitsFake) -> AsyncIterator[Build]:
    clients: list[httpx.AsyncClient] = []

    def make(key: str = "${TH_KEY}", **options: Any) -> TribalHabitsConnector:
        settings = TargetConnection.model_validate(
            {
                "type": "tribalhabits",
                "base_url": BASE_URL,
                "auth": {"type": "api_key", "key": key},
            }
        )
        client = build_client(settings, transport=httpx.ASGITransport(app=fake.app))
        clients.append(client)
        setup = ConnectorSetup(name="lms", base_url=BASE_URL, http=client, options=options)
        return TribalHabitsConnector(setup)

    yield make
    for client in clients:
        await client.aclose()


def user(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "user_name": f"{name}@acme.com",
        "first_name": name.title(),
        "last_name": "Tester",
        "email": f"{name}@acme.com",
        **extra,
    }


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": key}


# -- the fake refuses what the vendor refuses --------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "th-wrong"}, {"Authorization": f"Bearer {API_KEY}"}],
    ids=["missing", "wrong", "bearer-scheme"],
)
async def test_fake_wants_the_raw_key_in_authorization(
    raw: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """[V] ``Authorization: my_api_key``: the key alone, no scheme."""
    response = await raw.get("/users", headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]
    assert (await raw.get("/users", headers=auth())).status_code == 200


async def test_fake_refuses_a_form_encoded_create(raw: httpx.AsyncClient) -> None:
    response = await raw.post("/users", data=user("ada"), headers=auth())
    assert response.status_code == 400
    assert response.json() == {"error": "Content-Type must be application/json"}
    assert (await raw.post("/users", json=user("ada"), headers=auth())).status_code == 201


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (user("ada", email="ada.l@acme.com"), "User name has already been taken"),
        (user("ada", user_name="E-2", email="ADA@acme.com"), "Email has already been taken"),
    ],
    ids=["user_name", "email-case-insensitive"],
)
async def test_fake_keeps_user_name_and_email_unique(
    raw: httpx.AsyncClient, second: dict[str, Any], message: str
) -> None:
    assert (await raw.post("/users", json=user("ada"), headers=auth())).status_code == 201
    response = await raw.post("/users", json=second, headers=auth())
    assert response.status_code == 409
    assert response.json() == {"error": message}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"X-StartDate": "2024-13-01"}, "X-StartDate is not a valid date"),
        ({"X-Teams": "Sales;Marketing"}, "X-Teams is not a valid list"),
        ({"X-Shoe": "42"}, "Unknown custom field: X-Shoe"),
        ({"department": "R&D"}, "Unknown attribute: department"),
        ({"first_name": ""}, "first_name can't be blank"),
    ],
)
async def test_fake_validates_fields_as_documented(
    raw: httpx.AsyncClient, fields: dict[str, Any], message: str
) -> None:
    response = await raw.post("/users", json=user("ada") | fields, headers=auth())
    assert response.status_code == 422
    assert response.json() == {"error": message}


async def test_fake_takes_every_documented_date_form_and_existing_list_items(
    raw: httpx.AsyncClient,
) -> None:
    for n, day in enumerate(["23/01/1980", "23/01/80", "1980-01-23"]):
        body = user(f"u{n}", **{"X-StartDate": day, "X-Teams": "Sales;Support"})
        assert (await raw.post("/users", json=body, headers=auth())).status_code == 201


async def test_fake_pages_the_user_list_25_at_a_time(
    raw: httpx.AsyncClient, fake: TribalHabitsFake
) -> None:
    for n in range(60):
        fake.add_user(**user(f"user{n:02}"))
    page = (await raw.get("/users", params={"page": 3}, headers=auth())).json()
    assert {k: v for k, v in page.items() if k != "records"} == {
        "total_records": 60,
        "max_per_page": 25,
        "current_page": 3,
        "total_pages": 3,
    }
    assert [r["user_name"] for r in page["records"]][0] == "user50@acme.com"
    assert len(page["records"]) == 10
    assert page["records"][0]["X-Location"] is None  # configured fields are always listed


async def test_fake_blocks_for_a_whole_minute_after_300_requests(
    raw: httpx.AsyncClient, clock: Clock
) -> None:
    """[V] Above 300 requests a minute, 429 for 1 minute before any further request."""
    for _ in range(300):
        assert (await raw.get("/users", headers=auth())).status_code == 200
    refused = await raw.get("/users", headers=auth())
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    clock.now += 59
    assert (await raw.get("/users", headers=auth())).status_code == 429
    clock.now += 1.5
    assert (await raw.get("/users", headers=auth())).status_code == 200


async def test_fake_update_changes_only_given_fields_and_keeps_user_name(
    raw: httpx.AsyncClient, fake: TribalHabitsFake
) -> None:
    fake.add_user(**user("ada"))
    response = await raw.put("/users/ada%40acme.com", json={"last_name": "L"}, headers=auth())
    assert response.json()["first_name"] == "Ada" and response.json()["last_name"] == "L"
    renamed = await raw.put("/users/ada%40acme.com", json={"user_name": "x"}, headers=auth())
    assert renamed.status_code == 422
    missing = await raw.put("/users/bob%40acme.com", json={"active": False}, headers=auth())
    assert missing.status_code == 404 and missing.json() == {"error": "User not found"}


# -- options and the default field map ---------------------------------------------------


def test_connector_satisfies_the_protocol(build: Build) -> None:
    assert isinstance(build(), TargetConnector)


@pytest.mark.parametrize("options", [{"username_from": "login"}, {"branch": "1"}])
def test_options_refuse_unknown_policies_and_keys(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TribalHabitsOptions.model_validate(options)


def test_default_map_gives_every_username_candidate_and_the_manager_email() -> None:
    doc = {
        "userName": "Ada.Lovelace@ACME.com",
        "externalId": "ec-77",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "Ada.Lovelace@ACME.com", "type": "work"}],
        ENTERPRISE: {"employeeNumber": "E-1001", "manager": {"value": "m-1"}},
    }
    manager = {"emails": [{"value": "Grace@ACME.com", "type": "work"}]}
    payload = FieldMap.parse(dict(DEFAULT_FIELD_MAP)).apply(doc, MappingContext(manager=manager))
    assert payload == {
        "user_name.email": "ada.lovelace@acme.com",
        "user_name.userName": "ada.lovelace@acme.com",
        "user_name.employeeNumber": "E-1001",
        "user_name.externalId": "ec-77",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada.lovelace@acme.com",
        "manager_email": "grace@acme.com",
    }
    no_manager = FieldMap.parse(dict(DEFAULT_FIELD_MAP)).apply(doc | {ENTERPRISE: {}})
    assert no_manager["manager_email"] is None  # sent as null: clears a removed manager


# -- the connector ---------------------------------------------------------------------


async def test_check_passes_with_the_key_and_raises_auth_error_without(build: Build) -> None:
    await build().check()
    with pytest.raises(AuthError) as caught:
        await build("${TH_WRONG_KEY}").check()
    assert caught.value.status == 401


async def test_check_on_a_base_url_that_is_not_the_api_is_permanent(
    build: Build, fake: TribalHabitsFake
) -> None:
    fake.fail_next(200, body="<html>Sign in</html>")
    with pytest.raises(PermanentError, match="without a JSON body"):
        await build().check()


async def test_a_redirect_is_not_taken_for_a_delivered_write(
    build: Build, fake: TribalHabitsFake
) -> None:
    """A vanity domain moved elsewhere answers 301: the user was not updated."""
    fake.fail_next(301, headers={"Location": "https://learn.acme.com/papi/users/a"})
    with pytest.raises(PermanentError, match="redirects"):
        await build().deactivate(RemoteAccount(id="ada@acme.com"), CONTEXT)


async def test_create_sends_the_work_email_as_user_name_with_the_raw_key(
    build: Build, fake: TribalHabitsFake
) -> None:
    account = await build().create(PAYLOAD, CONTEXT)
    assert account == RemoteAccount(id="ada@acme.com", active=True, fields=account.fields)
    stored = fake.users["ada@acme.com"]
    assert stored["user_name"] == "ada@acme.com" and stored["manager_email"] is None
    assert "user_name.employeeNumber" not in stored
    assert fake.requests[-1].headers["authorization"] == API_KEY
    assert fake.requests[-1].headers["content-type"] == "application/json"


async def test_employee_number_policy_sends_the_hr_id_as_user_name(
    build: Build, fake: TribalHabitsFake
) -> None:
    """S5.2: people with personal emails get their HR id as username."""
    connector = build(username_from="employeeNumber")
    account = await connector.create(PAYLOAD, CONTEXT)
    assert account.id == "E-1001"
    assert fake.users["e-1001"]["email"] == "ada@acme.com"
    [found] = await connector.find("employeeNumber", "E-1001")
    assert found.id == "E-1001"
    assert fake.requests[-1].path == "/papi/users/E-1001"


async def test_an_explicit_user_name_field_overrides_the_policy(
    build: Build, fake: TribalHabitsFake
) -> None:
    await build().create(PAYLOAD | {"user_name": "ada.l"}, CONTEXT)
    assert "ada.l" in fake.users


async def test_create_without_a_value_for_the_policy_is_a_mapping_error(build: Build) -> None:
    payload = {k: v for k, v in PAYLOAD.items() if k != "user_name.employeeNumber"}
    with pytest.raises(MappingError, match="username_from is 'employeeNumber'"):
        await build(username_from="employeeNumber").create(payload, CONTEXT)


async def test_custom_fields_are_sent_as_x_fields_and_lists_joined(
    build: Build, fake: TribalHabitsFake
) -> None:
    """S5.3: HR fields mapped to ``X-<name>``; [V] list items joined by ``;``."""
    extra = {"X-Location": "Brisbane", "X-Teams": ["Sales", "Support"], "X-StartDate": None}
    await build().create(PAYLOAD | extra, CONTEXT)
    stored = fake.users["ada@acme.com"]
    assert stored["X-Location"] == "Brisbane" and stored["X-Teams"] == "Sales;Support"


async def test_dates_in_a_payload_go_out_in_an_accepted_form(
    build: Build, fake: TribalHabitsFake
) -> None:
    await build().create(PAYLOAD | {"X-StartDate": date(2024, 3, 1)}, CONTEXT)
    assert fake.users["ada@acme.com"]["X-StartDate"] == "2024-03-01"


async def test_a_field_the_api_does_not_have_is_a_mapping_error_before_any_call(
    build: Build, fake: TribalHabitsFake
) -> None:
    with pytest.raises(MappingError, match="department: not a Tribal Habits user field"):
        await build().create(PAYLOAD | {"department": "R&D"}, CONTEXT)
    assert fake.requests == []


async def test_an_unknown_custom_field_dead_letters_with_the_vendor_message(
    build: Build,
) -> None:
    with pytest.raises(PermanentError, match="Unknown custom field: X-Shoe") as caught:
        await build().create(PAYLOAD | {"X-Shoe": "42"}, CONTEXT)
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("clash", "message"),
    [({"user_name": "ada@acme.com", "email": "a@x.com"}, "User name"), ({}, "Email")],
)
async def test_create_of_a_taken_user_name_or_email_is_a_conflict(
    build: Build, fake: TribalHabitsFake, clash: dict[str, str], message: str
) -> None:
    fake.add_user(**(user("someone", email="ada@acme.com") | clash))
    with pytest.raises(ConflictError, match=f"HTTP 409: {message} has already been taken"):
        await build().create(PAYLOAD, CONTEXT)


async def test_find_by_the_policy_key_is_one_case_insensitive_get(
    build: Build, fake: TribalHabitsFake
) -> None:
    fake.add_user(**user("ada"))
    [found] = await build().find("email", "Ada@ACME.com")
    assert found.id == "ada@acme.com" and found.active is True
    assert len(fake.requests) == 1 and fake.requests[0].path == "/papi/users/ada@acme.com"
    assert await build().find("email", "nobody@acme.com") == []


async def test_find_by_email_under_an_hr_id_policy_reads_every_page(
    build: Build, fake: TribalHabitsFake
) -> None:
    for n in range(60):
        fake.add_user(**user(f"user{n:02}", user_name=f"E-{n}"))
    [found] = await build(username_from="employeeNumber").find("email", "USER55@acme.com")
    assert found.id == "E-55"
    assert [seen.query for seen in fake.requests] == ["page=1", "page=2", "page=3"]


async def test_find_by_a_key_the_api_cannot_search_is_permanent(build: Build) -> None:
    with pytest.raises(PermanentError, match="not by externalId"):
        await build().find("externalId", "ec-77")


async def test_update_puts_the_fields_without_touching_user_name(
    build: Build, fake: TribalHabitsFake
) -> None:
    fake.add_user(**user("ada", manager_email="old.boss@acme.com"))
    account = RemoteAccount(id="ada@acme.com")
    changed = PAYLOAD | {"first_name": "Augusta", "user_name.email": "augusta@acme.com"}
    result = await build().update(account, changed, CONTEXT)
    assert result.id == "ada@acme.com"
    stored = fake.users["ada@acme.com"]
    assert stored["first_name"] == "Augusta" and stored["manager_email"] is None
    assert fake.requests[-1].method == "PUT" and b"user_name" not in fake.requests[-1].body


async def test_update_of_a_user_gone_from_the_portal_says_so(build: Build) -> None:
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await build().update(RemoteAccount(id="ghost@acme.com"), PAYLOAD, CONTEXT)
    assert caught.value.status == 404


async def test_deactivate_and_reactivate_set_active(build: Build, fake: TribalHabitsFake) -> None:
    """S5.1: terminated users are deactivated (``active: false``), not deleted."""
    fake.add_user(**user("ada"))
    account, connector = RemoteAccount(id="ada@acme.com"), build()
    await connector.deactivate(account, CONTEXT)
    await connector.deactivate(account, CONTEXT)
    assert fake.users["ada@acme.com"]["active"] is False
    await connector.reactivate(account, CONTEXT)
    assert fake.users["ada@acme.com"]["active"] is True


async def test_deactivating_or_deleting_a_missing_user_is_not_an_error(build: Build) -> None:
    ghost = RemoteAccount(id="ghost@acme.com")
    await build().deactivate(ghost, CONTEXT)
    await build().delete(ghost, CONTEXT)
    with pytest.raises(PermanentError, match="no longer exists"):
        await build().reactivate(ghost, CONTEXT)


async def test_delete_deactivates_because_the_api_cannot_delete(
    build: Build, fake: TribalHabitsFake
) -> None:
    fake.add_user(**user("ada"))
    await build().delete(RemoteAccount(id="ada@acme.com"), CONTEXT)
    assert fake.users["ada@acme.com"]["active"] is False


async def test_the_minute_block_is_rate_limited_for_sixty_seconds(
    build: Build, fake: TribalHabitsFake
) -> None:
    """[V] the 429 carries no Retry-After; the block lasts one minute."""
    fake.rate_limit = 1
    connector = build()
    await connector.check()
    with pytest.raises(RateLimited) as caught:
        await connector.check()
    assert caught.value.retry_after == BLOCK_SECONDS and caught.value.status == 429


async def test_a_retry_after_header_wins_over_the_minute(
    build: Build, fake: TribalHabitsFake
) -> None:
    fake.fail_next(429, headers={"Retry-After": "7"}, body={"error": "slow down"})
    with pytest.raises(RateLimited) as caught:
        await build().create(PAYLOAD, CONTEXT)
    assert caught.value.retry_after == 7


async def test_server_errors_are_transient_and_keep_the_message(
    build: Build, fake: TribalHabitsFake
) -> None:
    fake.fail_next(503, body={"errors": ["maintenance", "back soon"]})
    with pytest.raises(TransientError, match="HTTP 503: maintenance; back soon") as caught:
        await build().create(PAYLOAD, CONTEXT)
    assert not isinstance(caught.value, RateLimited)


async def test_rails_style_error_bodies_are_read_field_by_field(
    build: Build, fake: TribalHabitsFake
) -> None:
    fake.fail_next(422, body={"errors": {"email": ["is invalid"], "last_name": "is too long"}})
    with pytest.raises(PermanentError, match="email is invalid; last_name is too long"):
        await build().create(PAYLOAD, CONTEXT)


# -- through the engine: seed integration S5 ---------------------------------------------


def lms_connection(**settings: Any) -> dict[str, Any]:
    return {
        "type": "tribalhabits",
        "base_url": BASE_URL,
        "auth": {"type": "api_key", "key": "${TH_KEY}"},
        "rate_limit": "300/min",
        **settings,
    }


@pytest.fixture
async def s5(engine: Engine, fake: TribalHabitsFake) -> AsyncIterator[Callable[..., Harness]]:
    harnesses: list[Harness] = []

    def make(**settings: Any) -> Harness:
        config = config_with("lms", lms_connection(**settings))
        harness = Harness(engine, config, httpx.ASGITransport(app=fake.app))
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        await harness.aclose()


def hr_user(number: str, manager: str | None = None, **enterprise: Any) -> dict[str, Any]:
    extension = {"employeeNumber": number, **enterprise}
    if manager:
        extension["manager"] = {"value": manager}
    return {"schemas": [CORE, ENTERPRISE], ENTERPRISE: extension}


async def test_s5_hr_id_usernames_manager_email_and_deactivation_end_to_end(
    s5: Callable[..., Harness], fake: TribalHabitsFake
) -> None:
    """S5.1, S5.2, S5.3: HR ids as usernames, the manager's email, leavers deactivated."""
    harness = s5(options={"username_from": "employeeNumber"}, matching={"key": "employeeNumber"})
    boss = await harness.create_user("grace", **hr_user("E-1"))
    ada = await harness.create_user("ada", **hr_user("E-2", manager=boss))
    await harness.worker.drain()
    assert fake.users["e-2"]["user_name"] == "E-2"
    assert fake.users["e-2"]["manager_email"] == "grace@acme.com"
    await harness.patch(ada, "active", False)
    await harness.worker.drain()
    assert fake.users["e-2"]["active"] is False
    assert fake.users["e-1"]["active"] is True


async def test_s5_custom_fields_from_a_field_map_reach_x_fields(
    s5: Callable[..., Harness], fake: TribalHabitsFake
) -> None:
    """S5.3: location and start date as ``X-`` custom fields, the date as dd/mm/yyyy [V]."""
    field_map = dict(DEFAULT_FIELD_MAP) | {
        "X-Location": "enterprise:department",
        "X-StartDate": {"from": "hr:hireDate", "transform": [{"date": "%d/%m/%Y"}]},
    }
    harness = s5(field_map=field_map)
    extra = hr_user("E-2", department="Brisbane") | {HR_SCHEMA: {"hireDate": "2024-03-01"}}
    extra["schemas"] = [CORE, ENTERPRISE, HR_SCHEMA]
    await harness.create_user("ada", **extra)
    await harness.worker.drain()
    stored = fake.users["ada@acme.com"]
    assert stored["X-Location"] == "Brisbane" and stored["X-StartDate"] == "01/03/2024"


async def test_s5_an_account_made_by_hand_is_adopted_when_allowed(
    s5: Callable[..., Harness], fake: TribalHabitsFake
) -> None:
    """S5.5: the initial load links users who already have an account, by email."""
    fake.add_user(**user("ada", first_name="Adaa", active=False))
    harness = s5(matching={"key": "email", "adopt_existing": True})
    await harness.create_user("ada")
    await harness.worker.drain()
    assert len(fake.users) == 1
    assert fake.users["ada@acme.com"]["first_name"] == "Ada"
    assert fake.users["ada@acme.com"]["active"] is True
