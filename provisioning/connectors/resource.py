"""A vendor's accounts as a REST resource, declared once, and the methods that read it.

Most vendor APIs keep an account at one path (``/users/{id}``), update it with one method,
(de)activate it by writing one field there, delete it or refuse to, and look it up by
comparing a field. A vendor module declares that as a :class:`Resource` and its connector
inherits :class:`ResourceTarget`, which implements ``update``, ``deactivate``,
``reactivate`` and ``delete`` from it; the module keeps only what its vendor does
differently (how a body is written, a termination that is its own call)::

    USERS = Resource(noun="user", item="/users/{id}", lookups={"email": "mail"},
                     status={True: {"active": True}, False: {"active": False}})

    class AcmeConnector(ResourceTarget):
        resource = USERS
"""

from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx

from provisioning.connectors.base import DeliveryContext, RemoteAccount
from provisioning.connectors.dates import has_ended
from provisioning.connectors.fields import FieldForm, write_forms
from provisioning.connectors.paging import Path, member
from provisioning.connectors.profile import ApiClient
from provisioning.errors import PermanentError
from provisioning.responses import account_gone


@dataclass(frozen=True)
class Resource:
    """How one vendor keeps its accounts, as data.

    Attributes:
        noun: what an account is called there ("user", "employee"), in messages.
        item: an account's path below the API root, with ``{id}`` (quoted as one segment).
        id_field: the member of an account's record holding its id.
        envelope: the member of an answer holding the record (``("data",)``), if any.
        lookups: matching key (``email``, ``userName``...) -> the record's field compared.
        write: the method that updates an account at ``item``.
        answer: what an update answers: ``none`` (the account is as it was), ``record``
            (the account's record), or ``maybe`` (the record, else the fields sent).
        status: active -> the body that (de)activates an account, written with ``write``
            (a record holding one is read as that status); None when the connector
            (de)activates in its own way.
        delete: ``DELETE`` sends that at ``item``; ``deactivate`` deactivates instead (the
            API keeps accounts); None refuses, with ``no_delete`` as the reason.
        no_delete: why deletion is refused (what to configure instead).
        forms: field -> how its value is written (:mod:`provisioning.connectors.fields`),
            by the default body of creates and updates.
        params: the query of a read at ``item`` (the ``fields`` to answer).
        ends: the record's member holding the account's last day (a contract's end, a
            termination): the account is active until that day comes, by the connector's
            ``_today()``. Without ``status``, deactivating writes today there (in its
            ``forms``) and reactivating clears it.
        requires: fields an update must send whatever it changes (a PUT that replaces
            them): those the body lacks are read from the account first.
    """

    noun: str
    item: str
    id_field: str = "id"
    envelope: Path = ()
    lookups: Mapping[str, str] = field(default_factory=dict)
    write: str = "PUT"
    answer: Literal["none", "record", "maybe"] = "none"
    status: Mapping[bool, Mapping[str, Any]] | None = None
    delete: Literal["DELETE", "deactivate"] | None = "DELETE"
    no_delete: str = "use deprovision.action: deactivate"
    forms: Mapping[str, FieldForm] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    ends: str | None = None
    requires: tuple[str, ...] = ()

    def path(self, ident: str) -> str:
        """The path of the item ``ident``."""
        # The id comes from the target: quoting keeps it one path segment.
        return self.item.format(id=quote(str(ident), safe=""))


