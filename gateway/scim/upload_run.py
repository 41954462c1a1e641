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

A manager is looked up by externalId when its report's operation runs. A manager no user
has yet, whose own operation comes later in the same request, is named after every
operation of the request ran; one that is nowhere is left as it was, and the report's
result says ``unresolvedManager`` (the HR tool's next push, which Entra expects to be
complete, resolves it).
"""

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.errors import (
    ConflictException,
    InvalidValueException,
    SCIMException,
    as_scim_exception,
    error_body,
)
from gateway.scim import dialects, limits
from gateway.scim.kinds import Kind
from gateway.scim.models import ENTERPRISE_SCHEMA
from gateway.scim.offload import off_loop
from gateway.scim.upload_attributes import apply_attribute_map
from gateway.scim.upload_request import Upload
from gateway.service import ResourceService, Transaction
from gateway.store import uploads
from gateway.store.calls import StoreCaller

CREATED, UPDATED, UNCHANGED, FAILED = "created", "updated", "unchanged", "failed"
STATUSES = (CREATED, UPDATED, UNCHANGED, FAILED)
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MANAGER_PATH = f"{ENTERPRISE_SCHEMA}:manager"
#: The longest externalId a result repeats (the column's width): a longer one is refused.
EXTERNAL_ID_SHOWN = 300


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
        }
        return {key: value for key, value in found.items() if value is not None}


@dataclass
class _Manager:
    """The manager an operation names, read from its data."""

    external_id: str | None
    #: The data without the manager: written so when the manager is not known yet.
    without: dict[str, Any] = field(default_factory=dict)


def _key(mapping: dict[str, Any], name: str) -> str | None:
    return next((key for key in mapping if key.lower() == name.lower()), None)


def _manager_of(payload: dict[str, Any]) -> _Manager | None:
    """The manager's externalId the data names, if it names a manager at all (an empty
    or null manager clears it and needs no lookup)."""
    enterprise_key = _key(payload, ENTERPRISE_SCHEMA)
    enterprise = payload.get(enterprise_key) if enterprise_key else None
    manager_key = _key(enterprise, "manager") if isinstance(enterprise, dict) else None
    if enterprise_key is None or manager_key is None or not isinstance(enterprise, dict):
        return None
    manager = enterprise[manager_key]
    value = manager.get(_key(manager, "value") or "value") if isinstance(manager, dict) else manager
    if not isinstance(value, str) or not value:
        return None
    others = {k: v for k, v in enterprise.items() if k != manager_key}
    return _Manager(value, {**payload, enterprise_key: others})


def _with_manager(payload: dict[str, Any], user_id: str) -> dict[str, Any]:
    """The data naming the manager by scimgw id, with the ``$ref`` a created user's
    manager gets from the Entra dialect (gateway.scim.dialects), updates included."""
    enterprise_key = _key(payload, ENTERPRISE_SCHEMA) or ENTERPRISE_SCHEMA
    enterprise = dict(payload[enterprise_key])
    manager_key = _key(enterprise, "manager") or "manager"
    enterprise[manager_key] = {"value": user_id, "$ref": f"Users/{user_id}"}
    return {**payload, enterprise_key: enterprise}


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

        Between two operations the event loop serves other requests; an operation whose
        data is large is validated off the loop, as a lone large write is.
        """
        last = {upload.external_id: upload.index for upload in batch}
        outcomes = []
        for upload in batch:
            later = frozenset(ext for ext, index in last.items() if index > upload.index)
            outcomes.append(await self._call(upload, self.apply, upload, later))
            await asyncio.sleep(0)
        for index, outcome in enumerate(outcomes):
            if outcome.deferred_manager is not None:
                outcomes[index] = await self._call(outcome.upload, self.name_manager, outcome)
                await asyncio.sleep(0)
        return outcomes

    async def _call(self, upload: Upload, function: Any, *args: Any) -> Outcome:
        if upload.nodes > limits.INLINE_NODES:
            outcome: Outcome = await off_loop(function, *args)
        else:
            outcome = await self.store(function, *args)
        return outcome

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
        payload, unresolved, deferred = self._resolve_manager(tx, payload, later)
        if not found:
            standard = dialects.resource_payload(self.kind, payload)
            listing = self.service.create(self.tenant, self.kind, standard, tx=tx)
            status, user_id = CREATED, listing.page.resources[0].id
        else:
            status, user_id = self._update(tx, found[0], payload), found[0]
        return Outcome(upload, status, user_id, None, (), unresolved, deferred)

    def _update(self, tx: Transaction, user_id: str, payload: dict[str, Any]) -> str:
        """Patch the user with the data; whether that changed anything."""
        current = tx.repository.get(self.tenant, self.kind, user_id, for_update=True)
        before = current.version if current is not None else None
        patch = dialects.patch_payload(self.kind, _path_less_replace(payload))
        listing = self.service.patch(self.tenant, self.kind, user_id, patch, tx=tx)
        return UNCHANGED if listing.page.resources[0].version == before else UPDATED

    def _resolve_manager(
        self, tx: Transaction, payload: dict[str, Any], later: frozenset[str]
    ) -> tuple[dict[str, Any], str | None, str | None]:
        """The data with its manager named by scimgw id; else without the manager, and
        the manager's externalId as unresolved or as deferred (its operation is later)."""
        manager = _manager_of(payload)
        if manager is None or manager.external_id is None:
            return payload, None, None
        ids = uploads.user_ids_by_external_id(tx.connection, self.tenant, manager.external_id)
        if len(ids) == 1:
            return _with_manager(payload, ids[0]), None, None
        if not ids and manager.external_id in later:
            return manager.without, None, manager.external_id
        return manager.without, manager.external_id, None

    def name_manager(self, outcome: Outcome) -> Outcome:
        """Name the manager of a user written before its manager's operation ran."""
        external_id = outcome.deferred_manager
        assert external_id is not None and outcome.user_id is not None
        unresolved = replace(outcome, deferred_manager=None, unresolved_manager=external_id)
        try:
            with self.service.transaction() as tx:
                ids = uploads.user_ids_by_external_id(tx.connection, self.tenant, external_id)
                if len(ids) != 1:
                    return unresolved  # the manager's own operation failed
                payload = _with_manager({ENTERPRISE_SCHEMA: {}}, ids[0])
                changed = self._update(tx, outcome.user_id, payload) == UPDATED
        except Exception as exc:
            error = as_scim_exception(exc)
            return replace(unresolved, error=error)
        status = UPDATED if changed and outcome.status == UNCHANGED else outcome.status
        return replace(outcome, status=status, deferred_manager=None)
