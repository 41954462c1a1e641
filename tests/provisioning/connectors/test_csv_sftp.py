"""CSV over SFTP, against a real asyncssh server on loopback (docs/connectors/csv-sftp.md)."""

import logging
import socket
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest
import structlog
from pydantic import ValidationError

from provisioning.connectors import ConnectorSetup, DeliveryContext
from provisioning.connectors.csv_sftp import CsvSftpConnector, CsvSftpOptions, render_csv
from provisioning.errors import (
    AuthError,
    DeliveryError,
    MappingError,
    PermanentError,
    TargetConfigError,
    TransientError,
)
from provisioning.mapping import FieldMap
from tests.fakes.sftp_server import SftpServer, sftp_server

PASSWORD = "correct-horse-battery-7"
PASSWORD_ENV = "SCIMGW_TEST_SFTP_PASSWORD"
KEY_ENV = "SCIMGW_TEST_SFTP_KEY"
NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
CONTEXT = DeliveryContext(
    tenant="acme",
    connection="eloops",
    resource_type="User",
    resource_id="*",
    event_id=12,
    action="export",
)
ROWS: list[Mapping[str, Any]] = [
    {"email": "ada@acme.test", "first_name": "Ada", "last_name": "Lovelace", "active": True},
    {"email": "bob@acme.test", "first_name": "Bob", "last_name": "O'Neil, Jr", "active": False},
]


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[SftpServer]:
    root = tmp_path / "sftp"
    (root / "upload").mkdir(parents=True)
    async with sftp_server(root, password=PASSWORD) as running:
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
        "directory": "/upload",
        "filename": "users.csv",
    }
    return {**base, **overrides}


def connector(http: httpx.AsyncClient, opts: dict[str, Any]) -> CsvSftpConnector:
    setup = ConnectorSetup(name="eloops", base_url="", http=http, options=opts)
    return CsvSftpConnector(setup, clock=lambda: NOW)


def uploaded(server: SftpServer) -> list[str]:
    return sorted(path.name for path in (server.root / "upload").iterdir())


def file_operations(server: SftpServer) -> list[tuple[str, ...]]:
    return [op for op in server.operations if not op[0].startswith("auth")]


def auth_attempts(server: SftpServer) -> list[tuple[str, ...]]:
    return [op for op in server.operations if op[0].startswith("auth")]


# -- the file ----------------------------------------------------------------------------


