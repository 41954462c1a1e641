"""The connector contract for file targets: CSV over SFTP, through the whole engine.

The shared contract (contract.py) speaks of per-user HTTP calls and statuses; a file target
instead receives one complete file per run. These are its equivalent checks, run for the
generic ``csv_sftp`` connector and for each vendor built on it: SCIM writes -> outbox ->
worker (one export run per connection) -> connector -> a real SFTP server on loopback, whose
uploaded file is read back the way the vendor's importer would read it.
"""

import csv
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncssh
import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from gateway.config.file import parse_config
from gateway.store.tables import OutboxEvent
from provisioning.accounts import ENTERPRISE
from provisioning.accounts.plan import plan
from provisioning.errors import AuthError
from provisioning.targets.assembly import connector_class
from tests.fakes.sftp_server import SftpServer, sftp_server
from tests.provisioning.harness import TENANT, Harness, config_with

PASSWORD = "sftp-contract-pw-4c1d9e"
WRONG_PASSWORD = "sftp-wrong-pw-77a0b2"
FILENAME = "scimgw_users.csv"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass(frozen=True)
class FileVendor:
    """One file target as the contract sees it.

    Attributes:
        type: the connection type.
        header: the file's columns, in order, as the vendor's importer expects them.
        leavers: how a deactivated user shows: a row whose ``active`` reads false, or no
            row at all (the vendor suspends whoever is missing from the file).
        auth: the credential the vendor's SFTP account uses.
        directory: where the file lands (None: the connector's default).
        active_cells: how the ``active`` column reads, cell text -> active.
        options: further connection options.
    """

    type: str
    header: tuple[str, ...]
    leavers: Literal["inactive", "absent"]
    auth: Literal["password", "private_key"]
    directory: str | None
    active_cells: dict[str, bool] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def upload_dir(self) -> str:
        return self.directory or "/uploads/users"


GENERIC_COLUMNS = ("user_name", "email", "first_name", "last_name", "manager_email", "active")

VENDORS = {
    "csv_sftp": FileVendor(
        "csv_sftp",
        header=GENERIC_COLUMNS,
        leavers="inactive",
        auth="password",
        directory="/upload",
        # The generic default map copies ``active`` as is; SCIM leaves it unset on a new
        # user, which the engine reads as active.
        active_cells={"true": True, "": True, "false": False},
        options={"columns": list(GENERIC_COLUMNS)},
    ),
    "eloops": FileVendor(
        "eloops",
        header=(
            "email",
            "first_name",
            "last_name",
            "employee_id",
            "department",
            "manager_email",
            "active",
        ),
        leavers="inactive",
        auth="password",
        directory="/upload",
        active_cells={"true": True, "false": False},
    ),
    "elevo": FileVendor(
        "elevo",
        header=(
            "registration_number",
            "first_name",
            "last_name",
            "email",
            "username",
            "manager_email",
            "manager_username",
            "job_title",
            "team_name",
            "work_start_date",
        ),
        leavers="absent",
        auth="private_key",
        directory=None,  # Elevo's default folder, /uploads/users
    ),
}


@pytest.fixture(params=sorted(VENDORS))
def vendor(request: pytest.FixtureRequest) -> FileVendor:
    return VENDORS[request.param]


@dataclass
class Keys:
    good: asyncssh.SSHKey
    wrong: asyncssh.SSHKey

    @property
    def secret_texts(self) -> list[str]:
        return [self.good.export_private_key().decode(), self.wrong.export_private_key().decode()]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> Keys:
    pair = Keys(
        asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key("ssh-ed25519")
    )
    monkeypatch.setenv("SFTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SFTP_WRONG_PASSWORD", WRONG_PASSWORD)
    monkeypatch.setenv("SFTP_KEY", pair.good.export_private_key().decode())
    monkeypatch.setenv("SFTP_WRONG_KEY", pair.wrong.export_private_key().decode())
    return pair


