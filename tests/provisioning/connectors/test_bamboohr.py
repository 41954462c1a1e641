"""The BambooHR target against its contract fake (target-apis.md §3).

First the fake: it refuses what BambooHR refuses (a wrong key, a Content-Type with a
charset, a duplicate work email, a list value that is not an option) the way BambooHR
does, with the message in ``X-BambooHR-Error-Message`` and an empty body. Then the
connector: the id from ``Location``, typed errors, 503 *and* 429 as throttling, matching
through a custom report that includes inactive employees, and a checkbox written through
``bool_to`` end to end.
"""

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pydantic
import pytest
from sqlalchemy.engine import Engine

from gateway.scim.models import HR_SCHEMA
from provisioning.connectors.bamboohr import (
    DEFAULT_FIELD_MAP,
    BambooHrConnector,
    field_value,
    read_bamboohr_error,
)
from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
    TargetConnector,
)
from provisioning.errors import (
    AuthError,
    ConflictError,
    MappingError,
    PermanentError,
    RateLimited,
)
from provisioning.mapping import FieldMap
from tests.fakes.bamboohr import DUPLICATE_EMAIL, ERROR_HEADER, BambooHrFake
from tests.provisioning.harness import Harness, config_with

API_KEY = "bhr-test-key-0d62"
HOST = "http://bamboohr.test"
ROOT = f"{HOST}/api/gateway.php/acme/v1"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
CONTEXT = DeliveryContext(
    tenant="acme",
    connection="bamboohr",
    resource_type="User",
    resource_id="u-1",
    event_id=1,
    action="create",
)
ADA = {"firstName": "Ada", "lastName": "Lovelace", "workEmail": "ada@acme.test"}


def basic(key: str, password: str = "x") -> dict[str, str]:
    token = base64.b64encode(f"{key}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": "application/json"}


@pytest.fixture
def fake() -> BambooHrFake:
    return BambooHrFake(API_KEY, "acme")


@pytest.fixture
async def raw(fake: BambooHrFake) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client on the fake, without the connector."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as client:
        yield client


def connector(fake: BambooHrFake, key: str = API_KEY, **options: Any) -> BambooHrConnector:
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), auth=httpx.BasicAuth(key, "x")
    )
    setup = ConnectorSetup(
        name="bamboohr", base_url=HOST, http=http, options={"company_domain": "acme", **options}
    )
    return BambooHrConnector(setup)


# -- the fake refuses what BambooHR refuses ---------------------------------------------


async def test_fake_rejects_a_wrong_key_in_the_error_header(raw: httpx.AsyncClient) -> None:
    response = await raw.get(f"{ROOT}/meta/fields", headers=basic("not-the-key"))
    assert response.status_code == 401
    assert response.content == b"" and response.headers[ERROR_HEADER]


async def test_fake_accepts_the_key_with_any_password(raw: httpx.AsyncClient) -> None:
    for password in ("x", "anything"):
        response = await raw.get(f"{ROOT}/meta/fields", headers=basic(API_KEY, password))
        assert response.status_code == 200


async def test_fake_answers_xml_unless_json_is_accepted(raw: httpx.AsyncClient) -> None:
    headers = basic(API_KEY) | {"Accept": "*/*"}
    response = await raw.get(f"{ROOT}/meta/fields", headers=headers)
    assert response.headers["content-type"].startswith("application/xml")


async def test_fake_parses_json_with_a_charset_as_xml(raw: httpx.AsyncClient) -> None:
    """BambooHR: a Content-Type of ``application/json; charset=UTF-8`` is read as XML."""
    headers = basic(API_KEY) | {"Content-Type": "application/json; charset=UTF-8"}
    response = await raw.post(
        f"{ROOT}/reports/custom?format=JSON", content=b'{"fields":["workEmail"]}', headers=headers
    )
    assert response.status_code == 400
    assert response.headers[ERROR_HEADER] == "Malformed XML"


async def test_fake_creates_with_an_empty_201_and_a_location(raw: httpx.AsyncClient) -> None:
    response = await raw.post(f"{ROOT}/employees", json=ADA, headers=basic(API_KEY))
    assert response.status_code == 201 and response.content == b""
    assert response.headers["Location"] == f"{ROOT}/employees/40"


async def test_fake_requires_first_and_last_name(raw: httpx.AsyncClient) -> None:
    body = {"firstName": "Ada"}
    response = await raw.post(f"{ROOT}/employees", json=body, headers=basic(API_KEY))
    assert response.status_code == 400
    assert response.headers[ERROR_HEADER] == "Missing required fields: lastName"


