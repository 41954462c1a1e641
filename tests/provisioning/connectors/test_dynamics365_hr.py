"""Dynamics 365 HR write-back (S1.4, S1.5) against its contract fake.

See docs/connectors/dynamics365-hr.md.

The fake plays both the Microsoft identity platform (token endpoint) and the F&O OData
service, so these tests go through the engine's real HTTP client and ``microsoft`` auth.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr, ValidationError

from gateway.config import TargetConnection
from gateway.config.file import parse_config
from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
    TargetConnector,
)
from provisioning.connectors.dynamics365_hr import (
    METADATA_REFRESH_SECONDS,
    UNREGISTERED_HINT,
    Dynamics365HrConnector,
    parse_metadata,
    read_odata_error,
)
from provisioning.errors import (
    AuthError,
    ConflictError,
    MappingError,
    PermanentError,
    RateLimited,
    TargetConfigError,
)
from provisioning.mapping import MappingContext
from provisioning.targets.assembly import build_targets, connector_class
from provisioning.targets.client import build_client
from tests.fakes.dynamics365_hr import ENVIRONMENT, NO_YES, Dynamics365Hr, Worker
from tests.fakes.oauth_server import FakeClock, OAuthServer
from tests.provisioning.auth.test_microsoft import make_certificate

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "entra~unit.secret_9c2d"
DATA = f"{ENVIRONMENT}/data"
CUSTOM = {"LmsPoints_Custom": "Edm.Decimal", "LmsBadge_Custom": "Edm.String"}
CUSTOM |= {"LmsCertified_Custom": NO_YES, "LmsCompletedOn_Custom": "Edm.DateTimeOffset"}
CONTEXT = DeliveryContext("acme", "hr", "User", "2819c223", 1, "update")

Connect = Callable[..., Dynamics365HrConnector]


@pytest.fixture
def hr() -> Dynamics365Hr:
    fake = Dynamics365Hr(
        OAuthServer(client_id=CLIENT_ID, client_secret=SECRET), custom_fields=CUSTOM
    )
    fake.hire("000101", "Ada", "Lovelace", "ada@acme.com")
    fake.hire("000102", "Grace", "Hopper", "grace@acme.com")
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def connect(hr: Dynamics365Hr, clock: FakeClock) -> AsyncIterator[Connect]:
    """A connector on the engine's client for a ``microsoft`` connection to the fake."""
    clients: list[httpx.AsyncClient] = []

    def make(options: dict[str, Any] | None = None, **auth: Any) -> Dynamics365HrConnector:
        settings = TargetConnection.model_validate(
            {
                "type": "dynamics365_hr",
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
        return Dynamics365HrConnector(setup, clock=clock)

    yield make
    for client in clients:
        await client.aclose()


def account(number: str = "000101") -> RemoteAccount:
    return RemoteAccount(id=number)


def paths(hr: Dynamics365Hr) -> list[str]:
    return [f"{seen.method} {seen.path}" for seen in hr.requests]


# -- auth: the identity platform, then F&O's own registration ----------------------------


async def test_check_reads_one_worker_and_the_metadata_with_a_token_for_the_environment(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    await connect().check()
    assert paths(hr) == ["GET /data/Workers", "GET /data/$metadata"]
    assert hr.requests[0].query == {"$top": "1", "$select": "PersonnelNumber"}
    [request] = hr.identity.token_requests
    assert request.form["scope"] == f"{ENVIRONMENT}/.default"


async def test_wrong_client_secret_is_an_auth_error_with_entras_code(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    with pytest.raises(AuthError, match="AADSTS7000215") as caught:
        await connect(client_secret=SecretStr("an-old-secret")).check()
    assert "an-old-secret" not in caught.value.message
    assert hr.requests == []  # no token, no call to HR


async def test_certificate_credentials_reach_hr(
    connect: Connect, hr: Dynamics365Hr, tmp_path: Path
) -> None:
    files = make_certificate(tmp_path)
    hr.identity.certificate = files.certificate
    connector = connect(
        certificate_path=str(files.certificate_path), private_key_path=str(files.key_path)
    )
    await connector.check()
    assert hr.identity.token_requests[0].client_auth == "private_key_jwt"


async def test_a_token_for_another_environment_is_refused(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    """F&O checks the token's audience: a token for fabrikam does not open contoso."""
    connector = connect(client_secret=SecretStr(SECRET), resource="https://fabrikam.example")
    with pytest.raises(AuthError) as caught:
        await connector.check()
    assert caught.value.status == 401
    assert len(hr.identity.token_requests) == 2  # the engine retried once with a new token


async def test_an_app_missing_from_fno_is_an_auth_error_naming_the_fix(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    """services-home-page.md: the Entra app must also be registered in F&O, else 401."""
    hr.registered_clients = {"another-app"}
    with pytest.raises(AuthError, match="Microsoft Entra applications"):
        await connect().check()


async def test_the_fake_refuses_a_request_without_a_token(hr: Dynamics365Hr) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hr.app)) as client:
        response = await client.get(f"{DATA}/Workers")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_one_token_serves_many_calls(connect: Connect, hr: Dynamics365Hr) -> None:
    connector = connect()
    await connector.check()
    await connector.update(account(), {"LmsPoints_Custom": 1}, CONTEXT)
    await connector.find("email", "ada@acme.com")
    assert hr.identity.tokens_issued == 1


# -- locating workers ------------------------------------------------------------------


async def test_find_by_email_is_case_insensitive_and_reads_the_personnel_number(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    [found] = await connect().find("email", "ADA@Acme.com")
    assert found.id == "000101"
    assert found.active is None  # employment is HR's, never judged by write-back
    assert hr.requests[-1].query["$filter"] == "PrimaryContactEmail eq 'ADA@Acme.com'"


async def test_find_sends_spaces_as_percent_20_and_doubles_quotes(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    hr.hire("O'1", "Miles", "O'Brien", "miles@acme.com")
    [found] = await connect().find("employeeNumber", "O'1")
    assert found.id == "O'1"
    assert hr.requests[-1].query["$filter"] == "PersonnelNumber eq 'O''1'"
    assert hr.requests[-1].raw_query.startswith("$filter=PersonnelNumber%20eq%20'O''1'&")


async def test_find_ignores_rows_only_fnos_wildcard_matched(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    """odata.md: F&O reads ``*`` in an ``eq`` literal as a wildcard."""
    assert await connect().find("email", "*@acme.com") == []
    assert hr.requests[-1].query["$filter"] == "PrimaryContactEmail eq '*@acme.com'"


async def test_find_follows_next_links(connect: Connect, hr: Dynamics365Hr) -> None:
    hr.page_size = 1
    hr.hire("000103", "Ada", "Byron", "ada@acme.com")
    found = await connect().find("email", "ada@acme.com")
    assert [worker.id for worker in found] == ["000101", "000103"]
    assert hr.requests[-1].query["$skiptoken"] == "1"


async def test_a_next_link_to_another_host_is_not_followed() -> None:
    """The bearer token goes with every request, so a link elsewhere would leak it."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        link = "https://elsewhere.example/data/Workers?$skiptoken=1"
        return httpx.Response(200, json={"value": [], "@odata.nextLink": link})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        connector = Dynamics365HrConnector(ConnectorSetup("hr", DATA, client))
        with pytest.raises(PermanentError, match="leaves the configured service"):
            await connector.find("email", "ada@acme.com")
    assert len(seen) == 1


async def test_find_by_an_unsupported_key_is_permanent(connect: Connect) -> None:
    with pytest.raises(PermanentError, match="userName"):
        await connect().find("userName", "ada@acme.com")


# -- create: locate and patch, never hire ----------------------------------------------


async def test_create_patches_the_worker_found_by_personnel_number(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    payload = {"PersonnelNumber": "000101", "LmsPoints_Custom": 120}
    created = await connect().create(payload, CONTEXT)
    assert created.id == "000101"
    assert hr.workers["000101"].custom == {"LmsPoints_Custom": 120}
    assert paths(hr)[-1] == "PATCH /data/Workers(PersonnelNumber='000101')"
    assert len(hr.workers) == 2  # nobody hired


async def test_create_without_a_worker_is_permanent_and_patches_nothing(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    with pytest.raises(PermanentError, match="does not create workers") as caught:
        await connect().create({"PersonnelNumber": "999999", "LmsPoints_Custom": 1}, CONTEXT)
    assert caught.value.status == 404
    assert "PATCH" not in " ".join(paths(hr))


async def test_create_without_a_personnel_number_is_a_mapping_error(connect: Connect) -> None:
    with pytest.raises(MappingError, match="PersonnelNumber"):
        await connect().create({"LmsPoints_Custom": 1}, CONTEXT)


async def test_create_when_two_workers_share_a_personnel_number_is_a_conflict() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        rows = [{"PersonnelNumber": "000101"}, {"PersonnelNumber": "000101"}]
        return httpx.Response(200, json={"value": rows})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        connector = Dynamics365HrConnector(ConnectorSetup("hr", DATA, client))
        with pytest.raises(ConflictError):
            await connector.create({"PersonnelNumber": "000101"}, CONTEXT)


# -- update: custom fields only --------------------------------------------------------


async def test_update_patches_custom_fields_with_if_match_star_as_json(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    payload = {
        "PersonnelNumber": "000101",
        "LmsPoints_Custom": 12.5,
        "LmsBadge_Custom": 3,  # a number into a text field is sent as text
        "LmsCertified_Custom": True,  # a checkbox is the NoYes enum
        "LmsCompletedOn_Custom": "2024-03-01T09:30:00Z",
    }
    await connect().update(account(), payload, CONTEXT)
    patch = hr.requests[-1]
    assert patch.headers["If-Match"] == "*"
    assert patch.headers["Content-Type"] == "application/json"
    assert hr.workers["000101"].custom == {
        "LmsPoints_Custom": 12.5,
        "LmsBadge_Custom": "3",
        "LmsCertified_Custom": "Yes",
        "LmsCompletedOn_Custom": "2024-03-01T09:30:00Z",
    }
    assert hr.workers["000101"].first_name == "Ada"


async def test_a_standard_field_in_the_map_is_refused_before_any_call(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    """S1.4: write-back never overwrites standard HR fields."""
    payload = {"FirstName": "Augusta", "LmsPoints_Custom": 1}
    with pytest.raises(PermanentError, match="FirstName") as caught:
        await connect().update(account(), payload, CONTEXT)
    assert not isinstance(caught.value, TargetConfigError)
    with pytest.raises(PermanentError, match="FirstName"):
        await connect().create({"PersonnelNumber": "000101", **payload}, CONTEXT)
    assert hr.requests == []


async def test_a_payload_with_only_the_key_sends_nothing(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    await connect().update(account(), {"PersonnelNumber": "000101"}, CONTEXT)
    assert hr.requests == []


async def test_a_worker_gone_from_hr_is_a_permanent_404(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    del hr.workers["000102"]
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await connect().update(account("000102"), {"LmsPoints_Custom": 1}, CONTEXT)
    assert caught.value.status == 404


async def test_deprovisioning_calls_nothing(connect: Connect, hr: Dynamics365Hr) -> None:
    connector = connect()
    await connector.deactivate(account(), CONTEXT)
    await connector.reactivate(account(), CONTEXT)
    await connector.delete(account(), CONTEXT)
    assert hr.requests == []
    assert hr.workers["000101"].status == "Employed"


# -- custom fields from $metadata (S1.5) -------------------------------------------------


async def test_a_field_not_yet_published_is_a_retryable_error_naming_field_and_entity(
    connect: Connect, hr: Dynamics365Hr, clock: FakeClock
) -> None:
    connector = connect()
    payload = {"LmsCoins_Custom": 7}
    with pytest.raises(TargetConfigError) as caught:
        await connector.update(account(), payload, CONTEXT)
    assert "LmsCoins_Custom" in caught.value.message
    assert "Microsoft.Dynamics.DataEntities.Worker (Workers)" in caught.value.message
    assert "PATCH" not in " ".join(paths(hr))

    hr.custom_fields["LmsCoins_Custom"] = "Edm.Int32"  # the admin enables it; it appears
    with pytest.raises(TargetConfigError):  # not re-read within the refresh interval
        await connector.update(account(), payload, CONTEXT)
    assert paths(hr).count("GET /data/$metadata") == 1

    clock.advance(METADATA_REFRESH_SECONDS)
    await connector.update(account(), payload, CONTEXT)
    assert hr.workers["000101"].custom == {"LmsCoins_Custom": 7}
    assert paths(hr).count("GET /data/$metadata") == 2


async def test_a_field_unpublished_after_the_metadata_was_read_is_retryable(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    connector = connect()
    await connector.check()
    del hr.custom_fields["LmsBadge_Custom"]
    with pytest.raises(TargetConfigError, match="does not exist on type"):
        await connector.update(account(), {"LmsBadge_Custom": "gold"}, CONTEXT)
    with pytest.raises(TargetConfigError, match="not published"):
        await connector.update(account(), {"LmsBadge_Custom": "gold"}, CONTEXT)
    assert paths(hr).count("GET /data/$metadata") == 2  # re-read after HR's refusal


async def test_concurrent_first_writes_read_the_metadata_once(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    connector = connect()
    await asyncio.gather(
        *(connector.update(account(), {"LmsPoints_Custom": n}, CONTEXT) for n in range(5))
    )
    assert paths(hr).count("GET /data/$metadata") == 1


async def test_check_fails_when_the_entity_set_is_not_published(connect: Connect) -> None:
    with pytest.raises(PermanentError, match="Resource not found for the segment") as caught:
        await connect({"entity_set": "Employees"}).check()
    assert caught.value.status == 404


def test_metadata_keyed_otherwise_than_by_personnel_number_is_reported() -> None:
    document = METADATA.format(key="dataAreaId", props="")
    schema = parse_metadata(document.encode(), "Workers")
    assert schema.keys == ("dataAreaId",)
    with pytest.raises(TargetConfigError, match="no entity set 'Staff'"):
        parse_metadata(document.encode(), "Staff")


def test_metadata_keeps_only_custom_properties_with_their_types() -> None:
    props = (
        '<Property Name="FirstName" Type="Edm.String"/>'
        '<Property Name="Points_Custom" Type="Edm.Decimal"/>'
    )
    schema = parse_metadata(METADATA.format(key="PersonnelNumber", props=props).encode(), "Workers")
    assert schema.entity_type == "Microsoft.Dynamics.DataEntities.Worker"
    assert dict(schema.properties) == {"Points_Custom": "Edm.Decimal"}


async def test_a_metadata_key_other_than_the_personnel_number_fails_check() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("$metadata"):
            return httpx.Response(200, text=METADATA.format(key="dataAreaId", props=""))
        return httpx.Response(200, json={"value": []})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        connector = Dynamics365HrConnector(ConnectorSetup("hr", DATA, client))
        with pytest.raises(TargetConfigError, match="keyed by dataAreaId"):
            await connector.check()


METADATA = (
    '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
    '<edmx:DataServices><Schema Namespace="Microsoft.Dynamics.DataEntities" '
    'xmlns="http://docs.oasis-open.org/odata/ns/edm"><EntityType Name="Worker">'
    '<Key><PropertyRef Name="{key}"/></Key>{props}</EntityType>'
    '<EntityContainer Name="Resources"><EntitySet Name="Workers" '
    'EntityType="Microsoft.Dynamics.DataEntities.Worker"/></EntityContainer>'
    "</Schema></edmx:DataServices></edmx:Edmx>"
)


# -- throttling and errors -------------------------------------------------------------


async def test_throttling_is_rate_limited_with_retry_after(
    connect: Connect, hr: Dynamics365Hr, clock: FakeClock
) -> None:
    """hr-admin-integration-throttling-faq: 429 + Retry-After; unretried means dropped."""
    hr.throttle, hr.clock = (2, 300.0), clock
    connector = connect()
    await connector.check()
    with pytest.raises(RateLimited) as caught:
        await connector.update(account(), {"LmsPoints_Custom": 1}, CONTEXT)
    assert caught.value.status == 429
    assert caught.value.retry_after == 301
    assert hr.workers["000101"].custom == {}


async def test_a_value_of_the_wrong_type_is_permanent_with_hrs_message(
    connect: Connect, hr: Dynamics365Hr
) -> None:
    with pytest.raises(PermanentError, match="expected type 'Edm.Decimal'") as caught:
        await connect().update(account(), {"LmsPoints_Custom": "many"}, CONTEXT)
    assert caught.value.status == 400
    assert not isinstance(caught.value, TargetConfigError)


def test_odata_errors_are_read_with_their_inner_message() -> None:
    body = {
        "error": {
            "code": "",
            "message": "An error has occurred.",
            "innererror": {"message": "Write failed for table row.", "type": "X"},
        }
    }
    response = httpx.Response(400, json=body)
    assert read_odata_error(response) == "An error has occurred.: Write failed for table row."
    assert read_odata_error(httpx.Response(401)) == UNREGISTERED_HINT
    assert read_odata_error(httpx.Response(500, text="gateway down")) == "gateway down"


# -- the fake refuses what F&O refuses ---------------------------------------------------


@pytest.fixture
async def http(hr: Dynamics365Hr) -> AsyncIterator[httpx.AsyncClient]:
    """The engine's client with a valid token, for requests the connector never makes."""
    settings = TargetConnection.model_validate(
        {
            "type": "dynamics365_hr",
            "base_url": DATA,
            "auth": {
                "type": "microsoft",
                "tenant_id": hr.identity.tenant_id,
                "client_id": CLIENT_ID,
                "resource": ENVIRONMENT,
                "client_secret": SecretStr(SECRET),
            },
        }
    )
    async with build_client(settings, transport=httpx.ASGITransport(app=hr.app)) as client:
        yield client


WORKER_URL = f"{DATA}/Workers(PersonnelNumber='000101')"


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({"Content-Type": "application/json"}, b'{"LmsPoints_Custom": 1}', 412, "If-Match"),
        (
            {"If-Match": "*", "Content-Type": "application/x-www-form-urlencoded"},
            b"LmsPoints_Custom=1",
            415,
            "media type",
        ),
        (
            {"If-Match": "*", "Content-Type": "application/json"},
            b'{"Points": 1}',
            400,
            "The property 'Points' does not exist on type",
        ),
        (
            {"If-Match": "*", "Content-Type": "application/json"},
            b'{"PersonnelNumber": "000999"}',
            400,
            "cannot be modified",
        ),
        (
            {"If-Match": 'W/"7"', "Content-Type": "application/json"},
            b'{"LmsPoints_Custom": 1}',
            412,
            "If-Match",
        ),
    ],
)
async def test_the_fake_refuses_patches_fno_refuses(
    http: httpx.AsyncClient,
    hr: Dynamics365Hr,
    headers: dict[str, str],
    body: bytes,
    status: int,
    message: str,
) -> None:
    response = await http.patch(WORKER_URL, content=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]["innererror"]["message"]
    assert hr.workers["000101"] == Worker("000101", "Ada", "Lovelace", "ada@acme.com")


async def test_the_fake_honours_a_matching_etag(http: httpx.AsyncClient, hr: Dynamics365Hr) -> None:
    headers = {"If-Match": hr.workers["000101"].etag}
    response = await http.patch(WORKER_URL, json={"LmsPoints_Custom": 1}, headers=headers)
    assert response.status_code == 204
    assert hr.workers["000101"].etag == 'W/"2"'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"$filter": "contains(FirstName, 'A')"}, "not valid"),
        ({"$filter": "Salary eq '1'"}, "Could not find a property named 'Salary'"),
        ({"$select": "PersonnelNumber,Salary"}, "Could not find a property named 'Salary'"),
    ],
)
async def test_the_fake_refuses_queries_it_cannot_answer(
    http: httpx.AsyncClient, query: dict[str, str], message: str
) -> None:
    response = await http.get(f"{DATA}/Workers", params=query)
    assert response.status_code == 400
    assert message in response.json()["error"]["innererror"]["message"]


# -- configuration -----------------------------------------------------------------------


def test_options_are_strict() -> None:
    client = httpx.AsyncClient()
    for bad in ({"entity_set": "Workers;drop"}, {"custom_field_suffix": ""}, {"extra": 1}):
        with pytest.raises(ValidationError):
            Dynamics365HrConnector(ConnectorSetup("hr", DATA, client, bad))


def test_the_registry_builds_this_connector_and_it_keeps_the_protocol() -> None:
    assert connector_class("dynamics365_hr") is Dynamics365HrConnector
    connector = Dynamics365HrConnector(ConnectorSetup("hr", DATA, httpx.AsyncClient()))
    assert isinstance(connector, TargetConnector)
    assert Dynamics365HrConnector.lookup_keys == ("employeeNumber", "email")


def test_the_documented_configuration_loads_and_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D365_CLIENT_SECRET", SECRET)
    text = (Path(__file__).parents[3] / "docs/connectors/dynamics365-hr.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_config(yaml.safe_load(block))
    [target] = build_targets(config, "sqlite")
    assert isinstance(target.connector, Dynamics365HrConnector)
    assert target.settings.matching.adopt_existing is True
    user = {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}}
    payload = target.field_map.apply(user, MappingContext())
    assert payload == {"PersonnelNumber": "7", "LmsPoints_Custom": 0}