class ResourceTarget:
    """The :class:`~provisioning.connectors.base.TargetConnector` methods a :class:`Resource`
    declares; a subclass sets ``resource`` and ``_api`` and overrides what differs.

    ``lookup_keys`` defaults to the keys of ``resource.lookups``.

    Hooks: :meth:`_body` (a payload as the vendor's body), :meth:`_status` (the body that
    (de)activates), :meth:`_is_active` (what a record says). A resource with an end date
    (``ends``) needs ``_today``, the tenant's current day.
    """

    resource: ClassVar[Resource]
    lookup_keys: ClassVar[tuple[str, ...]]
    _api: ApiClient
    _today: Callable[[], date]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A connector looks up the keys its resource compares, unless it says otherwise.
        if "lookup_keys" not in cls.__dict__ and "resource" in cls.__dict__:
            cls.lookup_keys = tuple(cls.resource.lookups)

    async def update(
        self, account: RemoteAccount, payload: Mapping[str, Any], context: DeliveryContext
    ) -> RemoteAccount:
        """Write the mapped fields at the account's path (with the ``requires`` fields the
        payload lacks, as the account has them); a 404 says the account is gone."""
        body = self._body(payload)
        missing = [name for name in self.resource.requires if not body.get(name)]
        if missing:
            current = await self._current(account.id)
            body |= {name: current.get(name) for name in missing}
        path = self._path(account.id)
        response = await self._api.call(self.resource.write, path, body, gone=account)
        if self.resource.answer == "none":
            return RemoteAccount(id=account.id, active=account.active)
        sent = {self.resource.id_field: account.id, **body}
        return self._account(
            self._record(response, sent if self.resource.answer == "maybe" else None)
        )

    async def deactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Write the inactive status; an account already gone has no access left."""
        path = self._path(account.id)
        await self._api.call(self.resource.write, path, self._status(False), missing_ok=True)

    async def reactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Write the active status; an account gone (404) is a PermanentError."""
        path = self._path(account.id)
        await self._api.call(self.resource.write, path, self._status(True), gone=account)

    async def delete(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Delete as the resource says; an account already gone counts as deleted."""
        how = self.resource.delete
        if how == "deactivate":
            await self.deactivate(account, context)
        elif how == "DELETE":
            await self._api.call("DELETE", self._path(account.id), missing_ok=True)
        else:
            vendor = self._api.profile.vendor
            raise PermanentError(
                f"{vendor}'s API cannot delete {self.resource.noun}s; {self.resource.no_delete}"
            )

    # -- hooks -------------------------------------------------------------------------------

    def _body(self, payload: Mapping[str, Any]) -> Any:
        return write_forms(payload, self.resource.forms)

    def _status(self, active: bool) -> Mapping[str, Any]:
        if self.resource.status is not None:
            return self.resource.status[active]
        if self.resource.ends is not None:
            last_day = None if active else self._today()
            return write_forms({self.resource.ends: last_day}, self.resource.forms)
        raise NotImplementedError(f"{type(self).__name__} declares no status write")

    def _is_active(self, record: Mapping[str, Any]) -> bool | None:
        """What the record says: by its end date if the resource has one, else by the
        declared status bodies (the active one's values, the inactive one's, or neither:
        unknown)."""
        if self.resource.ends is not None:
            return not self._ended(record)
        for active, body in (self.resource.status or {}).items():
            if body and all(_equal(record.get(name), value) for name, value in body.items()):
                return active
        return None

    # -- helpers -----------------------------------------------------------------------------

    def _ended(self, record: Mapping[str, Any]) -> bool:
        """Whether the record's end date (``resource.ends``) has come by today: a later one
        leaves the account active. PermanentError for a value that is not a date."""
        ends = self.resource.ends or ""
        ended = has_ended(record.get(ends), self._today())
        if ended is None:
            vendor = self._api.profile.vendor
            raise PermanentError(f"{vendor} answered a {ends} that is not an ISO 8601 date")
        return ended

    def _path(self, ident: str) -> str:
        return self.resource.path(ident)

    def _lookup(self, key: str) -> str:
        """The field a matching key compares; PermanentError for a key the vendor lacks."""
        if key not in self.resource.lookups:
            vendor = self._api.profile.vendor
            raise PermanentError(f"{vendor} cannot look {self.resource.noun}s up by {key!r}")
        return self.resource.lookups[key]

    async def _matching(
        self, records: AsyncIterable[dict[str, Any]], key: str, value: str
    ) -> list[RemoteAccount]:
        """The accounts among ``records`` whose ``key`` field (:meth:`_lookup`) is ``value``."""
        field_name = self._lookup(key)
        return [self._account(record) for record in await matching(records, field_name, value)]

    def _account(self, record: Any) -> RemoteAccount:
        """A record as a RemoteAccount; PermanentError when it has no id."""
        id_field = self.resource.id_field
        if not isinstance(record, dict) or record.get(id_field) in (None, ""):
            vendor = self._api.profile.vendor
            raise PermanentError(f"{vendor} answered without the {self.resource.noun}'s {id_field}")
        return RemoteAccount(str(record[id_field]), self._is_active(record), record)

    async def _read(self, ident: str, of: Resource | None = None) -> dict[str, Any] | None:
        """The record at an account's path (or an item of the resource ``of``: a
        department), or None when the vendor has no such item."""
        of = of or self.resource
        params = dict(of.params) or None
        response = await self._api.call("GET", of.path(ident), params=params, missing_ok=True)
        return None if response.status_code == 404 else self._record(response, of=of)

    async def _current(self, ident: str) -> dict[str, Any]:
        """The account's record; a missing account is the "account gone" error (404)."""
        record = await self._read(ident)
        if record is None:
            what = self._api.profile.gone.format(id=ident, path=self._path(ident))
            raise account_gone(what, "GET")
        return record

    def _record(
        self,
        response: httpx.Response,
        sent: Mapping[str, Any] | None = None,
        of: Resource | None = None,
    ) -> Any:
        """The record an answer carries (inside the envelope of the resource, or of ``of``);
        ``sent`` stands in for it when a write answers without one."""
        of = of or self.resource
        try:
            record = member(response.json(), of.envelope)
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get(of.id_field) not in (None, ""):
            return record
        if sent is not None:
            return dict(sent)
        self._api.json(response, *of.envelope)  # no JSON, or no envelope: says so
        vendor = self._api.profile.vendor
        raise PermanentError(f"{vendor} answered without the {of.noun}'s {of.id_field}")


def _equal(found: Any, declared: Any) -> bool:
    # Strict: a record's 1 or "true" is not the declared True (an unknown status).
    return type(found) is type(declared) and found == declared


def same(record: Mapping[str, Any], field_name: str, value: str) -> bool:
    """Whether ``record``'s field equals ``value`` case-insensitively (spaces trimmed)."""
    return str(record.get(field_name) or "").strip().casefold() == value.strip().casefold()


async def matching(
    records: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]], field_name: str, value: str
) -> list[dict[str, Any]]:
    """The records (read as they come) whose ``field_name`` is ``value`` (see :func:`same`)."""
    if isinstance(records, AsyncIterable):
        return [record async for record in records if same(record, field_name, value)]
    return [record for record in records if same(record, field_name, value)]