async def test_fake_refuses_a_duplicate_work_email(
    raw: httpx.AsyncClient, fake: BambooHrFake
) -> None:
    fake.add_employee(firstName="Ada", lastName="Byron", workEmail="ADA@acme.test")
    response = await raw.post(f"{ROOT}/employees", json=ADA, headers=basic(API_KEY))
    assert response.status_code == 409
    assert response.headers[ERROR_HEADER] == DUPLICATE_EMAIL


async def test_fake_refuses_a_list_value_that_is_not_an_option(raw: httpx.AsyncClient) -> None:
    body = {**ADA, "department": "Astrology"}
    response = await raw.post(f"{ROOT}/employees", json=body, headers=basic(API_KEY))
    assert response.status_code == 409


async def test_fake_checks_a_checkbox_only_with_yes_or_checkbox(
    raw: httpx.AsyncClient, fake: BambooHrFake
) -> None:
    """BambooHR field types: "yes" or "checkbox" checks; anything else unchecks."""
    for written, stored in (("yes", "yes"), ("checkbox", "yes"), ("true", "no"), ("1", "no")):
        body = {**ADA, "workEmail": f"{written}@acme.test", "customRemoteWorker": written}
        await raw.post(f"{ROOT}/employees", json=body, headers=basic(API_KEY))
        employee = fake.by_email(f"{written}@acme.test")
        assert employee is not None and employee["customRemoteWorker"] == stored


# -- the connector -------------------------------------------------------------------


def test_connector_implements_the_protocol_and_its_default_map_parses(
    fake: BambooHrFake,
) -> None:
    assert isinstance(connector(fake), TargetConnector)
    FieldMap.parse(dict(DEFAULT_FIELD_MAP))


@pytest.mark.parametrize(
    "options",
    [{}, {"company_domain": "acme.bamboohr.com/x"}, {"company_domain": "acme", "extra": 1}],
)
def test_options_need_a_plain_company_domain(options: Any) -> None:
    setup = ConnectorSetup(name="b", base_url=HOST, http=httpx.AsyncClient(), options=options)
    with pytest.raises(pydantic.ValidationError):
        BambooHrConnector(setup)


async def test_check_accepts_the_key(fake: BambooHrFake) -> None:
    await connector(fake).check()


async def test_check_with_a_wrong_key_is_an_auth_error_with_the_header(
    fake: BambooHrFake,
) -> None:
    with pytest.raises(AuthError) as caught:
        await connector(fake, key="revoked").check()
    assert caught.value.message == "HTTP 401: Invalid API key"


async def test_another_company_is_not_found(fake: BambooHrFake) -> None:
    with pytest.raises(PermanentError) as caught:
        await connector(fake, company_domain="globex").check()
    assert caught.value.status == 404


async def test_create_reads_the_id_from_location(fake: BambooHrFake) -> None:
    payload = {**ADA, "hireDate": "2024-05-01", "department": "Learning", "status": "Active"}
    account = await connector(fake).create(payload, CONTEXT)
    assert account.id == "40" and account.active is True
    assert fake.employees[40]["department"] == "Learning"


async def test_create_sends_every_value_as_a_string(fake: BambooHrFake) -> None:
    payload = {**ADA, "employeeNumber": 1207, "customRemoteWorker": True}
    account = await connector(fake).create(payload, CONTEXT)
    employee = fake.employees[int(account.id)]
    assert employee["employeeNumber"] == "1207" and employee["customRemoteWorker"] == "yes"


@pytest.mark.parametrize(
    ("value", "expected"), [(True, "yes"), (False, "no"), (None, ""), (3, "3"), ("a", "a")]
)
def test_field_value(value: Any, expected: str) -> None:
    assert field_value("f", value) == expected


def test_a_list_value_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="f: BambooHR fields take one value"):
        field_value("f", ["a", "b"])


async def test_a_duplicate_work_email_is_a_conflict(fake: BambooHrFake) -> None:
    fake.add_employee(firstName="Ada", lastName="Byron", workEmail="ada@acme.test")
    with pytest.raises(ConflictError) as caught:
        await connector(fake).create(ADA, CONTEXT)
    assert caught.value.message == f"HTTP 409: {DUPLICATE_EMAIL}"


async def test_a_missing_required_field_is_permanent_with_the_vendor_words(
    fake: BambooHrFake,
) -> None:
    with pytest.raises(PermanentError) as caught:
        await connector(fake).create({"firstName": "Ada"}, CONTEXT)
    assert caught.value.message == "HTTP 400: Missing required fields: lastName"


async def test_a_location_with_an_id_query_is_understood() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        location = "https://acme.bamboohr.com/employees/employee.php?id=77"
        return httpx.Response(201, headers={"Location": location})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    setup = ConnectorSetup("b", HOST, http, {"company_domain": "acme"})
    assert (await BambooHrConnector(setup).create(ADA, CONTEXT)).id == "77"


