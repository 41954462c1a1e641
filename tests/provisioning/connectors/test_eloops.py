"""Eloops' member file over SFTP (docs/connectors/eloops.md), against a real SFTP server."""

import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from provisioning.accounts import ENTERPRISE
from provisioning.connectors import ConnectorSetup, DeliveryContext
from provisioning.connectors.eloops import ELOOPS_FILENAME, EloopsConnector, EloopsOptions
from provisioning.errors import MappingError
from provisioning.mapping import FieldMap, MappingContext
from provisioning.targets.assembly import connector_class
from tests.fakes.sftp_server import SftpServer, sftp_server

PASSWORD = "eloops-sftp-pw-31f8"
PASSWORD_ENV = "SCIMGW_TEST_ELOOPS_PASSWORD"
#: Eloops' documented file example, MyCompanyName_12_09_2019_9_InvitationCode_mysuffix.csv.
DOCUMENTED_DAY = datetime(2019, 12, 9, 9, 5, 0, tzinfo=UTC)
CONTEXT = DeliveryContext(
    tenant="acme",
    connection="eloops",
    resource_type="User",
    resource_id="*",
    event_id=3,
    action="export",
)
ADA: Mapping[str, Any] = {
    "email": "ada@acme.test",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "employee_id": "E1",
    "department": "R&D",
    "active": True,
}
BOB: Mapping[str, Any] = {
    "email": "bob@acme.test",
    "first_name": "Bob",
    "last_name": "Byron",
    "manager_email": "ada@acme.test",
    "active": False,
}


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[SftpServer]:
    (tmp_path / "inbox").mkdir()
    async with sftp_server(tmp_path, password=PASSWORD) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:  # the engine always hands one over; unused
        yield client


def options(server: SftpServer, **overrides: Any) -> dict[str, Any]:
    base = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": f"${{{PASSWORD_ENV}}}",
        "host_key": server.fingerprint,
        "directory": "/inbox",
    }
    return {**base, **overrides}


def eloops(
    http: httpx.AsyncClient, opts: dict[str, Any], now: datetime = DOCUMENTED_DAY
) -> EloopsConnector:
    setup = ConnectorSetup(name="eloops", base_url="", http=http, options=opts)
    return EloopsConnector(setup, clock=lambda: now)


def inbox(server: SftpServer) -> list[str]:
    return sorted(path.name for path in (server.root / "inbox").iterdir())


def map_user(doc: dict[str, Any], manager: dict[str, Any] | None = None) -> dict[str, Any]:
    field_map = FieldMap.parse(dict(EloopsConnector.default_field_map))
    return field_map.apply(doc, MappingContext(manager=manager))


# -- the layout ----------------------------------------------------------------------------


def test_the_type_eloops_builds_this_connector() -> None:
    assert connector_class("eloops") is EloopsConnector
    assert EloopsConnector.type == "eloops"


def test_the_default_field_map_fills_exactly_the_eloops_columns_in_order() -> None:
    """target-apis.md §6 [A]: email, first_name, last_name, employee_id, department,
    manager_email, active."""
    parsed = FieldMap.parse(dict(EloopsConnector.default_field_map))
    expected = [
        "email",
        "first_name",
        "last_name",
        "employee_id",
        "department",
        "manager_email",
        "active",
    ]
    assert list(parsed.fields) == expected
    assert list(EloopsConnector.layout) == expected
    assert parsed.needs_manager


def test_a_user_maps_to_lower_case_emails_for_sso_and_is_active_unless_told() -> None:
    """S1.3: members sign in with the IdP's username, compared case-insensitively."""
    doc = {
        "id": "u1",
        "userName": "Ada.Lovelace@Acme.test",
        "emails": [{"value": "Ada.Lovelace@Acme.test", "type": "work"}],
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        ENTERPRISE: {"employeeNumber": "E1", "department": "R&D"},
    }
    manager = {"id": "m1", "userName": "x", "emails": [{"value": "Grace@Acme.test"}]}
    assert map_user(doc, manager) == {
        "email": "ada.lovelace@acme.test",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "employee_id": "E1",
        "department": "R&D",
        "manager_email": "grace@acme.test",
        "active": True,
    }


