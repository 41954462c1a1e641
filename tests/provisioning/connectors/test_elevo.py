"""Elevo's user file over SFTP (docs/connectors/elevo.md), against a real SFTP server."""

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from provisioning.accounts import ENTERPRISE
from provisioning.connectors import ConnectorSetup, DeliveryContext
from provisioning.connectors.elevo import (
    ELEVO_DIRECTORY,
    ELEVO_FILENAME,
    ElevoConnector,
    ElevoOptions,
    active_rows,
)
from provisioning.errors import AuthError, MappingError
from provisioning.mapping import FieldMap, MappingContext
from provisioning.targets.assembly import connector_class
from tests.fakes.sftp_server import SftpServer, sftp_server
from tests.provisioning.harness import Harness, config_with

KEY_ENV = "SCIMGW_TEST_ELEVO_KEY"
PASSWORD_ENV = "SCIMGW_TEST_ELEVO_PASSWORD"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
CONTEXT = DeliveryContext(
    tenant="acme",
    connection="elevo",
    resource_type="User",
    resource_id="*",
    event_id=5,
    action="export",
)
HEADER = (
    "registration_number,first_name,last_name,email,username,manager_email,"
    "manager_username,job_title,team_name,work_start_date"
)
ADA: Mapping[str, Any] = {
    "registration_number": "0023",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@acme.test",
    "job_title": "Engineer",
    "team_name": "R&D",
    "work_start_date": "2024-05-01",
    "active": True,
}
BOB: Mapping[str, Any] = {
    "first_name": "Bob",
    "email": "bob@acme.test",
    "manager_email": "ada@acme.test",
    "active": False,
}


@pytest.fixture
def client_key(monkeypatch: pytest.MonkeyPatch) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    monkeypatch.setenv(KEY_ENV, key.export_private_key().decode())
    monkeypatch.setenv(PASSWORD_ENV, "elevo-password-9d2c")
    return key


@pytest.fixture
async def server(tmp_path: Path, client_key: asyncssh.SSHKey) -> AsyncIterator[SftpServer]:
    (tmp_path / "uploads" / "users").mkdir(parents=True)
    async with sftp_server(tmp_path, client_key=client_key) as running:
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
        "private_key": f"${{{KEY_ENV}}}",
        "host_key": server.fingerprint,
    }
    return {**base, **overrides}


def elevo(http: httpx.AsyncClient, opts: dict[str, Any]) -> ElevoConnector:
    setup = ConnectorSetup(name="elevo", base_url="", http=http, options=opts)
    return ElevoConnector(setup, clock=lambda: NOW)


def users_folder(server: SftpServer) -> Path:
    return server.root / "uploads" / "users"


def uploaded_lines(server: SftpServer) -> list[str]:
    [path] = users_folder(server).iterdir()
    return path.read_text(encoding="utf-8").splitlines()


def map_user(doc: dict[str, Any], manager: dict[str, Any] | None = None) -> dict[str, Any]:
    field_map = FieldMap.parse(dict(ElevoConnector.default_field_map))
    return field_map.apply(doc, MappingContext(manager=manager))


# -- the layout ----------------------------------------------------------------------------


def test_the_type_elevo_builds_this_connector() -> None:
    assert connector_class("elevo") is ElevoConnector
    assert ElevoConnector.type == "elevo"


def test_the_layout_is_elevos_documented_column_list() -> None:
    """docs.elevo.fr/hc/en-us/articles/4403017928593: the internal keys, in order."""
    assert ",".join(ElevoConnector.layout) == HEADER


def test_the_default_map_fills_elevo_columns_plus_the_status_it_reads() -> None:
    parsed = FieldMap.parse(dict(ElevoConnector.default_field_map))
    mapped = set(parsed.fields)
    assert mapped - set(ElevoConnector.layout) == {"active"}
    # Left empty by default: a username Elevo does not know would be a second identity.
    assert set(ElevoConnector.layout) - mapped == {"username", "manager_username"}
    assert parsed.needs_manager


def test_a_user_maps_to_elevo_fields_with_an_iso_hire_date() -> None:
    doc = {
        "id": "u1",
        "userName": "ada",
        "title": "Engineer",
        "emails": [{"value": "Ada@Acme.test", "type": "work"}],
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        ENTERPRISE: {"employeeNumber": "0023", "department": "R&D"},
        HR: {"hireDate": "2024-05-01T00:00:00+02:00"},
    }
    manager = {"id": "m1", "userName": "grace", "emails": [{"value": "grace@acme.test"}]}
    assert map_user(doc, manager) == {
        "registration_number": "0023",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "Ada@Acme.test",
        "manager_email": "grace@acme.test",
        "job_title": "Engineer",
        "team_name": "R&D",
        "work_start_date": "2024-05-01",
        "active": True,
    }


def test_without_a_work_email_the_primary_email_is_used() -> None:
    doc = {
        "id": "u2",
        "userName": "bob",
        "active": False,
        "emails": [{"value": "bob@home.test", "type": "home", "primary": True}],
    }
    assert map_user(doc) == {"email": "bob@home.test", "active": False}


# -- the file ----------------------------------------------------------------------------


