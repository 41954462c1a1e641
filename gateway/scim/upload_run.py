"""Running the operations of one bulkUpload request: upsert each user by externalId.

Entra's inbound provisioning semantics (target-apis.md §7 [V]): every operation is a
POST; the user whose ``externalId`` it carries is updated, else created; ``active:false``
disables; the enterprise ``manager.value`` is the manager's externalId. Each operation
is its own transaction through :class:`~gateway.service.ResourceService` (so it fans
out to the targets like any SCIM write): one that fails leaves the others applied, and
its result says why.

An update replaces the attributes the operation gives and keeps those it leaves out, as
Entra's does: it is a PATCH whose one operation is a path-less ``replace`` of the data
(RFC 7644 §3.5.2.3: complex attributes merge sub-attribute by sub-attribute, a
multi-valued attribute given is replaced whole, ``null`` clears).

A manager is looked up by externalId when its report's operation runs. A manager whose
own operation comes later in the same request is named after every operation of the
request ran. One that no user has yet is left as it was, the result says
``unresolvedManager``, and the report waits (gateway.store.uploads, pending managers):
the push that creates the manager, in any later request, names it.
"""

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from gateway.errors import (
    ConflictException,
    InvalidValueException,
    NotFoundException,
    SCIMException,
    as_scim_exception,
    error_body,
)
from gateway.scim import dialects, limits
from gateway.scim.kinds import Kind
from gateway.scim.offload import off_loop
from gateway.scim.upload_attributes import apply_attribute_map
from gateway.scim.upload_managers import named_manager, with_manager, without_manager
from gateway.scim.upload_request import Upload
from gateway.service import ResourceService, Transaction
from gateway.store import uploads
from gateway.store.calls import StoreCaller
from gateway.store.database import reader

CREATED, UPDATED, UNCHANGED, FAILED = "created", "updated", "unchanged", "failed"
STATUSES = (CREATED, UPDATED, UNCHANGED, FAILED)
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#: The longest externalId a result repeats (the column's width): a longer one is refused.
EXTERNAL_ID_SHOWN = 300
#: Waiting reports one operation names its user the manager of; the others wait for the
#: next push of that manager (a request stays short: each is a write).
REPORTS_PER_OPERATION = 1000


@dataclass(frozen=True)
class Outcome:
    """What one operation did, as its entry in the request's result shows it."""

    upload: Upload
    status: str
    user_id: str | None = None
    error: SCIMException | None = None
    ignored: tuple[str, ...] = ()
    #: The manager's externalId, when no single user has it (the manager is unchanged).
    unresolved_manager: str | None = None
    #: The manager's externalId, to resolve once the request's other operations ran.
    deferred_manager: str | None = None
    #: Users pushed earlier, waiting for this user as their manager, now named so.
    reports_named: int = 0

    def entry(self, root: str) -> dict[str, Any]:
        """The operation's entry in the result document; ids and statuses, no values."""
        upload = self.upload
        found: dict[str, Any] = {
            "bulkId": upload.bulk_id,
            "externalId": upload.external_id[:EXTERNAL_ID_SHOWN],
            "status": self.status,
            "id": self.user_id,
            "location": f"{root}/Users/{self.user_id}" if self.user_id else None,
            "error": error_body(self.error) if self.error is not None else None,
            "ignoredAttributes": list(self.ignored) or None,
            "unresolvedManager": self.unresolved_manager,
            "reportsNamed": self.reports_named or None,
        }
        return {key: value for key, value in found.items() if value is not None}


@dataclass(frozen=True)
class _ManagerRead:
    """An operation's data once its manager is looked up."""

    payload: dict[str, Any]
    #: Whether the data names a manager (or clears it): a waiting one is then forgotten.
    named: bool = False
    unresolved: str | None = None
    deferred: str | None = None