async def test_a_201_without_location_is_a_permanent_error() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(201)))
    setup = ConnectorSetup("b", HOST, http, {"company_domain": "acme"})
    with pytest.raises(PermanentError, match="Location"):
        await BambooHrConnector(setup).create(ADA, CONTEXT)


async def test_find_by_email_includes_inactive_employees(fake: BambooHrFake) -> None:
    ident = fake.add_employee(
        firstName="Ada", lastName="Byron", workEmail="Ada@Acme.test", status="Inactive"
    )
    [found] = await connector(fake).find("email", "ada@acme.TEST")
    assert found.id == str(ident) and found.active is False


async def test_find_by_employee_number(fake: BambooHrFake) -> None:
    fake.add_employee(firstName="Ada", lastName="Byron", employeeNumber="E-7")
    fake.add_employee(firstName="Bob", lastName="Byron", employeeNumber="E-8")
    [found] = await connector(fake).find("employeeNumber", "e-7")
    assert found.fields["firstName"] == "Ada"


async def test_find_by_an_unsupported_key_is_refused(fake: BambooHrFake) -> None:
    with pytest.raises(PermanentError):
        await connector(fake).find("userName", "ada")


async def test_update_of_a_vanished_employee_says_so(fake: BambooHrFake) -> None:
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await connector(fake).update(RemoteAccount(id="999"), ADA, CONTEXT)
    assert caught.value.status == 404


async def test_deactivate_and_reactivate_set_the_status(fake: BambooHrFake) -> None:
    ident = fake.add_employee(**ADA)
    target, account = connector(fake), RemoteAccount(id=str(ident))
    await target.deactivate(account, CONTEXT)
    assert fake.employees[ident]["status"] == "Inactive"
    await target.reactivate(account, CONTEXT)
    assert fake.employees[ident]["status"] == "Active"


async def test_deactivating_a_vanished_employee_succeeds(fake: BambooHrFake) -> None:
    await connector(fake).deactivate(RemoteAccount(id="999"), CONTEXT)


async def test_delete_is_refused(fake: BambooHrFake) -> None:
    with pytest.raises(PermanentError, match="OAuth"):
        await connector(fake).delete(RemoteAccount(id="1"), CONTEXT)


@pytest.mark.parametrize("status", [503, 429])
async def test_503_and_429_are_both_throttling(status: int) -> None:
    """BambooHR throttled with 503 until 2026-09-16, with 429 + Retry-After after."""
    now = [500.0]
    fake = BambooHrFake(API_KEY, throttle_status=status, rate_limit=1, clock=lambda: now[0])
    target = connector(fake)
    await target.check()
    now[0] += 20
    with pytest.raises(RateLimited) as caught:
        await target.check()
    assert caught.value.status == status and caught.value.retry_after == 40


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(409, headers={ERROR_HEADER: "Invalid state"}), "Invalid state"),
        (
            httpx.Response(400, json={"error": {"code": "BadPage", "message": "bad cursor"}}),
            "BadPage: bad cursor",
        ),
        (httpx.Response(500), None),
    ],
)
def test_read_bamboohr_error(response: httpx.Response, expected: str | None) -> None:
    assert read_bamboohr_error(response) == expected


# -- through the engine: a checkbox written with bool_to ------------------------------


@pytest.fixture
async def harness(
    engine: Engine, fake: BambooHrFake, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.setenv("BAMBOOHR_API_KEY", API_KEY)
    field_map = {
        **DEFAULT_FIELD_MAP,
        "customRemoteWorker": {
            "from": "hr:customFields.remote_worker",
            "transform": [{"bool_to": ["yes", "no"]}],
        },
    }
    connection = {
        "type": "bamboohr",
        "base_url": HOST,
        "auth": {"type": "basic", "username": "${BAMBOOHR_API_KEY}"},
        "field_map": field_map,
        "options": {"company_domain": "acme"},
    }
    config = config_with("bamboohr", connection, custom_fields={"remote_worker": "boolean"})
    harness = Harness(engine, config, httpx.ASGITransport(fake.app))
    yield harness
    await harness.aclose()


async def test_a_checkbox_follows_a_boolean_custom_field(
    harness: Harness, fake: BambooHrFake
) -> None:
    extra = {"schemas": [CORE, HR_SCHEMA], HR_SCHEMA: {"customFields": {"remote_worker": True}}}
    user = await harness.create_user("ada", **extra)
    await harness.worker.drain()
    employee = fake.by_email("ada@acme.com")
    assert employee is not None and employee["customRemoteWorker"] == "yes"
    await harness.patch(user, f"{HR_SCHEMA}:customFields.remote_worker", False)
    await harness.worker.drain()
    assert employee["customRemoteWorker"] == "no"