async def test_export_writes_active_users_and_leaves_deactivated_ones_out(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    """docs.elevo.fr/hc/en-us/articles/4404721974417: users missing from the synchronised
    file are suspended on Elevo (review history kept, S3.3)."""
    await elevo(http, options(server)).export([ADA, BOB], CONTEXT)
    assert uploaded_lines(server) == [
        HEADER,
        "0023,Ada,Lovelace,ada@acme.test,,,,Engineer,R&D,2024-05-01",
    ]


async def test_the_file_lands_in_elevos_users_folder_under_a_name_per_run(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    name = await elevo(http, options(server)).export([ADA], CONTEXT)
    assert name == "users_20250314_092653.csv"
    assert [path.name for path in users_folder(server).iterdir()] == [name]
    assert ("open", f"{ELEVO_DIRECTORY}/.{name}.part") in server.operations


async def test_when_everyone_is_deactivated_the_file_holds_only_the_header(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    await elevo(http, options(server)).export([BOB], CONTEXT)
    assert uploaded_lines(server) == [HEADER]


async def test_a_custom_field_column_is_written_after_elevos_columns(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    """Elevo names the column of each custom field it creates (article 16209816051601)."""
    await elevo(http, options(server)).export([{**ADA, "contract_type": "CDI"}], CONTEXT)
    lines = uploaded_lines(server)
    assert lines[0] == f"{HEADER},contract_type"
    assert lines[1].endswith(",2024-05-01,CDI")


async def test_a_map_without_the_status_fails_rather_than_keeping_leavers(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    no_status = {key: value for key, value in ADA.items() if key != "active"}
    with pytest.raises(MappingError, match="row 1: the field map must give 'active'"):
        await elevo(http, options(server)).export([no_status], CONTEXT)
    with pytest.raises(MappingError, match="'active' as true or false"):
        active_rows([{**ADA, "active": "yes"}])
    assert server.operations == []


async def test_an_active_user_needs_an_email_or_a_username(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    """Article 4403017928593: email is mandatory if the username is empty, and back."""
    nameless = {"first_name": "Cy", "active": True}
    with pytest.raises(MappingError, match="row 2: Elevo needs an email or a username"):
        await elevo(http, options(server)).export([ADA, nameless], CONTEXT)
    assert server.operations == []
    # A username alone will do; a deactivated user without either is simply left out.
    kept = active_rows([{"username": "cy", "active": True}, {**nameless, "active": False}])
    assert kept == [{"username": "cy"}]


@pytest.mark.parametrize("column", ["email", "username"])
async def test_a_repeated_email_or_username_fails_the_run(
    server: SftpServer, http: httpx.AsyncClient, column: str
) -> None:
    """Both identify a user and are unique in Elevo."""
    rows = [{column: "Cy@acme.test", "active": True}, {column: "cy@ACME.test", "active": True}]
    with pytest.raises(MappingError, match=f"rows 1 and 2 have the same '{column}'") as caught:
        await elevo(http, options(server)).export(rows, CONTEXT)
    assert "cy@acme.test" not in caught.value.message.lower()
    assert list(users_folder(server).iterdir()) == []


async def test_a_deactivated_namesake_does_not_count_as_a_repeat(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    leaver = {**ADA, "first_name": "Old", "active": False}
    await elevo(http, options(server)).export([leaver, ADA], CONTEXT)
    assert len(uploaded_lines(server)) == 2


# -- SFTP access --------------------------------------------------------------------------


def test_elevo_needs_an_ssh_key(server: SftpServer) -> None:
    """Article 4404721974417: the account is secured by the customer's SSH key."""
    with pytest.raises(ValidationError, match="SSH keys only"):
        ElevoOptions.model_validate(
            options(server, private_key=None, password=f"${{{PASSWORD_ENV}}}")
        )


async def test_a_key_elevo_did_not_register_is_refused(
    server: SftpServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    monkeypatch.setenv(KEY_ENV, other)
    with pytest.raises(AuthError, match="rejected the credentials") as caught:
        await elevo(http, options(server)).export([ADA], CONTEXT)
    assert other not in str(caught.value)
    assert list(users_folder(server).iterdir()) == []


def test_the_defaults_pass_the_csv_sftp_rules(server: SftpServer) -> None:
    parsed = ElevoOptions.model_validate(options(server))
    assert (parsed.directory, parsed.filename) == (ELEVO_DIRECTORY, ELEVO_FILENAME)
    # Defaults skip validation; given explicitly, the template is checked like any other.
    ElevoOptions.model_validate(options(server, filename=ELEVO_FILENAME))


# -- through the engine --------------------------------------------------------------------


async def test_ticking_skip_elevo_sync_takes_the_user_out_of_the_next_file(
    engine: Engine, server: SftpServer
) -> None:
    """S3.3: a checkbox on the employee removes them from the sync; leaving the scope must
    suspend (not delete) the Elevo user, which a file without them does."""
    scope = f"not ({HR}:customFields.skip_elevo_sync eq true)"
    connection = {"type": "elevo", "scope": scope, "options": options(server)}
    config = config_with("elevo", connection, custom_fields={"skip_elevo_sync": "boolean"})
    harness = Harness(engine, config)
    try:
        ada = await harness.create_user("ada")
        skipped = {HR: {"customFields": {"skip_elevo_sync": True}}}
        await harness.create_user("bob", schemas=[CORE, HR], **skipped)
        await harness.worker.drain()
        assert [line.split(",")[3] for line in uploaded_lines(server)[1:]] == ["ada@acme.com"]
        for path in users_folder(server).iterdir():
            path.unlink()  # Elevo took the file
        await harness.patch(ada, f"{HR}:customFields.skip_elevo_sync", True)
        await harness.worker.drain()
        assert uploaded_lines(server) == [HEADER]
    finally:
        await harness.aclose()