@pytest.fixture
async def server(tmp_path: Path, vendor: FileVendor, keys: Keys) -> AsyncIterator[SftpServer]:
    root = tmp_path / "sftp"
    (root / vendor.upload_dir.lstrip("/")).mkdir(parents=True)
    async with sftp_server(root, password=PASSWORD, client_key=keys.good) as running:
        yield running


def connection(
    vendor: FileVendor, server: SftpServer, *, good: bool = True, **extra: Any
) -> dict[str, Any]:
    wrong = "" if good else "WRONG_"
    credential = "PASSWORD" if vendor.auth == "password" else "KEY"
    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "host_key": server.fingerprint,
        "filename": FILENAME,
        vendor.auth: f"${{SFTP_{wrong}{credential}}}",
        **vendor.options,
    }
    if vendor.directory is not None:
        options["directory"] = vendor.directory
    return {"type": vendor.type, "options": options, **extra}


@pytest.fixture
async def harness(engine: Engine, vendor: FileVendor, server: SftpServer) -> AsyncIterator[Harness]:
    running = Harness(engine, config_with("files", connection(vendor, server)))
    yield running
    await running.aclose()


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Every log line so far, structlog's and the standard library's, as one text."""
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        yield lambda: "\n".join([str(e) for e in events] + [r.getMessage() for r in caplog.records])


# -- reading the upload as the vendor's importer would ------------------------------------


def upload_dir(server: SftpServer, vendor: FileVendor) -> Path:
    return server.root / vendor.upload_dir.lstrip("/")


def the_file(server: SftpServer, vendor: FileVendor) -> tuple[list[str], list[dict[str, str]]]:
    """The one uploaded file's header and rows (nothing else may lie in the folder)."""
    assert sorted(p.name for p in upload_dir(server, vendor).iterdir()) == [FILENAME]
    text = (upload_dir(server, vendor) / FILENAME).read_bytes().decode("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def accounts(server: SftpServer, vendor: FileVendor) -> dict[str, dict[str, Any]]:
    """The file's people by lower-case email: ``active`` and ``given_name``."""
    _, rows = the_file(server, vendor)
    emails = [row["email"].lower() for row in rows]
    assert len(emails) == len(set(emails)), "one row per person"
    return {
        row["email"].lower(): {
            "active": vendor.active_cells[row["active"]] if vendor.active_cells else True,
            "given_name": row["first_name"],
        }
        for row in rows
    }


def uploads(server: SftpServer) -> list[tuple[str, ...]]:
    """The file operations the server saw, authentication aside."""
    return [op for op in server.operations if not op[0].startswith("auth")]


def events(harness: Harness) -> list[Any]:
    return harness.rows(OutboxEvent)


def reset_outbox(harness: Harness) -> None:
    outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
    harness.execute(sa.update(outbox).values(status="pending", due_at=harness.clock.now))


# -- check -------------------------------------------------------------------------------


async def test_check_accepts_good_credentials_and_leaves_nothing(
    harness: Harness, server: SftpServer, vendor: FileVendor
) -> None:
    await harness.target.connector.check()
    assert list(upload_dir(server, vendor).iterdir()) == []


async def test_check_rejects_bad_credentials(
    engine: Engine, server: SftpServer, vendor: FileVendor
) -> None:
    harness = Harness(engine, config_with("files", connection(vendor, server, good=False)))
    try:
        with pytest.raises(AuthError, match="rejected the credentials"):
            await harness.target.connector.check()
    finally:
        await harness.aclose()


# -- create, re-run, update, deactivate ---------------------------------------------------


async def test_create_uploads_one_file_with_each_users_row_in_the_vendors_columns(
    harness: Harness, server: SftpServer, vendor: FileVendor
) -> None:
    ada = await harness.create_user("ada")
    await harness.create_user(
        "bob", schemas=[CORE, ENTERPRISE], **{ENTERPRISE: {"manager": {"value": ada}}}
    )
    await harness.worker.drain()
    header, rows = the_file(server, vendor)
    assert tuple(header) == vendor.header
    by_email = {row["email"]: row for row in rows}
    assert sorted(by_email) == ["ada@acme.com", "bob@acme.com"]
    assert by_email["ada@acme.com"]["first_name"] == "Ada"
    assert by_email["ada@acme.com"]["last_name"] == "Tester"
    assert by_email["bob@acme.com"]["manager_email"] == "ada@acme.com"
    assert accounts(server, vendor)["ada@acme.com"]["active"] is True
    # Both events were settled by one run that wrote one file.
    assert [op[0] for op in uploads(server)] == ["open", "posix_rename"]
    assert {event.status for event in events(harness)} == {"done"}


async def test_plan_right_after_an_export_lists_the_next_files_people_not_creations(
    harness: Harness, vendor: FileVendor
) -> None:
    """A file target keeps no per-user link: the dry run used to report every exported
    user as a creation. It now shows the next file, mapped by the export's own code."""
    ada = await harness.create_user("ada")
    await harness.create_user(
        "bob", schemas=[CORE, ENTERPRISE], **{ENTERPRISE: {"manager": {"value": ada}}}
    )
    await harness.worker.drain()
    lines = await plan(harness.engine, harness.target)
    assert {line.user_name: line.operation for line in lines} == {
        "ada@acme.com": "export",
        "bob@acme.com": "export",
    }


async def test_rerunning_replaces_the_file_atomically_with_one_row_per_user(
    harness: Harness, server: SftpServer, vendor: FileVendor
) -> None:
    """A worker died after uploading but before recording it: the replayed run converges."""
    await harness.create_user("ada")
    await harness.worker.drain()
    await harness.create_user("bob")
    await harness.worker.drain()
    reset_outbox(harness)
    await harness.worker.drain()
    assert sorted(accounts(server, vendor)) == ["ada@acme.com", "bob@acme.com"]
    directory = vendor.upload_dir
    part, final = f"{directory}/.{FILENAME}.part", f"{directory}/{FILENAME}"
    assert uploads(server) == [("open", part), ("posix_rename", part, final)] * 3
    assert {event.status for event in events(harness)} == {"done"}


async def test_update_changes_the_users_row(
    harness: Harness, server: SftpServer, vendor: FileVendor
) -> None:
    user = await harness.create_user("ada")
    await harness.worker.drain()
    await harness.patch(user, "name.givenName", "Augusta")
    await harness.worker.drain()
    assert accounts(server, vendor) == {"ada@acme.com": {"active": True, "given_name": "Augusta"}}


async def test_deactivate_then_reactivate_follows_the_vendors_convention(
    harness: Harness, server: SftpServer, vendor: FileVendor
) -> None:
    user = await harness.create_user("ada")
    await harness.create_user("bob")
    await harness.worker.drain()
    await harness.patch(user, "active", False)
    await harness.worker.drain()
    if vendor.leavers == "inactive":
        assert accounts(server, vendor)["ada@acme.com"]["active"] is False
    else:
        assert "ada@acme.com" not in accounts(server, vendor)
    assert accounts(server, vendor)["bob@acme.com"]["active"] is True
    await harness.patch(user, "active", True)
    await harness.worker.drain()
    assert accounts(server, vendor)["ada@acme.com"]["active"] is True


# -- failures ----------------------------------------------------------------------------


async def test_a_refused_upload_is_retried_and_succeeds_once_the_folder_exists(
    harness: Harness, server: SftpServer, vendor: FileVendor
) -> None:
    upload_dir(server, vendor).rmdir()
    await harness.create_user("ada")
    await harness.worker.drain()
    [event] = events(harness)
    assert event.status == "pending"
    assert "TargetConfigError" in event.last_error and "directory exist" in event.last_error
    assert [path for path in server.root.rglob("*") if path.is_file()] == []
    upload_dir(server, vendor).mkdir()
    harness.clock.advance(3600)
    await harness.worker.drain()
    assert accounts(server, vendor)["ada@acme.com"]["active"] is True
    assert [event.status for event in events(harness)] == ["done"]


async def test_rejected_credentials_during_a_run_are_retried_not_dead_lettered(
    engine: Engine, server: SftpServer, vendor: FileVendor
) -> None:
    harness = Harness(engine, config_with("files", connection(vendor, server, good=False)))
    try:
        await harness.create_user("ada")
        await harness.worker.drain()
        [event] = events(harness)
    finally:
        await harness.aclose()
    assert event.status == "pending"  # credentials may be mid-rotation
    assert "AuthError" in event.last_error
    assert uploads(server) == []


async def test_a_mapping_error_dead_letters_the_run_with_a_clear_message(
    engine: Engine, server: SftpServer, vendor: FileVendor
) -> None:
    field_map = {
        **connector_class(vendor.type).default_field_map,
        "badge": {"from": "enterprise:employeeNumber", "required": True},
    }
    config = config_with("files", connection(vendor, server, field_map=field_map))
    harness = Harness(engine, config)
    try:
        ada = await harness.create_user("ada")
        await harness.worker.drain()
        [event] = events(harness)
    finally:
        await harness.aclose()
    assert event.status == "dead"
    assert event.last_error.startswith(f"MappingError: user {ada}: badge: required")
    assert "enterprise:employeeNumber" in event.last_error
    assert uploads(server) == []  # a file without ada would read as her leaving


async def test_no_secret_in_any_log_line_or_delivery_error(
    engine: Engine,
    server: SftpServer,
    vendor: FileVendor,
    keys: Keys,
    captured_logs: Callable[[], str],
) -> None:
    connections = {
        "files": connection(vendor, server),
        "refused": connection(vendor, server, good=False),
    }
    harness = Harness(engine, parse_config({"tenants": {TENANT: {"connections": connections}}}))
    try:
        user = await harness.create_user("ada")
        await harness.worker.drain()
        await harness.patch(user, "active", False)
        await harness.worker.drain()
        errors = [str(event.last_error) for event in events(harness)]
    finally:
        await harness.aclose()
    text = captured_logs() + "\n".join(errors)
    assert "csv_sftp_exported" in text and "AuthError" in text
    for secret in [PASSWORD, WRONG_PASSWORD, *keys.secret_texts]:
        assert secret not in text
    # Key material line by line, in case a log line quoted part of a key.
    for line in keys.secret_texts[0].splitlines()[1:-1]:
        assert line not in text


async def test_an_export_dropping_too_many_people_is_held_until_confirmed(
    engine: Engine, vendor: FileVendor, server: SftpServer
) -> None:
    """A file deprovisions by omission: the mass-deletion guard holds a file that would take
    access from more people than the connection allows, and pauses the connection."""
    from gateway.config import DeletionGuard
    from provisioning.records import claims, guard

    settings = connection(vendor, server, guard={"max_count": 2, "min_linked": 100})
    harness = Harness(engine, config_with("files", settings))
    try:
        users = [await harness.create_user(name) for name in ("ada", "bob", "cy", "dan", "eve")]
        await harness.worker.drain()
        _, before = the_file(server, vendor)
        for user in users[1:]:
            await harness.patch(user, "active", False)
        await harness.worker.drain()
        assert the_file(server, vendor)[1] == before  # the shrunken file was not uploaded
        held = [row for row in harness.rows(OutboxEvent) if row.status == "held"]
        assert held and "drops 4 of 5 people" in held[0].last_error
        with engine.begin() as db:
            assert guard.state(db, "acme", "files").paused

        with engine.begin() as db:  # what `scimgw guard confirm files` does
            guard.confirm(db, "acme", "files", DeletionGuard(max_count=2), harness.clock.now)
            claims.requeue(db, status=claims.HELD, now=harness.clock.now)
        await harness.worker.drain()
        assert the_file(server, vendor)[1] != before
    finally:
        await harness.aclose()
