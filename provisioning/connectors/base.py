"""The interface every target connector implements, and what the engine hands it.

A connector is small (ARCHITECTURE.md, "Connectors"): a declarative default field map plus
a few async methods. It receives payloads already mapped by the engine, calls the target's
API through the ``httpx.AsyncClient`` the engine built (auth, timeouts, rate limit), and
raises :mod:`provisioning.errors` types. It never sleeps, retries or logs secrets.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class RemoteAccount:
    """An account in the target, as far as the engine needs to know it.

    Attributes:
        id: the target's identifier, stored in the link table.
        active: whether the target considers it active, when the target says.
        fields: the target's own representation, for matching and diagnostics.
    """

    id: str
    active: bool | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryContext:
    """Who and what a call is about; ``event_id`` doubles as an idempotency key.

    ``event_id`` is the newest outbox event the delivered state covers: the same on every
    retry of that state. All calls of one delivery share it (a reactivation may also
    update), so a connector that sends it must tell its calls apart (webhook.event_id_for).
    """

    tenant: str
    connection: str
    resource_type: str
    resource_id: str
    event_id: int
    action: str


class ConnectorOptions(BaseModel):
    """The base of a connector's ``options:`` model: unknown keys are refused (a typo
    must not pass silently), and a refused value is never echoed (it may be a secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


@dataclass(frozen=True)
class ConnectorSetup:
    """What the engine gives a connector when it builds it.

    Attributes:
        name: the connection's name in the configuration.
        base_url: the target's API root.
        http: a client with the connection's auth, timeouts and redacted logging.
        options: the connector-specific settings of the connection (``options:``).
    """

    name: str
    base_url: str
    http: httpx.AsyncClient
    options: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TargetConnector(Protocol):
    """An app that receives users (one account per SCIM user).

    ``payload`` arguments are the output of the connection's field map: target field
    names to values. Every method raises a :class:`provisioning.errors.DeliveryError`
    subclass on failure and returns normally only when the target has the effect.
    """

    #: The ``type`` that selects this connector in the configuration.
    type: ClassVar[str]
    #: Target field <- SCIM path entries used when the connection gives no field_map.
    default_field_map: ClassVar[Mapping[str, Any]]
    #: Matching keys (email, userName, employeeNumber, externalId) this target can look up.
    lookup_keys: ClassVar[tuple[str, ...]]

    async def check(self) -> None:
        """Prove the credentials and settings with a read-only call; raise AuthError if bad."""

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """Accounts whose ``key`` equals ``value`` case-insensitively (empty if none)."""

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """Create the account; raise ConflictError if the target already has it."""

    async def update(
        self, account: RemoteAccount, payload: Mapping[str, Any], context: DeliveryContext
    ) -> RemoteAccount:
        """Bring the account to ``payload`` (the target may ignore unchanged fields)."""

    async def deactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Take away access, keeping the account (idempotent)."""

    async def reactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Give access back to a deactivated account (idempotent)."""

    async def delete(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Remove the account; a missing account is not an error."""


@runtime_checkable
class ExportConnector(Protocol):
    """A target fed by a full file per run (CSV over SFTP) rather than per-user calls.

    The engine coalesces a connection's due events into one run and hands over every
    in-scope user's mapped row; deactivated users are included with their status, so a
    leaver disappears from access on the vendor's next import.
    """

    type: ClassVar[str]
    default_field_map: ClassVar[Mapping[str, Any]]

    async def check(self) -> None:
        """Prove that the destination is reachable and writable."""

    async def export(self, rows: list[Mapping[str, Any]], context: DeliveryContext) -> str:
        """Write one complete file atomically; return its remote name."""


@runtime_checkable
class GroupTarget(Protocol):
    """A target that also holds groups, next to its :class:`TargetConnector` methods.

    A remote group is a :class:`RemoteAccount` too (its ``id`` is stored in the link
    table; ``active`` is None). ``payload`` is the output of the connection's group field
    map (``default_group_field_map`` when it gives none). Members are always given as
    the *remote* ids of linked accounts: the engine translates, the connector does not.
    Errors are :class:`provisioning.errors.DeliveryError` subclasses, as for users.
    """

    #: Target field <- SCIM path entries for groups (displayName, externalId...).
    default_group_field_map: ClassVar[Mapping[str, Any]]

    @property
    def manages_groups(self) -> bool:
        """Whether this connection takes group changes; the configuration may turn them off."""

    async def find_group(self, display_name: str) -> list[RemoteAccount]:
        """Groups whose display name equals ``display_name`` case-insensitively."""

    async def create_group(
        self, payload: Mapping[str, Any], members: Collection[str], context: DeliveryContext
    ) -> RemoteAccount:
        """Create the group with exactly ``members``; ConflictError if it already exists."""

    async def update_group(
        self,
        group: RemoteAccount,
        payload: Mapping[str, Any],
        members: Collection[str] | None,
        context: DeliveryContext,
    ) -> RemoteAccount:
        """Bring the group to ``payload`` and its members to exactly ``members``.

        ``members=None`` leaves the membership alone (a rename). Idempotent. A group gone
        from the target is a PermanentError with status 404, so the engine re-links it.
        """

    async def delete_group(self, group: RemoteAccount, context: DeliveryContext) -> None:
        """Remove the group; a missing group is not an error."""


@dataclass(frozen=True)
class SourcePage:
    """One page of people read from a source.

    Attributes:
        records: the vendor's records, as its API returns them (mapped by the engine).
        next: what :meth:`SourceConnector.read_page` takes to read the next page; None
            on the last page.
        checkpoint: the value a later incremental read starts from (``since``); a source
            gives it on the first page, as of when the read began.
        gone: ids of people the source says were deleted since ``since``: an incremental
            read has no other way to tell (a full read's absentees are gone already).
    """

    records: list[Mapping[str, Any]]
    next: str | None = None
    checkpoint: str | None = None
    gone: tuple[str, ...] = ()


@runtime_checkable
class SourceConnector(Protocol):
    """An HR or ATS system people are read from (a source connection).

    A source connector only reads and hands over the vendor's records: the engine maps
    them with the connection's read map, matches, diffs and applies (provisioning.sources).
    Methods raise :class:`provisioning.errors.DeliveryError` subclasses (AuthError,
    RateLimited with its ``retry_after``, ...); they never sleep or retry.
    """

    type: ClassVar[str]
    #: SCIM path <- source field entries used when the connection gives no read map.
    default_read_map: ClassVar[Mapping[str, Any]]
    #: The pydantic model of the connection's ``options`` (checked by ``config check``).
    options_model: ClassVar[Any]

    async def check(self) -> None:
        """Prove the credentials with a read-only call; raise AuthError if bad."""

    async def read_page(self, since: str | None, cursor: str | None) -> SourcePage:
        """One page of people: all of them (``since`` None) or those changed since a
        checkpoint; ``cursor`` None reads the first page."""