async def test_export_lands_one_complete_file_with_header_and_rows_in_order(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    name = await connector(http, options(server)).export(ROWS, CONTEXT)
    assert name == "users.csv"
    assert (server.root / "upload" / "users.csv").read_bytes() == (
        b"email,first_name,last_name,active\r\n"
        b"ada@acme.test,Ada,Lovelace,true\r\n"
        b'bob@acme.test,Bob,"O\'Neil, Jr",false\r\n'
    )


async def test_the_file_is_written_under_a_temporary_name_then_renamed(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    await connector(http, options(server)).export(ROWS, CONTEXT)
    assert file_operations(server) == [
        ("open", "/upload/.users.csv.part"),
        ("posix_rename", "/upload/.users.csv.part", "/upload/users.csv"),
    ]
    assert uploaded(server) == ["users.csv"]


async def test_a_second_export_replaces_the_rows_with_the_full_new_set(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    target = connector(http, options(server))
    await target.export(ROWS, CONTEXT)
    await target.export(ROWS[1:], CONTEXT)
    text = (server.root / "upload" / "users.csv").read_text()
    assert text.splitlines() == [
        "email,first_name,last_name,active",
        'bob@acme.test,Bob,"O\'Neil, Jr",false',
    ]
    assert uploaded(server) == ["users.csv"]


async def test_a_failed_rename_leaves_no_temporary_file(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    (server.root / "upload" / "users.csv").mkdir()  # a directory squats the final name
    with pytest.raises(DeliveryError):
        await connector(http, options(server)).export(ROWS, CONTEXT)
    assert uploaded(server) == ["users.csv"]
    assert ("remove", "/upload/.users.csv.part") in server.operations


async def test_without_posix_rename_the_old_file_is_removed_then_replaced(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    (tmp_path / "upload").mkdir()
    (tmp_path / "upload" / "users.csv").write_text("stale\r\n")
    async with sftp_server(tmp_path, password=PASSWORD, posix_rename=False) as plain:
        await connector(http, options(plain)).export(ROWS, CONTEXT)
    assert (tmp_path / "upload" / "users.csv").read_text().startswith("email,")
    assert file_operations(plain)[-2:] == [
        ("remove", "/upload/users.csv"),
        ("rename", "/upload/.users.csv.part", "/upload/users.csv"),
    ]
    assert uploaded(plain) == ["users.csv"]


async def test_filename_template_columns_delimiter_and_excel_bom(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    opts = options(
        server,
        filename="{connection}_{date:%Y%m%d}_{time:%H%M%S}.csv",
        columns=["last_name", "email", "department"],
        delimiter=";",
        encoding="utf-8-sig",
    )
    name = await connector(http, opts).export(ROWS, CONTEXT)
    assert name == "eloops_20250314_092653.csv"
    content = (server.root / "upload" / name).read_bytes()
    assert content.startswith(b"\xef\xbb\xbflast_name;email;department\r\n")
    assert content.decode("utf-8-sig").splitlines()[2] == "O'Neil, Jr;bob@acme.test;"


def test_cells_render_dates_and_booleans_and_refuse_lists() -> None:
    text = render_csv([{"start": date(2024, 5, 1), "ok": True, "x": None}], ["start", "ok", "x"])
    assert text == "start,ok,x\r\n2024-05-01,true,\r\n"
    with pytest.raises(MappingError, match="row 1, column 'groups'"):
        render_csv([{"groups": ["a", "b"]}], ["groups"])


async def test_an_empty_run_writes_the_header_of_the_default_field_map(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    await connector(http, options(server)).export([], CONTEXT)
    header = (server.root / "upload" / "users.csv").read_text().strip()
    assert header.split(",") == list(CsvSftpConnector.default_field_map)


def test_the_default_field_map_is_a_valid_field_map_in_column_order() -> None:
    parsed = FieldMap.parse(dict(CsvSftpConnector.default_field_map))
    assert list(parsed.fields) == list(CsvSftpConnector.default_field_map)
    assert parsed.needs_manager  # manager_email


# -- check -------------------------------------------------------------------------------


async def test_check_proves_the_directory_is_writable_and_leaves_nothing(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    await connector(http, options(server)).check()
    assert [op[0] for op in file_operations(server)] == ["open", "remove"]
    assert uploaded(server) == []


async def test_check_reports_a_missing_directory(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    with pytest.raises(TargetConfigError, match="'/outbox' does not exist"):
        await connector(http, options(server, directory="/outbox")).check()


async def test_export_to_a_missing_directory_fails_and_leaves_nothing(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    with pytest.raises(TargetConfigError, match="directory exist"):
        await connector(http, options(server, directory="/outbox")).export(ROWS, CONTEXT)
    assert sorted(p.name for p in server.root.iterdir()) == ["upload"]


# -- authentication and host keys ---------------------------------------------------------


async def test_wrong_password_raises_auth_error(
    server: SftpServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong-password-123")
    with pytest.raises(AuthError, match="rejected the credentials"):
        await connector(http, options(server)).export(ROWS, CONTEXT)
    assert uploaded(server) == []


async def test_private_key_authentication(
    tmp_path: Path, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    monkeypatch.setenv(KEY_ENV, key.export_private_key().decode())
    (tmp_path / "upload").mkdir()
    async with sftp_server(tmp_path, client_key=key) as keyed:
        opts = options(keyed, password=None, private_key=f"${{{KEY_ENV}}}")
        await connector(http, opts).export(ROWS, CONTEXT)
    assert uploaded(keyed) == ["users.csv"]
    # SSH asks whether the key is acceptable before signing with it: two calls, one key.
    assert {op[0] for op in auth_attempts(keyed)} == {"auth_public_key"}


async def test_a_known_hosts_file_holding_the_servers_key_is_accepted(
    server: SftpServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    opts = options(server, host_key=None, known_hosts=str(known_hosts))
    await connector(http, opts).export(ROWS, CONTEXT)
    assert uploaded(server) == ["users.csv"]


async def test_an_unknown_host_key_is_rejected_before_sending_credentials(
    server: SftpServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{server.host}]:{server.port} {other}")
    opts = options(server, host_key=None, known_hosts=str(known_hosts))
    with pytest.raises(PermanentError, match="host key does not match"):
        await connector(http, opts).export(ROWS, CONTEXT)
    assert uploaded(server) == []
    assert auth_attempts(server) == []


async def test_a_wrong_host_key_fingerprint_is_rejected(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").get_fingerprint("sha256")
    with pytest.raises(PermanentError, match="host key does not match"):
        await connector(http, options(server, host_key=other)).check()
    assert server.operations == []


async def test_host_key_check_is_skipped_only_when_explicitly_asked(
    server: SftpServer, http: httpx.AsyncClient
) -> None:
    with pytest.raises(ValidationError, match="insecure_skip_host_key_check"):
        CsvSftpOptions.model_validate(options(server, host_key=None))
    opts = options(server, host_key=None, insecure_skip_host_key_check=True)
    await connector(http, opts).check()


# -- transport failures and secrecy -------------------------------------------------------


async def test_connection_refused_raises_transient_error(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    opts = {
        "host": "127.0.0.1",
        "port": port,
        "username": "scimgw",
        "password": f"${{{PASSWORD_ENV}}}",
        "insecure_skip_host_key_check": True,
    }
    with pytest.raises(TransientError, match="connection failed"):
        await connector(http, opts).check()


async def test_no_secret_reaches_logs_or_error_messages(
    server: SftpServer,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[DeliveryError] = []
    with structlog.testing.capture_logs() as logs:
        await connector(http, options(server)).export(ROWS, CONTEXT)
        monkeypatch.setenv(PASSWORD_ENV, "wrong-password-456")
        with pytest.raises(AuthError) as caught:
            await connector(http, options(server)).export(ROWS, CONTEXT)
        errors.append(caught.value)
    assert logs and logs[0]["event"] == "csv_sftp_exported"
    assert "asyncssh" in caplog.text  # the library's own debug logs were captured too
    seen = repr(logs) + caplog.text + " ".join(repr(e) + str(e) for e in errors)
    assert PASSWORD not in seen and "wrong-password-456" not in seen


# -- options -----------------------------------------------------------------------------


def test_options_need_a_credential_and_refuse_literal_secrets(server: SftpServer) -> None:
    with pytest.raises(ValidationError, match="password or private_key"):
        CsvSftpOptions.model_validate(options(server, password=None))
    with pytest.raises(ValidationError) as caught:
        CsvSftpOptions.model_validate(options(server, password="pasted-literal-pw"))
    assert "pasted-literal-pw" not in str(caught.value)


def test_an_unreadable_private_key_fails_at_configuration_time(
    server: SftpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key\n")
    with pytest.raises(ValidationError, match="not a readable private key") as caught:
        CsvSftpOptions.model_validate(options(server, private_key=f"${{{KEY_ENV}}}"))
    assert "not-a-key" not in str(caught.value)


@pytest.mark.parametrize("template", ["../users.csv", ".hidden.csv", "users-{user}.csv"])
def test_filename_templates_are_plain_names_with_known_placeholders(
    server: SftpServer, template: str
) -> None:
    with pytest.raises(ValidationError, match="filename"):
        CsvSftpOptions.model_validate(options(server, filename=template))
