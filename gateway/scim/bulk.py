"""POST /Bulk (RFC 7644 §3.7): many operations in one request, each its own unit of work.

Bulk is not atomic: a failed operation is reported in its own result while the others go
on (RFC 7644 §3.7.3). scim2-models validates the envelope, and each operation's data in
the context of the single request it stands for; this module orders operations by their
``bulkId`` references, resolves those, and runs them.

Operations run in batches: one store call and one transaction for as many operations as
fit in a few milliseconds. A transaction and a thread hop per operation made a Bulk of
1,000 creates run at a third of the rate of single POSTs on PostgreSQL, where each commit
is three round trips and waits for the log to reach the disk (docs/benchmarks.md, "Bulk
(issue 11)"). A batch first runs without savepoints; when one of its operations fails in
the store, the batch is rolled back and run again in the same order, each operation in
its own SAVEPOINT, so the failed one is undone alone (its resource, outbox and audit
rows) and the others stay. A batch that fails as a whole (its commit, the connection)
turns each of its operations that had succeeded into a failure: nothing is reported
created that was not.
"""

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import (
    BulkOperation,
    BulkRequest,
    BulkResponse,
    Context,
    InvalidPathException,
    ScimPolicy,
    ScimProvider,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.tokens import Principal
from gateway.errors import (
    ConflictException,
    InvalidValueException,
    PayloadTooLargeException,
    SCIMException,
    as_scim_exception,
    from_validation_error,
)
from gateway.runtime import runtime
from gateway.scim import dialects, limits
from gateway.scim.bulk_schedule import Schedule
from gateway.scim.discovery import provider
from gateway.scim.endpoints import base_url, principal, tenant_kinds
from gateway.scim.etags import etag
from gateway.scim.http import read_json, scim_response
from gateway.scim.keys import attribute_key
from gateway.scim.kinds import Kind
from gateway.scim.models import GroupResource
from gateway.scim.offload import off_loop
from gateway.scim.visibility import check_patch_filters
from gateway.service import Creation, Listing, ResourceService, Transaction
from gateway.store.calls import StoreCaller

BULK_REQUEST = str(BulkRequest.__schema__)
REFERENCE = "bulkId:"
Method = BulkOperation.Method
#: How long one batch of operations runs, by where it runs (gateway.store.calls): on
#: SQLite the batch runs on the event loop, so it is the loop's pause; in a thread
#: (PostgreSQL) the loop takes the GIL back every switch interval meanwhile.
BATCH_SECONDS = {True: 0.005, False: 0.02}
#: At most this many operations per batch (and per transaction) whatever their speed.
BATCH_OPERATIONS = 100
#: The savepoint each operation of a batch runs in.
SAVEPOINT = "bulk_operation"


@dataclass(frozen=True)
class Step:
    """One operation of the request: scim2-models' reading of it, and its raw data."""

    index: int
    parsed: Any
    data: dict[str, Any] | None
    #: The bulkIds this operation's path and data reference; empty for an invalid one.
    references: frozenset[str]
    #: The tenant's kinds, keyed by endpoint name.
    kinds: dict[str, Kind]
    #: Why the operation is refused before validation (a request bound), if it is.
    refused: SCIMException | None = None
    #: No text of its data holds ``bulkId:``: scim2-models validated the data as it
    #: validates a lone request's (its bulk leniency for references did not apply).
    plain: bool = False

    @property
    def kind(self) -> Kind:
        return self.kinds[self.parsed.endpoint.strip("/").lower()]


def _reference_in(text: str) -> str | None:
    """The bulkId of ``"bulkId:x"``, or of a ``$ref`` ending in ``/bulkId:x``."""
    tail = text.rsplit("/", 1)[-1]
    if tail.startswith(REFERENCE) and len(tail) > len(REFERENCE):
        return tail.removeprefix(REFERENCE)
    return None


def references(value: Any) -> set[str]:
    """Every bulkId a JSON value references (RFC 7644 §3.7.2)."""
    if isinstance(value, dict | list):
        items = value.values() if isinstance(value, dict) else value
        return set().union(*(references(item) for item in items))
    found = _reference_in(value) if isinstance(value, str) else None
    return {found} if found else set()


def _mentions_bulk_id(value: Any) -> bool:
    """Whether any text of a JSON value holds ``bulkId:``, a reference or not."""
    if isinstance(value, dict):
        return any(_mentions_bulk_id(item) for item in value.values())
    if isinstance(value, list):
        return any(_mentions_bulk_id(item) for item in value)
    return isinstance(value, str) and REFERENCE in value


def resolve(value: Any, ids: dict[str, str]) -> Any:
    """A copy of a JSON value with each bulkId reference replaced by the id it created."""
    if isinstance(value, dict):
        return {key: resolve(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, ids) for item in value]
    found = _reference_in(value) if isinstance(value, str) else None
    return value[: -len(REFERENCE + found)] + ids[found] if found else value


def _field(mapping: Any, name: str) -> Any:
    key = attribute_key(mapping, name) if isinstance(mapping, dict) else None
    return None if key is None else mapping[key]


def _standard(operation: Any, kinds: dict[str, Kind]) -> Any:
    """The operation with its data rewritten by the IdP dialects, as a lone request's is."""
    path, data = _field(operation, "path"), _field(operation, "data")
    kind = kinds.get(path.strip("/").split("/")[0].lower()) if isinstance(path, str) else None
    if kind is None or not isinstance(data, dict):
        return operation
    patch = str(_field(operation, "method")).upper() == "PATCH"
    rewrite = dialects.patch_payload if patch else dialects.resource_payload
    return {**operation, attribute_key(operation, "data"): rewrite(kind, data)}


def _bounded(
    operations: list[Any], bounds: limits.Limits, integers: frozenset[str]
) -> tuple[list[Any], dict[int, SCIMException]]:
    """The operations, each over a request bound refused alone and stripped of its data
    (scim2-models then has nothing costly to validate in it)."""
    refused: dict[int, SCIMException] = {}
    kept = []
    for index, operation in enumerate(operations):
        try:
            limits.check_bulk_operation(operation, bounds, integers)
        except SCIMException as exc:
            refused[index] = exc
            operation = {k: v for k, v in operation.items() if k.lower() not in ("data", "path")}
            operation["path"] = "/Users"  # keeps the operation parseable; it never runs
        kept.append(operation)
    return kept, refused


def parse_request(
    body: dict[str, Any],
    max_operations: int,
    policy: ScimPolicy,
    kinds: dict[str, Kind],
    scim_provider: ScimProvider,
    bounds: limits.Limits = limits.DEFAULTS,
    integers: frozenset[str] = frozenset(),
) -> tuple[list[Step], int | None]:
    """The steps of a bulk request and its ``failOnErrors``.

    Raises:
        InvalidValueException: the envelope is not a BulkRequest (400).
        PayloadTooLargeException: more than ``maxOperations`` (413, RFC 7644 §3.7.4).
    """
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST not in schemas:
        raise InvalidValueException(detail=f"a bulk request has the schema {BULK_REQUEST}")
    key = attribute_key(body, "Operations") or "Operations"
    raw = body.get(key)
    if isinstance(raw, list):
        if len(raw) > max_operations:
            detail = f"the request has {len(raw)} operations; maxOperations is {max_operations}"
            raise PayloadTooLargeException(detail=detail)
        raw, refused = _bounded(raw, bounds, integers)
        raw = [_standard(operation, kinds) for operation in raw]
    resource = kinds["users"].model | GroupResource
    try:
        request = BulkRequest[resource].model_validate(  # type: ignore[valid-type]
            {**body, key: raw},
            scim_ctx=Context.BULK_REQUEST,
            scim_provider=scim_provider,
            scim_policy=policy,
        )
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    if request.fail_on_errors is not None and request.fail_on_errors < 1:
        raise InvalidValueException(detail="failOnErrors must be a positive integer")
    # Validation refuses an Operations that is missing, null or not a list (Required.true).
    assert isinstance(raw, list) and request.operations is not None
    pairs = enumerate(zip(raw, request.operations, strict=True))
    steps = [_step(i, op, parsed, kinds, refused.get(i)) for i, (op, parsed) in pairs]
    return steps, request.fail_on_errors


def _step(
    index: int, raw: Any, parsed: Any, kinds: dict[str, Kind], refused: SCIMException | None
) -> Step:
    data = _field(raw, "data")
    data = data if isinstance(data, dict) else None
    found = references(data) | references(parsed.resource_id or "")
    # An operation refused by scim2-models or a bound fails at once, waiting on nothing.
    waits = parsed.status is None and refused is None
    plain = data is not None and not found and not _mentions_bulk_id(data)
    return Step(index, parsed, data, frozenset(found if waits else ()), kinds, refused, plain)


def _target(step: Step) -> str | None:
    """The id a step's path names: none for POST, exactly one segment otherwise."""
    resource_id = step.parsed.resource_id
    if step.parsed.method is Method.post:
        if resource_id is not None:
            raise InvalidPathException(detail="a POST operation's path is /Users or /Groups")
        return None
    if not resource_id or "/" in resource_id:
        method, path = step.parsed.method, step.parsed.path
        raise InvalidPathException(detail=f"{method} needs a path like /Users/{{id}}, not {path}")
    return str(resource_id)


class BulkJob:
    """The operations of one request for one tenant, run in an order their bulkIds allow."""

    def __init__(
        self,
        service: ResourceService,
        store: StoreCaller,
        tenant: str,
        root: str,
        fail_on_errors: int | None,
        readers: dict[str, Kind],
        max_depth: int = limits.Limits.bulk_max_depth,
    ) -> None:
        self.service, self.store = service, store
        #: The kinds as the caller reads them, for the PATCH value filters' check.
        self.readers = readers
        self.tenant, self.root, self.limit = tenant, root, fail_on_errors
        self.max_depth = max_depth
        self.owners: dict[str, int] = {}
        self.created: dict[str, str] = {}
        self.failed: set[str] = set()
        self.results: dict[int, Any] = {}
        self.errors = 0
        #: The POST operations' resources as parsed, once each: a replayed batch reuses them.
        self.creations: dict[int, Creation] = {}

    @property
    def stopped(self) -> bool:
        """``failOnErrors`` reached: the remaining operations are neither run nor listed."""
        return self.limit is not None and self.errors >= self.limit

    async def run(self, steps: list[Step]) -> list[Any]:
        """Run every step, each once; return their results in request order.

        Steps run once their references are settled (:class:`Schedule`); the steps left
        wait on each other and fail with 409 (RFC 7644 §3.7.1 lets a service stop
        there). Between two batches of steps the event loop serves other requests.

        Raises:
            InvalidValueException: references chain deeper than ``bulk_max_depth``.
        """
        for step in steps:
            if step.parsed.method is Method.post and step.parsed.bulk_id:
                self.owners.setdefault(step.parsed.bulk_id, step.index)
        schedule = Schedule([step.references for step in steps], self.owners)
        depth = schedule.depth()
        if depth > self.max_depth:
            raise InvalidValueException(
                detail=f"bulkId references chain {depth} operations deep, over the limit"
                f" of {self.max_depth} (server.bulk_max_depth)"
            )
        while not self.stopped and await self.store(self._batch, steps, schedule):
            await asyncio.sleep(0)  # between batches the event loop serves other requests
        if not self.stopped:
            self._fail_circular([steps[index] for index in schedule.blocked()])
        return [self.results[index] for index in sorted(self.results)]

    def _fail_circular(self, steps: list[Step]) -> None:
        for step in steps:
            if not self.stopped:
                names = ", ".join(sorted(step.references))
                self._fail(step, ConflictException(detail=f"circular bulkId references: {names}"))

    def _batch(self, steps: list[Step], schedule: Schedule) -> bool:
        """Run the next ready operations in one transaction; False once none is left."""
        ran: list[int] = []
        try:
            try:
                with self.service.transaction() as tx:
                    more = self._fill(tx, steps, schedule, ran)
            except _Replay:  # rolled back: again, each operation in its savepoint
                with self.service.transaction() as tx:
                    self._replay(tx, steps, ran)
                more = True
        except Exception as exc:  # the transaction itself failed: none of it is stored
            more = self._lost(steps, schedule, ran, as_scim_exception(exc))
        return more

    def _fill(self, tx: Transaction, steps: list[Step], schedule: Schedule, ran: list[int]) -> bool:
        """Run ready steps until the batch is full; False when no step is ready any more.

        Raises:
            _Replay: a step failed in the store; the batch ends with it.
        """
        deadline = time.perf_counter() + BATCH_SECONDS[self.store.inline]
        while not self.stopped and len(ran) < BATCH_OPERATIONS:
            if ran and time.perf_counter() > deadline:
                return True
            index = schedule.next()
            if index is None:
                return False
            ran.append(index)
            try:
                self._perform(tx, steps[index], alone=False)
            finally:
                schedule.settle(index)  # settled whether it succeeds or fails
        return True

    def _replay(self, tx: Transaction, steps: list[Step], ran: list[int]) -> None:
        """Run again the steps of a rolled-back batch, in the same order, each in its own
        savepoint; those refused before reaching the store keep their result."""
        again = [index for index in ran if not _failed(self.results.get(index))]
        for index in again:
            self.results.pop(index, None)
            self._forget(steps[index])
        for index in again:
            self._perform(tx, steps[index], alone=True)

    def _lost(
        self, steps: list[Step], schedule: Schedule, ran: list[int], exc: SCIMException
    ) -> bool:
        """A batch whose transaction failed: each operation it ran failed with it."""
        if not ran:  # it failed before its first operation: that operation fails
            if (index := schedule.next()) is None:
                return False
            ran.append(index)
            schedule.settle(index)
        for index in ran:
            if not _failed(self.results.get(index)):
                self._forget(steps[index])
                self._fail(steps[index], exc)
        return True

    def _perform(self, tx: Transaction, step: Step, *, alone: bool) -> None:
        """Run one step in the batch's transaction.

        Without a savepoint of its own (``alone`` false) a step that fails in the store
        would leave the transaction half-written or aborted (PostgreSQL): it raises
        :class:`_Replay` for the batch to be rolled back and run again. Two statements
        per operation fewer than a savepoint each, in the usual case where none fails.
        """
        try:
            self._check(step)
        except Exception as exc:  # refused before reaching the store
            self._fail(step, as_scim_exception(exc))
            return
        try:
            if not alone:
                self.results[step.index] = self._execute(tx, step)
                return
            with _savepoint(tx):
                self.results[step.index] = self._execute(tx, step)
        except Exception as exc:  # one operation fails alone (RFC 7644 §3.7.3)
            if not alone:
                raise _Replay from exc
            self._forget(step)
            self._fail(step, as_scim_exception(exc))

    def _forget(self, step: Step) -> None:
        """Drop the id a step's create gave its bulkId: that create was rolled back."""
        if step.parsed.bulk_id and self.owners.get(step.parsed.bulk_id) == step.index:
            self.created.pop(step.parsed.bulk_id, None)

    def _check(self, step: Step) -> None:
        parsed = step.parsed
        if step.refused is not None:
            raise step.refused
        if parsed.response is not None:
            raise SCIMException.from_error(parsed.response)
        _target(step)
        if parsed.method is Method.post and self.owners[parsed.bulk_id] != step.index:
            raise InvalidValueException(detail=f"bulkId {parsed.bulk_id} is used twice")
        for ref in sorted(step.references):
            if ref not in self.owners:
                raise InvalidValueException(detail=f"no POST operation has bulkId {ref}")
            if ref in self.failed:
                detail = f"bulkId:{ref} is unresolved: the operation creating it failed"
                raise InvalidValueException(detail=detail)
        if parsed.method is Method.patch and step.data is not None:
            reader = self.readers[step.kind.endpoint.strip("/").lower()]
            check_patch_filters(reader.model, step.data)

    def _execute(self, tx: Transaction, step: Step) -> Any:
        target = resolve(_target(step), self.created)
        data = resolve(step.data, self.created)
        listing = self._call(tx, step, target, data)
        if listing is None:
            return _result(step, 204, f"{self.root}{step.kind.endpoint}/{target}")
        stored, created = listing.page.resources[0], step.parsed.method is Method.post
        if created:
            self.created[step.parsed.bulk_id] = stored.id
        location = f"{self.root}{step.kind.endpoint}/{stored.id}"
        return _result(step, 201 if created else 200, location, version=etag(stored.version))

    def _call(self, tx: Transaction, step: Step, target: str | None, data: Any) -> Listing | None:
        service, method, version = self.service, step.parsed.method, step.parsed.version
        if method is Method.post:
            creation = self._creation(step)
            if creation is not None:
                return service.create_validated(self.tenant, creation, tx=tx)
            return service.create(self.tenant, step.kind, data, tx=tx)
        assert target is not None
        if method is Method.delete:
            service.delete(self.tenant, step.kind, target, if_match=version, tx=tx)
            return None
        write = service.replace if method is Method.put else service.patch
        return write(self.tenant, step.kind, target, data, if_match=version, tx=tx)

    def _creation(self, step: Step) -> Creation | None:
        """A POST's resource as :func:`parse_request` validated it, when that validation
        is the one :meth:`ResourceService.create` would make: same model, context and
        policy (a strict tenant's is not the parse's), and data with no bulkId to resolve.
        """
        if step.index in self.creations:
            return self.creations[step.index]
        resource = step.parsed.data
        same = (
            step.plain
            and type(resource) is step.kind.model
            and self.service.policy_of(self.tenant) is self.service.policy
        )
        if not same:
            return None
        creation = self.service.creation(step.kind, resource)
        self.creations[step.index] = creation
        return creation

    def _fail(self, step: Step, exc: SCIMException) -> None:
        parsed = step.parsed
        self.errors += 1
        if parsed.bulk_id and self.owners.get(parsed.bulk_id) == step.index:
            self.failed.add(parsed.bulk_id)
        addressed = parsed.method not in (None, Method.post) and parsed.path
        location = f"{self.root}/{parsed.path.lstrip('/')}" if addressed else None
        self.results[step.index] = _result(step, exc.status, location, response=exc.to_error())


class _Replay(Exception):
    """A step of a batch failed in the store: roll the batch back and replay it."""


def _failed(result: Any) -> bool:
    """Whether an operation's result is a failure (None: not run yet)."""
    return result is not None and int(result.status) >= 300


@contextmanager
def _savepoint(tx: Transaction) -> Iterator[None]:
    """One operation of a batch: on failure, everything it wrote is undone, and only that.

    Plain SQL on the driver's cursor: SQLAlchemy's nested transaction costs several times
    more per operation, and the statements are the same on SQLite and PostgreSQL.
    """
    with tx.cursor() as cursor:
        cursor.execute(f"SAVEPOINT {SAVEPOINT}")
        try:
            yield
        except BaseException:
            cursor.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            cursor.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
            raise
        cursor.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")


def _result(step: Step, status: int, location: str | None, **extra: Any) -> Any:
    """One operation's entry in the BulkResponse (RFC 7644 §3.7.3)."""
    parsed = step.parsed
    return type(parsed)(
        method=parsed.method, bulk_id=parsed.bulk_id, location=location, status=status, **extra
    )


async def bulk(request: Request) -> Response:
    """Run a BulkRequest; answer 200 with a BulkResponse listing each operation's result."""
    caller = await principal(request, "scim:write")
    server = runtime(request).config.server
    service: ResourceService = runtime(request).service
    body = await read_json(request, server.bulk_max_payload_size)
    kinds = tenant_kinds(request, caller)
    tenant = runtime(request).config.tenant(caller.tenant)
    # Validating up to a thousand operations takes a while: off the event loop.
    steps, fail_on_errors = await off_loop(
        parse_request,
        body,
        server.bulk_max_operations,
        service.policy,
        kinds,
        _provider(request, caller),
        limits.Limits.of(server),
        limits.integer_paths(tenant.custom_field_spec()),
    )
    readers = tenant_kinds(request, caller, as_read=True)
    job = BulkJob(
        service,
        runtime(request).store,
        caller.tenant,
        base_url(request),
        fail_on_errors,
        readers,
        server.bulk_max_depth,
    )
    results = await job.run(steps)
    return scim_response(await off_loop(_response_body, kinds, results))


def _response_body(kinds: dict[str, Kind], results: list[Any]) -> dict[str, Any]:
    resource = kinds["users"].model | GroupResource
    response = BulkResponse[resource](operations=results)  # type: ignore[valid-type]
    body: dict[str, Any] = response.model_dump(scim_ctx=Context.BULK_RESPONSE)
    return body


def _provider(request: Request, caller: Principal) -> ScimProvider:
    """The tenant's models as the server validates them (its custom fields included)."""
    tenant = runtime(request).config.tenant(caller.tenant)
    return provider(tenant.custom_field_spec())


def routes() -> list[Route]:
    return [Route("/scim/v2/Bulk", bulk, methods=["POST"])]