def test_without_a_work_email_the_username_is_the_members_email() -> None:
    doc = {"id": "u2", "userName": "Bob@Acme.test", "active": False}
    assert map_user(doc) == {"email": "bob@acme.test", "active": False}


# -- the file ----------------------------------------------------------------------------


async def test_export_writes_the_eloops_header_and_keeps_leavers_as_inactive(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    name = await eloops(http, options(server, filename="members.csv")).export([ADA, BOB], CONTEXT)
    assert (server.root / "inbox" / name).read_bytes() == (
        b"email,first_name,last_name,employee_id,department,manager_email,active\r\n"
        b"ada@acme.test,Ada,Lovelace,E1,R&D,,true\r\n"
        b"bob@acme.test,Bob,Byron,,,ada@acme.test,false\r\n"
    )


async def test_the_default_file_name_follows_eloops_pattern(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    """help.eloops.com/en/articles/3736346: Prefix_%month%_%day%_%year%_..._suffix.csv,
    zero-padded month and day as in its examples (01_01_2020, 12_09_2019)."""
    name = await eloops(http, options(server)).export([ADA], CONTEXT)
    assert name == "acme_12_09_2019_users.csv"
    assert re.fullmatch(r"[^_]+_\d\d_\d\d_\d{4}_[^_]+\.csv", name)
    assert inbox(server) == [name]


def test_the_default_file_name_passes_the_file_name_rules(server: SftpServer) -> None:
    assert EloopsOptions.model_validate(options(server)).filename == ELOOPS_FILENAME
    # Defaults skip validation; given explicitly, the template is checked like any other.
    EloopsOptions.model_validate(options(server, filename=ELOOPS_FILENAME))


async def test_names_are_written_in_utf8_without_a_byte_order_mark(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    """The article: all files should be in UTF-8."""
    zoe = {**ADA, "first_name": "Zoë", "last_name": "Ørsted"}
    name = await eloops(http, options(server)).export([zoe], CONTEXT)
    content = (server.root / "inbox" / name).read_bytes()
    assert not content.startswith(b"\xef\xbb\xbf")
    assert "Zoë,Ørsted".encode() in content


async def test_one_email_on_two_rows_in_any_case_fails_the_run_and_uploads_nothing(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    twin = {**BOB, "email": "ADA@acme.test"}
    with pytest.raises(MappingError, match="rows 1 and 2 have the same 'email'") as caught:
        await eloops(http, options(server)).export([ADA, twin], CONTEXT)
    assert "ada@acme.test" not in caught.value.message.lower()
    assert inbox(server) == []
    assert server.operations == []  # refused before connecting


async def test_a_field_the_map_adds_is_written_after_the_eloops_columns(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    name = await eloops(http, options(server)).export([{**ADA, "location": "Paris"}], CONTEXT)
    header = (server.root / "inbox" / name).read_text().splitlines()[0]
    assert (
        header == "email,first_name,last_name,employee_id,department,manager_email,active,location"
    )


async def test_the_columns_option_still_chooses_exactly_the_columns(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    opts = options(server, columns=["email", "active"])
    name = await eloops(http, opts).export([ADA, BOB], CONTEXT)
    assert (server.root / "inbox" / name).read_text().splitlines() == [
        "email,active",
        "ada@acme.test,true",
        "bob@acme.test,false",
    ]


def test_options_are_those_of_csv_sftp(server: SftpServer) -> None:
    with pytest.raises(ValidationError, match="password or private_key"):
        EloopsOptions.model_validate(options(server, password=None))
    with pytest.raises(ValidationError, match="filename"):
        EloopsOptions.model_validate(options(server, filename="../members.csv"))
