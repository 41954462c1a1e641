"""Dynamics 365 HR as a source (S1.1, S1.2, S1.5) against its contract fake, page by page.

The runs through the store are in tests/provisioning/sources/test_dynamics365_hr_runs.py;
docs/connectors/dynamics365-hr.md, "As a source".
"""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from gateway.config import TargetConnection
from gateway.config.file import parse_config
from provisioning.connectors.base import ConnectorSetup, SourceConnector
from provisioning.connectors.dynamics365_hr_source import (
    DEFAULT_READ_MAP,
    Dynamics365HrSource,
    Dynamics365HrSourceOptions,
)
from provisioning.errors import AuthError, PermanentError, RateLimited, TargetConfigError
from provisioning.sources import source_class, source_problems
from provisioning.targets.client import build_client
from provisioning.targets.validation import problems
from tests.fakes.dynamics365_hr import ENVIRONMENT, NO_YES, Dynamics365Hr
from tests.fakes.oauth_server import OAuthServer

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "entra~source.secret_31ad"
DATA = f"{ENVIRONMENT}/data"
CUSTOM = {"Team_Custom": "Edm.String", "EloopsPoints_Custom": "Edm.Decimal"}
CUSTOM |= {"Remote_Custom": NO_YES}

Connect = Callable[..., Dynamics365HrSource]


@pytest.fixture
def hr() -> Dynamics365Hr:
    fake = Dynamics365Hr(
        OAuthServer(client_id=CLIENT_ID, client_secret=SECRET), custom_fields=CUSTOM
    )
    fake.hire("000101", "Ada", "Lovelace", "Ada.Lovelace@Acme.com", custom={"Team_Custom": "R&D"})
    fake.hire("000102", "Grace", "Hopper", "grace@acme.com")
    return fake


@pytest.fixture
async def connect(hr: Dynamics365Hr) -> AsyncIterator[Connect]:
    """A source on the engine's client for a ``microsoft`` connection to the fake."""
    clients: list[httpx.AsyncClient] = []

    def make(options: dict[str, Any] | None = None, **auth: Any) -> Dynamics365HrSource:
        settings = TargetConnection.model_validate(
            {
                "type": "dynamics365_hr",
                "direction": "source",
                "base_url": DATA,
                "auth": {
                    "type": "microsoft",
                    "tenant_id": hr.identity.tenant_id,
                    "client_id": CLIENT_ID,
                    "resource": ENVIRONMENT,
                    **(auth or {"client_secret": SecretStr(SECRET)}),
                },
            }
        )
        client = build_client(settings, transport=httpx.ASGITransport(app=hr.app))
        clients.append(client)
        setup = ConnectorSetup(name="hr", base_url=DATA, http=client, options=options or {})
        return Dynamics365HrSource(setup)

    yield make
    for client in clients:
        await client.aclose()


def reads(hr: Dynamics365Hr) -> list[str]:
    return [f"{seen.method} {seen.path}" for seen in hr.requests]


async def read_all(source: Dynamics365HrSource) -> list[dict[str, Any]]:
    records, cursor = [], None
    while True:
        page = await source.read_page(None, cursor)
        records += page.records
        if page.next is None:
            return records
        cursor = page.next


# -- what is read -------------------------------------------------------------------------