def _path_less_replace(payload: dict[str, Any]) -> dict[str, Any]:
    value = {k: v for k, v in payload.items() if k.lower() not in ("schemas", "id", "meta")}
    return {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": value}]}


class UploadRun:
    """The operations of one request for one tenant, each applied once, in order."""

    def __init__(
        self,
        service: ResourceService,
        store: StoreCaller,
        tenant: str,
        kind: Kind,
        mapped: dict[str, str],
        custom_fields: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.service, self.store = service, store
        self.tenant, self.kind = tenant, kind
        self.mapped, self.custom_fields = mapped, custom_fields
        #: A ``strict_input`` tenant refuses unknown input: an unplaced custom attribute too.
        self.strict = service.config.tenant(tenant).strict_input

    async def run(self, batch: list[Upload]) -> list[Outcome]:
        """Apply every operation; then name the managers that came later in the request.

        Between two writes the event loop serves other requests; an operation whose
        data is large is validated off the loop, as a lone large write is.
        """
        last = {upload.external_id: upload.index for upload in batch}
        outcomes = []
        for upload in batch:
            later = frozenset(ext for ext, index in last.items() if index > upload.index)
            outcome = await self._call(upload, self.apply, upload, later)
            outcomes.append(await self._name_reports(outcome))
        for index, outcome in enumerate(outcomes):
            if outcome.deferred_manager is not None:
                outcomes[index] = await self._call(outcome.upload, self.name_manager, outcome)
        return outcomes

    async def _call(self, upload: Upload, function: Any, *args: Any) -> Any:
        if upload.nodes > limits.INLINE_NODES:
            found = await off_loop(function, *args)
        else:
            found = await self.store(function, *args)
        await asyncio.sleep(0)  # between two writes the event loop serves other requests
        return found

    def apply(self, upload: Upload, later: frozenset[str]) -> Outcome:
        """Create or update the operation's user, in its own transaction (blocking)."""
        if upload.refused is not None:
            return Outcome(upload, FAILED, error=upload.refused)
        try:
            payload, ignored = apply_attribute_map(
                upload.data, self.kind.model, self.mapped, self.custom_fields
            )
            if ignored and self.strict:
                raise InvalidValueException(
                    detail=f"{', '.join(ignored)}: no bulk_upload.attributes entry or custom"
                    " field takes it, and the tenant refuses unknown input (strict_input)"
                )
            with self.service.transaction() as tx:
                outcome = self._upsert(tx, upload, payload, later)
            return replace(outcome, ignored=tuple(ignored))
        except Exception as exc:  # this operation fails alone (Entra: per record)
            return Outcome(upload, FAILED, error=as_scim_exception(exc))

    def _upsert(
        self, tx: Transaction, upload: Upload, payload: dict[str, Any], later: frozenset[str]
    ) -> Outcome:
        uploads.lock_external_id(tx.connection, self.tenant, upload.external_id)
        found = uploads.user_ids_by_external_id(tx.connection, self.tenant, upload.external_id)
        if len(found) > 1:
            raise ConflictException(
                detail=f"externalId matches more than one user ({' and '.join(found)});"
                " give one of them another externalId"
            )
        read = self._read_manager(tx, payload, later, upload.external_id)
        if not found:
            standard = dialects.resource_payload(self.kind, read.payload)
            listing = self.service.create(self.tenant, self.kind, standard, tx=tx)
            status, user_id = CREATED, listing.page.resources[0].id
        else:
            status, user_id = self._update(tx, found[0], read.payload), found[0]
        if read.unresolved is not None:
            at = self.service.clock()
            uploads.hold_manager(tx.connection, self.tenant, user_id, read.unresolved, at)
        elif read.named:
            uploads.release_manager(tx.connection, self.tenant, user_id)
        return Outcome(upload, status, user_id, None, (), read.unresolved, read.deferred)

    def _update(self, tx: Transaction, user_id: str, payload: dict[str, Any]) -> str:
        """Patch the user with the data; whether that changed anything."""
        current = tx.repository.get(self.tenant, self.kind, user_id, for_update=True)
        if current is None:
            raise NotFoundException(detail=f"User {user_id} not found")
        patch = dialects.patch_payload(self.kind, _path_less_replace(payload))
        listing = self.service.patch(self.tenant, self.kind, user_id, patch, tx=tx)
        return UNCHANGED if listing.page.resources[0].version == current.version else UPDATED

    def _read_manager(
        self, tx: Transaction, payload: dict[str, Any], later: frozenset[str], own: str
    ) -> _ManagerRead:
        """The data with its manager named by scimgw id; else without the manager, and
        the manager's externalId as unresolved or as deferred (its operation is later).
        A user naming itself (``own``, as HR systems list their head) has no manager."""
        manager = named_manager(payload)
        if manager is None:
            return _ManagerRead(payload)
        if manager.external_id is None:  # cleared
            return _ManagerRead(manager.without, named=True)
        if manager.external_id == own:
            return _ManagerRead(without_manager(payload), named=True)
        ids = uploads.user_ids_by_external_id(tx.connection, self.tenant, manager.external_id)
        if len(ids) == 1:
            return _ManagerRead(with_manager(payload, ids[0]), named=True)
        if not ids and manager.external_id in later:
            return _ManagerRead(manager.without, named=True, deferred=manager.external_id)
        return _ManagerRead(manager.without, named=True, unresolved=manager.external_id)

    def name_manager(self, outcome: Outcome) -> Outcome:
        """Name the manager of a user written before its manager's operation ran; a
        manager whose operation failed stays unresolved, and the user waits for it."""
        external_id = outcome.deferred_manager
        assert external_id is not None and outcome.user_id is not None
        unresolved = replace(outcome, deferred_manager=None, unresolved_manager=external_id)
        try:
            with self.service.transaction() as tx:
                ids = uploads.user_ids_by_external_id(tx.connection, self.tenant, external_id)
                if len(ids) != 1:
                    at = self.service.clock()
                    uploads.hold_manager(
                        tx.connection, self.tenant, outcome.user_id, external_id, at
                    )
                    return unresolved
                changed = self._set_manager(tx, outcome.user_id, ids[0])
        except Exception as exc:
            return replace(unresolved, error=as_scim_exception(exc))
        status = UPDATED if changed and outcome.status == UNCHANGED else outcome.status
        return replace(outcome, status=status, deferred_manager=None)

    def _set_manager(self, tx: Transaction, user_id: str, manager_id: str) -> bool:
        """Name the user's manager; whether that changed the user."""
        uploads.release_manager(tx.connection, self.tenant, user_id)
        return self._update(tx, user_id, with_manager({}, manager_id)) == UPDATED

    async def _name_reports(self, outcome: Outcome) -> Outcome:
        """Name this operation's user the manager of the users waiting for it."""
        if outcome.status == FAILED or outcome.user_id is None:
            return outcome
        external_id = outcome.upload.external_id
        waiting = await self.store(self._waiting, external_id)
        named = 0
        for report_id in waiting:
            named += await self.store(self._name_report, report_id, outcome.user_id)
            await asyncio.sleep(0)
        return replace(outcome, reports_named=named)

    def _waiting(self, external_id: str) -> list[str]:
        with reader(self.service.engine).connect() as connection:
            limit = REPORTS_PER_OPERATION
            return uploads.reports_waiting_for(connection, self.tenant, external_id, limit)

    def _name_report(self, report_id: str, manager_id: str) -> int:
        """1 when the waiting user now names its manager; 0 when it is gone or refused."""
        try:
            with self.service.transaction() as tx:
                self._set_manager(tx, report_id, manager_id)
                return 1
        except NotFoundException:  # deleted meanwhile: nobody waits any more
            with self.service.transaction() as tx:
                uploads.release_manager(tx.connection, self.tenant, report_id)
            return 0
        except Exception as exc:  # it stays waiting; the next push of its manager tries again
            as_scim_exception(exc)  # logs what is not a SCIM refusal
            return 0
