"""Generic CSV over SFTP: one complete file per run, for vendors whose import is a file drop.

Eloops and Elevo have no user API; their import reads a CSV from an SFTP directory
(docs/connectors/csv-sftp.md). Each run uploads the whole in-scope population, leavers
included with their status, under a temporary name ``.{name}.part`` and then renames it, so
the vendor's importer never reads a half-written file.

The host key is always verified (``known_hosts`` or a ``host_key`` fingerprint) unless the
connection explicitly opts out; credentials go only to a verified server.
"""

import csv
import functools
import io
import posixpath
import string
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

import asyncssh
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.config import Secret
from provisioning.connectors.base import ConnectorSetup, DeliveryContext
from provisioning.errors import (
    AuthError,
    DeliveryError,
    MappingError,
    PermanentError,
    TargetConfigError,
    TransientError,
)

log = structlog.get_logger("provisioning.connectors.csv_sftp")

#: Placeholders a filename template may use.
FILENAME_FIELDS = frozenset({"date", "time", "connection", "tenant"})


class CsvSftpOptions(BaseModel):
    """The ``options:`` of a ``csv_sftp`` connection.

    Attributes:
        host, port, username: the SFTP account.
        password: a secret reference; and/or
        private_key: a secret reference to PEM/OpenSSH private key text, with
            ``private_key_passphrase`` if it is encrypted.
        known_hosts: path of an OpenSSH known_hosts file holding the server's key; or
        host_key: the server key's fingerprint as ``ssh-keygen -lf`` prints it
            (``SHA256:...``); or
        insecure_skip_host_key_check: accept any server key (test setups only).
        directory: where the file goes on the server.
        filename: template with ``{date:%Y%m%d}``, ``{time:%H%M%S}`` (UTC), ``{connection}``
            and ``{tenant}``.
        columns: the header, in order; default: the mapped rows' fields, in field map order.
        delimiter, encoding: CSV dialect; ``utf-8-sig`` adds the BOM Excel wants.
        timeout_seconds: limit for connecting and authenticating.
    """

    # hide_input_in_errors: a secret pasted as a literal must not be echoed by the error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    host: str
    port: int = Field(22, ge=1, le=65535)
    username: str
    password: Secret | None = None
    private_key: Secret | None = None
    private_key_passphrase: Secret | None = None
    known_hosts: str | None = None
    host_key: str | None = Field(None, pattern=r"^SHA256:[A-Za-z0-9+/]{43}=?$")
    insecure_skip_host_key_check: bool = False
    directory: str = "."
    filename: str = "users-{date:%Y%m%d}-{time:%H%M%S}.csv"
    columns: list[str] | None = Field(None, min_length=1)
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: Literal["utf-8", "utf-8-sig"] = "utf-8"
    timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("known_hosts")
    @classmethod
    def _readable_known_hosts(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                asyncssh.read_known_hosts(value)
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read known_hosts file {value}: {exc}") from None
        return value

    @field_validator("filename")
    @classmethod
    def _plain_filename(cls, value: str) -> str:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if unknown := fields - FILENAME_FIELDS:
            raise ValueError(
                f"unknown placeholders {sorted(unknown)}; use {sorted(FILENAME_FIELDS)}"
            )
        sample = value.format(
            date=datetime(2000, 1, 1), time=datetime(2000, 1, 1), connection="c", tenant="t"
        )
        if "/" in sample or sample.startswith(".") or not sample:
            raise ValueError("the filename must be a plain name, not a path or a hidden file")
        return value

    @model_validator(mode="after")
    def _credentials_and_host_key(self) -> "CsvSftpOptions":
        if self.password is None and self.private_key is None:
            raise ValueError("set password or private_key (a secret reference)")
        pinned = self.known_hosts is not None or self.host_key is not None
        if pinned == self.insecure_skip_host_key_check:
            raise ValueError(
                "set known_hosts or host_key to verify the server, or explicitly "
                "insecure_skip_host_key_check: true (not both)"
            )
        if self.private_key is not None:
            _client_key(self)  # a key that cannot be read fails at configuration time
        return self


class CsvSftpConnector:
    """An :class:`~provisioning.connectors.base.ExportConnector` writing CSV files over SFTP.

    Args:
        setup: the connection's name and ``options`` (see :class:`CsvSftpOptions`); its
            HTTP client and base URL are not used.
        clock: the current UTC time, for the filename; injected for tests.
    """

    # Before ``type``, which shadows the builtin in the class body.
    options_model: ClassVar[type[CsvSftpOptions]] = CsvSftpOptions
    type: ClassVar[str] = "csv_sftp"
    #: A vendor's columns, written first and in this order (subclasses for vendors set it).
    layout: ClassVar[tuple[str, ...]] = ()
    #: Columns the vendor identifies people by: a run whose rows repeat a value fails.
    key_columns: ClassVar[tuple[str, ...]] = ()
    default_field_map: ClassVar[Mapping[str, Any]] = {
        "user_name": "userName",
        "email": 'emails[type eq "work"].value',
        "first_name": "name.givenName",
        "last_name": "name.familyName",
        "employee_id": "enterprise:employeeNumber",
        "department": "enterprise:department",
        # Eloops' and Elevo's imports both place people under a manager by email.
        "manager_email": {"transform": [{"manager": "email"}]},
        "active": "active",
    }

    def __init__(
        self, setup: ConnectorSetup, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._options = self.options_model.model_validate(dict(setup.options))
        self._clock = clock
        self._where = f"{self._options.host}:{self._options.port}"

    async def check(self) -> None:
        """Connect, authenticate, and write then remove a probe file in the directory."""
        directory = self._options.directory
        probe = posixpath.join(directory, f".scimgw-probe-{uuid.uuid4().hex}")
        async with self._sftp() as sftp:
            if not await sftp.isdir(directory):
                raise TargetConfigError(f"{self._where}: directory {directory!r} does not exist")
            await _write(sftp, probe, b"")
            await sftp.remove(probe)

    async def export(self, rows: list[Mapping[str, Any]], context: DeliveryContext) -> str:
        """Upload ``rows`` as one CSV file, atomically; return the remote file name."""
        for column in self.key_columns:
            require_unique(rows, column)
        data = render_csv(rows, self._columns(rows), self._options.delimiter)
        body = data.encode(self._options.encoding)
        name = self._filename(context)
        final = posixpath.join(self._options.directory, name)
        part = posixpath.join(self._options.directory, f".{name}.part")
        async with self._sftp() as sftp:
            try:
                await _write(sftp, part, body)
                await _replace(sftp, part, final)
            except Exception:
                await _remove_quietly(sftp, part)
                raise
        log.info(
            "csv_sftp_exported",
            connection=context.connection,
            host=self._where,
            path=final,
            rows=len(rows),
            size=len(body),
        )
        return name

    def _columns(self, rows: list[Mapping[str, Any]]) -> list[str]:
        if self._options.columns:
            return self._options.columns
        # dicts keep the field map's order; a key absent from the first row still counts.
        seen = dict.fromkeys([*self.layout, *(key for row in rows for key in row)])
        return list(seen) or list(self.default_field_map)

    def _filename(self, context: DeliveryContext) -> str:
        now = self._clock()
        return self._options.filename.format(
            date=now, time=now, connection=context.connection, tenant=context.tenant
        )

    @asynccontextmanager
    async def _sftp(self) -> AsyncIterator[asyncssh.SFTPClient]:
        with _translated(self._where):
            async with await self._connect() as conn, conn.start_sftp_client() as sftp:
                yield sftp

    async def _connect(self) -> asyncssh.SSHClientConnection:
        options = self._options
        password = options.password.get_secret_value() if options.password else None
        return await asyncssh.connect(
            options.host,
            options.port,
            username=options.username,
            password=password,
            client_keys=[_client_key(options)] if options.private_key else None,
            connect_timeout=options.timeout_seconds,
            # Only what the connection declares: no ~/.ssh/config, agent, default keys.
            config=None,
            agent_path=None,
            agent_identities=None,
            gss_auth=False,
            gss_kex=False,
            **_host_key_policy(options),
        )


def render_csv(rows: list[Mapping[str, Any]], columns: list[str], delimiter: str = ",") -> str:
    """The CSV text: a header row, then one row per mapping, minimal quoting, CRLF endings.

    Raises:
        MappingError: a value is a list or an object (map it to a single value).
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for number, row in enumerate(rows, start=1):
        writer.writerow([_cell(row.get(column), column, number) for column in columns])
    return out.getvalue()


def require_unique(rows: list[Mapping[str, Any]], column: str) -> None:
    """Fail when two rows hold the same ``column`` value (case-insensitive; empty ones aside).

    Raises:
        MappingError: naming the rows and the column, never the value.
    """
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        value = row.get(column)
        if value is None or value == "":
            continue
        key = str(value).casefold()
        if key in first_row:
            raise MappingError(
                f"rows {first_row[key]} and {number} have the same {column!r}, which the "
                "vendor identifies people by"
            )
        first_row[key] = number


def _cell(value: Any, column: str, row: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple | set):
        raise MappingError(f"row {row}, column {column!r}: a CSV cell needs a single value")
    return str(value)


def _client_key(options: CsvSftpOptions) -> asyncssh.SSHKey:
    assert options.private_key is not None
    passphrase = options.private_key_passphrase
    try:
        return asyncssh.import_private_key(
            options.private_key.get_secret_value(),
            passphrase.get_secret_value() if passphrase else None,
        )
    except (asyncssh.KeyImportError, ValueError):
        # asyncssh's message is not needed and the key text must stay out of errors.
        raise ValueError(
            "private_key is not a readable private key (or wrong passphrase)"
        ) from None


def _host_key_policy(options: CsvSftpOptions) -> dict[str, Any]:
    if options.insecure_skip_host_key_check:
        return {"known_hosts": None}
    if options.known_hosts is not None:
        return {"known_hosts": options.known_hosts}
    # No key is trusted up front, so asyncssh asks _PinnedHostKey; offer every algorithm.
    return {
        "known_hosts": ([], [], []),
        "server_host_key_algs": "default",
        "client_factory": functools.partial(_PinnedHostKey, options.host_key or ""),
    }


class _PinnedHostKey(asyncssh.SSHClient):
    """Accept exactly the server key whose SHA-256 fingerprint was configured."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return key.get_fingerprint("sha256").rstrip("=") == self._fingerprint.rstrip("=")


async def _write(sftp: asyncssh.SFTPClient, path: str, body: bytes) -> None:
    async with sftp.open(path, "wb") as remote:
        await remote.write(body)


async def _replace(sftp: asyncssh.SFTPClient, source: str, target: str) -> None:
    """Rename ``source`` over ``target``: atomically where the server offers posix-rename."""
    try:
        await sftp.posix_rename(source, target)
    except asyncssh.SFTPOpUnsupported:
        # Plain SFTPv3 rename refuses an existing target: a short window without the file.
        await _remove_quietly(sftp, target)
        await sftp.rename(source, target)


async def _remove_quietly(sftp: asyncssh.SFTPClient, path: str) -> None:
    # Cleanup must not hide the error that brought us here.
    with suppress(asyncssh.Error, OSError):
        await sftp.remove(path)


@contextmanager
def _translated(where: str) -> Iterator[None]:
    """Turn asyncssh and socket failures into delivery errors that carry no secret."""
    try:
        yield
    except DeliveryError:
        raise
    except asyncssh.SFTPError as exc:
        raise _sftp_error(where, exc) from None
    except asyncssh.DisconnectError as exc:
        raise _disconnect_error(where, exc) from None
    except asyncssh.Error as exc:  # e.g. the SFTP subsystem is not offered
        raise PermanentError(f"{where}: {exc.reason}") from None
    except TimeoutError:
        raise TransientError(f"{where}: timed out") from None
    except OSError as exc:
        raise TransientError(
            f"{where}: connection failed: {exc.strerror or type(exc).__name__}"
        ) from None


def _sftp_error(where: str, exc: asyncssh.SFTPError) -> DeliveryError:
    message = f"{where}: {exc.reason}"
    if isinstance(exc, asyncssh.SFTPNoSuchFile | asyncssh.SFTPNoSuchPath):
        return TargetConfigError(f"{message} (does the directory exist?)")
    if isinstance(exc, asyncssh.SFTPPermissionDenied | asyncssh.SFTPWriteProtect):
        return TargetConfigError(f"{message} (is the directory writable by this user?)")
    if isinstance(
        exc, asyncssh.SFTPFailure | asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection
    ):
        return TransientError(message)
    return PermanentError(message)


def _disconnect_error(where: str, exc: asyncssh.DisconnectError) -> DeliveryError:
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthError(f"{where}: the server rejected the credentials")
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return PermanentError(
            f"{where}: the server's host key does not match known_hosts/host_key "
            "(a changed key or an impersonation); nothing was sent"
        )
    if isinstance(exc, asyncssh.KeyExchangeFailed | asyncssh.ProtocolNotSupported):
        return PermanentError(f"{where}: {exc.reason}")
    return TransientError(f"{where}: disconnected: {exc.reason}")