async def test_a_read_selects_the_standard_fields_and_every_published_custom_field(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    page = await connect().read_page(None, None)
    assert reads(hr) == ["GET /data/$metadata", "GET /data/Workers"]
    selected = hr.requests[1].query["$select"].split(",")
    assert selected[:3] == ["PersonnelNumber", "FirstName", "MiddleName"]
    assert {"WorkerStatus", "PrimaryContactEmail", *CUSTOM} <= set(selected)
    assert "BirthDate" not in selected and "Gender" not in selected
    assert hr.requests[1].query["cross-company"] == "true"
    ada = page.records[0]
    assert ada["PrimaryContactEmail"] == "Ada.Lovelace@Acme.com"  # handed over as HR has it
    assert ada["Team_Custom"] == "R&D" and ada["Remote_Custom"] == "No"
    assert page.next is None and page.checkpoint is None


async def test_configured_custom_fields_are_the_only_ones_selected(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    await connect({"custom_fields": ["Team_Custom"]}).read_page(None, None)
    selected = hr.requests[1].query["$select"].split(",")
    assert "Team_Custom" in selected and "EloopsPoints_Custom" not in selected


async def test_metadata_is_read_once_for_all_pages(connect: Connect, hr: Dynamics365Hr) -> None:
    hr.page_size = 1
    for number in range(3, 6):
        hr.hire(f"00010{number}", f"P{number}", "Tester", f"p{number}@acme.com")
    records = await read_all(connect())
    assert [r["PersonnelNumber"] for r in records] == [f"00010{n}" for n in range(1, 6)]
    assert reads(hr).count("GET /data/$metadata") == 1
    assert reads(hr).count("GET /data/Workers") == 5
    assert hr.identity.tokens_issued == 1  # S1.1: one cached token for the whole read


async def test_only_the_default_company_is_read_without_cross_company(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    """odata.md: a query reads the default company unless it says cross-company=true."""
    hr.hire("000201", "Lin", "Chen", "lin@acme.com", company="DEMF")
    everyone = await read_all(connect())
    own = await read_all(connect({"cross_company": False}))
    assert "000201" in {r["PersonnelNumber"] for r in everyone}
    assert "000201" not in {r["PersonnelNumber"] for r in own}


async def test_employment_dates_are_merged_and_fnos_empty_dates_read_as_none(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    hr.workers["000101"].ended = "2026-02-27"
    hr.workers["000102"].started = None
    records = await read_all(connect({"employment_entity_set": "Employments"}))
    ada, grace = records
    assert ada["EmploymentStartDate"] == "2020-01-06T00:00:00Z"
    assert ada["EmploymentEndDate"] == "2026-02-27T00:00:00Z"
    # 1900-01-01 is F&O's empty date, 2154-12-31 its "never ends" [A].
    assert grace["EmploymentStartDate"] is None and grace["EmploymentEndDate"] is None
    assert reads(hr).count("GET /data/Employments") == 1


async def test_without_an_employment_entity_set_no_employments_are_read(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    records = await read_all(connect())
    assert "EmploymentStartDate" not in records[0]
    assert "GET /data/Employments" not in reads(hr)


# -- S1.5: custom fields not (yet) published -----------------------------------------------


async def test_a_configured_custom_field_missing_from_metadata_is_a_retryable_error(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    source = connect({"custom_fields": ["Team_Custom", "Badge_Custom"]})
    with pytest.raises(TargetConfigError, match="Badge_Custom") as caught:
        await source.read_page(None, None)
    assert "Custom fields > Entities" in caught.value.message
    assert reads(hr) == ["GET /data/$metadata"]  # no worker read with a partial select

    hr.custom_fields["Badge_Custom"] = "Edm.String"  # the admin enabled it: it heals
    page = await source.read_page(None, None)
    assert "Badge_Custom" in page.records[0]


async def test_a_field_unpublished_after_the_metadata_was_read_is_retryable(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    source = connect()
    await source.check()
    del hr.custom_fields["EloopsPoints_Custom"]
    with pytest.raises(TargetConfigError, match="EloopsPoints_Custom"):
        await source.read_page(None, None)
    page = await source.read_page(None, None)  # $metadata read again, without it
    assert "EloopsPoints_Custom" not in page.records[0]


# -- paging, throttling, errors ----------------------------------------------------------


async def test_a_next_link_off_the_configured_service_is_refused(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    source = connect()
    await source.check()
    stolen = {"value": [], "@odata.nextLink": "https://attacker.example/data/Workers?p=2"}
    hr.fail_next(200, body=stolen)
    with pytest.raises(PermanentError, match="leaves the configured service"):
        await source.read_page(None, None)
    # A cursor that does not start below the OData root is never sent with the token.
    hr.fail_next(200, body={"value": [], "@odata.nextLink": f"{ENVIRONMENT}/dataX/Workers"})
    with pytest.raises(PermanentError, match="leaves the configured service"):
        await source.read_page(None, None)


async def test_a_throttled_read_is_rate_limited_with_retry_after(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    source = connect()
    await source.check()
    hr.fail_next(429, {"Retry-After": "7"})
    with pytest.raises(RateLimited) as caught:
        await source.read_page(None, None)
    assert caught.value.retry_after == 7
    assert len((await source.read_page(None, None)).records) == 2  # asked again: answered


async def test_an_odata_error_is_read_into_the_message(connect: Connect, hr: Dynamics365Hr) -> None:
    source = connect()
    await source.check()
    inner = {"message": "Access to Workers is denied for this legal entity.", "type": "X"}
    hr.fail_next(403, body={"error": {"code": "", "message": "Forbidden", "innererror": inner}})
    with pytest.raises(AuthError, match="Access to Workers is denied"):
        await source.read_page(None, None)


async def test_wrong_secret_is_an_auth_error_and_hr_is_never_called(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    with pytest.raises(AuthError, match="AADSTS7000215"):
        await connect(client_secret=SecretStr("expired-secret")).read_page(None, None)
    assert hr.requests == []


async def test_an_app_missing_from_fno_is_an_auth_error_naming_the_fix(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    hr.registered_clients = {"another-app"}
    with pytest.raises(AuthError, match="Microsoft Entra applications"):
        await connect().check()


async def test_a_wrong_entity_set_is_a_configuration_error(connect: Connect) -> None:
    with pytest.raises(TargetConfigError, match="Employees"):
        await connect({"entity_set": "Employees"}).read_page(None, None)


# -- configuration -------------------------------------------------------------------------


def test_the_type_is_both_a_source_and_the_write_back_target() -> None:
    assert source_class("dynamics365_hr") is Dynamics365HrSource
    assert isinstance(Dynamics365HrSource.__new__(Dynamics365HrSource), SourceConnector)
    assert DEFAULT_READ_MAP["userName"] == {
        "from": "PrimaryContactEmail",
        "transform": ["lower"],
        "required": True,
    }


def test_options_are_strict() -> None:
    with pytest.raises(ValidationError):
        Dynamics365HrSourceOptions.model_validate({"entity_sett": "Workers"})
    with pytest.raises(ValidationError):
        Dynamics365HrSourceOptions.model_validate({"employment_entity_set": "Bad set"})


def _tenant(connection: dict[str, Any]) -> dict[str, Any]:
    auth = {
        "type": "microsoft",
        "tenant_id": "t",
        "client_id": CLIENT_ID,
        "resource": ENVIRONMENT,
        "client_secret": "${D365_SECRET}",
    }
    base = {"type": "dynamics365_hr", "base_url": DATA, "auth": auth}
    return {"tenants": {"acme": {"connections": {"hr": {**base, **connection}}}}}


def test_a_both_connection_takes_the_options_source_and_target_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("D365_SECRET", SECRET)
    shared = parse_config(_tenant({"direction": "both", "options": {"entity_set": "Workers"}}))
    assert source_problems(shared) == []
    own = parse_config(_tenant({"direction": "source", "options": {"cross_company": False}}))
    assert source_problems(own) == []
    bad = parse_config(_tenant({"direction": "source", "options": {"crosscompany": False}}))
    assert source_problems(bad) == [
        "tenants.acme.connections.hr.options: Extra inputs are not permitted"
    ]


async def test_metadata_that_is_not_csdl_is_a_clear_permanent_error(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    hr.fail_next(200, body={"value": []})  # a proxy's JSON where the XML should be
    with pytest.raises(PermanentError, match="without a CSDL document"):
        await connect().read_page(None, None)


async def test_a_source_only_option_on_a_both_connection_is_refused_by_the_target_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("D365_SECRET", SECRET)
    both = parse_config(_tenant({"direction": "both", "options": {"cross_company": False}}))
    assert source_problems(both) == []
    [problem] = await problems(both)
    assert problem.startswith("tenants.acme.connections.hr.options.cross_company:")
    shared = parse_config(_tenant({"direction": "both", "options": {"entity_set": "Workers"}}))
    assert await problems(shared) == []
