"""A source run: read the people of an HR system, diff them with the store, apply, report.

The run streams: pages of records are mapped one person at a time and compared with the
digest their link keeps, so a person who did not change costs no database read, and
memory holds the links (a few hundred bytes a person), never all the records. People who
changed are applied in small batches in a worker thread, each in its own transaction of
the one writer (:mod:`provisioning.sources.apply`). Deactivations wait for the end of the
read: only then is it known whether the guard (:mod:`provisioning.sources.guard`) must
hold them, and who of the linked people the source no longer returns.
"""

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import anyio
import httpx
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig, SourceSettings, TargetConnection
from gateway.scim.kinds import kinds_for
from gateway.service import ResourceService
from gateway.store.database import writer
from provisioning.connectors import ConnectorSetup, SourceConnector
from provisioning.errors import DeliveryError, TargetConfigError, TransientError
from provisioning.mapping import parse_doc_path
from provisioning.records import runs
from provisioning.sources import guard, links
from provisioning.sources.apply import DELETED, Applied, Applier, ApplyFailed, owned_paths
from provisioning.sources.links import Link
from provisioning.sources.people import Person, PersonMapper, RecordError
from provisioning.targets import build_client

T = TypeVar("T")

#: Connection ``type`` -> "module:Class" of its source connector.
SOURCE_TYPES: dict[str, str] = {
    "hr_json": "provisioning.connectors.hr_json:HrJsonSource",
    "bamboohr": "provisioning.connectors.bamboohr_source:BambooHrSource",
    "employeeconnect": "provisioning.connectors.employeeconnect:EmployeeConnectSource",
    "talenthr": "provisioning.connectors.talenthr_source:TalentHrSource",
    "talentlms": "provisioning.connectors.talentlms_source:TalentLmsSource",
    "taleez": "provisioning.connectors.taleez:TaleezSource",
    "dynamics365_hr": "provisioning.connectors.dynamics365_hr_source:Dynamics365HrSource",
}
#: People applied per trip to the worker thread: the loop stays free between batches.
BATCH = 50
#: Records mapped between two yields to the event loop (about 85 µs of CPU each).
YIELD_EVERY = 50
#: Lines of ``RunOutcome.changes`` kept; the rest is counted in one last line.
MAX_CHANGES = 10_000
#: A throttled page is asked again this many times, waiting as the source says.
PAGE_ATTEMPTS = 6
MAX_WAIT_SECONDS = 60.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def source_class(type_name: str) -> Any:
    """The source connector class of a connection ``type``; ValueError if none."""
    try:
        module_name, class_name = SOURCE_TYPES[type_name].split(":")
    except KeyError:
        known = ", ".join(sorted(SOURCE_TYPES))
        raise ValueError(f"unknown source type {type_name!r} (known: {known})") from None
    return getattr(importlib.import_module(module_name), class_name)


def source_settings(connection: TargetConnection, cls: Any) -> SourceSettings:
    """The connection's ``source:`` settings over its connector's own defaults.

    A connector whose vendor names the manager or the skip box its own way declares
    ``source_defaults(options) -> dict`` (BambooHR: ``supervisorEId``, ``skip_elevo_sync``),
    so that they are configured once, in ``options``; what ``source:`` says wins.
    Raises pydantic's ValidationError on options the connector refuses.
    """
    defaults = getattr(cls, "source_defaults", None)
    if defaults is None:
        return connection.source or SourceSettings()
    given = connection.source.model_dump(exclude_unset=True) if connection.source else {}
    return SourceSettings.model_validate({**defaults(connection.options), **given})


@dataclass
class Tally:
    """What a run counted, failed on and would change, as it goes."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(runs.COUNTS, 0))
    failures: list[runs.Failure] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def fail(self, person: str, reason: str) -> None:
        self.counts["failed"] += 1
        if len(self.failures) < 1000:
            self.failures.append(runs.Failure(person, reason))

    def applied(self, result: Applied) -> None:
        self.counts["deactivated" if result.effect == DELETED else result.effect] += 1
        if result.line is not None:
            if len(self.changes) < MAX_CHANGES:
                self.changes.append(result.line)
            else:
                self.counts.setdefault("_more", 0)
                self.counts["_more"] += 1

    def report(self) -> tuple[str, ...]:
        more = self.counts.pop("_more", 0)
        return (*self.changes, f"... and {more} more") if more else tuple(self.changes)


@dataclass
class Leave:
    """A deactivation kept for the guard: a leaver, or a person the source ended."""

    source_id: str
    link: Link
    person: Person | None = None


class SourceRunner:
    """Runs source connections (direction ``source`` or ``both``): see the module docstring.

    Implements :class:`provisioning.records.runs.SyncRunner`.
    """

    def __init__(
        self,
        engine: Engine,
        config: GatewayConfig,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.config = config
        self.http = http
        self.clock = clock
        self.transport = transport
        self.sleep = sleep
        self.service = ResourceService(engine, config, clock=clock)
        self._limiter = anyio.CapacityLimiter(1)

    async def __call__(
        self, request: runs.RunRequest, progress: runs.Progress | None = None
    ) -> runs.RunOutcome:
        settings = self._settings(request)
        run_id = None if request.dry_run else await self._thread(self._start, request)
        tally = Tally()
        try:
            status, message = await self._run(request, settings, tally, progress)
        except Exception as exc:  # recorded on the run, as the SyncRunner contract says
            status, message = "failed", _message(exc)
        if run_id is not None:
            await self._thread(self._finish, run_id, status, tally, message)
        counts = {name: tally.counts[name] for name in runs.COUNTS}
        changes = tally.report()
        return runs.RunOutcome(run_id, status, counts, tuple(tally.failures), changes, message)

    # -- the run ---------------------------------------------------------------------------

    async def _run(
        self,
        request: runs.RunRequest,
        connection: TargetConnection,
        tally: Tally,
        progress: runs.Progress | None,
    ) -> tuple[str, str | None]:
        tenant = request.tenant
        custom = self.config.tenant(tenant).custom_field_spec()
        kind = kinds_for(custom)["users"]
        reader = kinds_for(custom, sensitive_reader=True)["users"]
        cls = source_class(connection.type)
        source = source_settings(connection, cls)
        mapper = PersonMapper.build(source, cls.default_read_map, reader)
        authoritative = (
            None
            if source.authoritative is None
            else [parse_doc_path(p) for p in source.authoritative]
        )
        applier = Applier(
            self.service,
            tenant,
            request.connection,
            kind,
            reader,
            owned_paths(mapper.read_map.paths, authoritative),
            source.match,
            request.dry_run,
            self.clock,
        )
        known = await self._thread(self._links, tenant, request.connection)
        since = await self._thread(self._since, tenant, request.connection, source)
        now = self.clock()
        run = _Pass(self, applier, mapper, known, tally, now)
        client = self.http or build_client(connection, transport=self.transport)
        try:
            connector: SourceConnector = cls(
                ConnectorSetup(request.connection, connection.base_url, client, connection.options)
            )
            if since is not None:
                await run.due_days()
            checkpoint = await run.read(self._pages(connector, since), progress)
        finally:
            if self.http is None:
                await client.aclose()
        held = await run.settle(source, full=since is None, request=request)
        await run.managers()
        # A failed person was read but not applied: keep the old checkpoint, so that the
        # next incremental run reads them again (the others are unchanged by their digest).
        clean = held is None and not tally.counts["failed"]
        if not request.dry_run and checkpoint is not None and clean:
            await self._thread(self._remember, tenant, request.connection, checkpoint)
        if held is not None:
            return "held", held
        return ("failed" if tally.counts["failed"] else "succeeded"), None

    async def _pages(self, connector: SourceConnector, since: str | None) -> AsyncIterator[Any]:
        """Pages of the source, in order; a throttled page is asked again after its wait."""
        cursor: str | None = None
        asked: set[str] = set()
        while True:
            page = await self._page(connector, since, cursor)
            yield page
            if page.next is None:
                return
            if page.next in asked:
                raise DeliveryError(f"the source returned page {page.next!r} twice")
            asked.add(page.next)
            cursor = page.next

    async def _page(self, connector: SourceConnector, since: str | None, cursor: str | None) -> Any:
        for attempt in range(PAGE_ATTEMPTS):
            try:
                return await connector.read_page(since, cursor)
            except TransientError as exc:
                # A source not set up yet (a custom field still unpublished) takes minutes
                # to heal, not seconds: the run fails with it, the next run tries again.
                if attempt == PAGE_ATTEMPTS - 1 or isinstance(exc, TargetConfigError):
                    raise
                wait = exc.retry_after if exc.retry_after is not None else 2.0**attempt
                await self.sleep(min(wait, MAX_WAIT_SECONDS))
        raise AssertionError("unreachable")

    # -- store calls (worker thread) -------------------------------------------------------

    async def _thread(self, function: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(function, *args), limiter=self._limiter)

    def _settings(self, request: runs.RunRequest) -> TargetConnection:
        connections = self.config.tenant(request.tenant).connections
        settings = connections.get(request.connection)
        if settings is None:
            raise ValueError(f"tenant {request.tenant!r} has no connection {request.connection!r}")
        if settings.direction == "target":
            raise ValueError(f"connection {request.connection!r} is a target, not a source")
        return settings

    def _start(self, request: runs.RunRequest) -> str:
        return runs.open_run(
            self.engine,
            tenant=request.tenant,
            name=request.connection,
            direction="source",
            trigger=request.trigger,
            now=self.clock(),
            slot=request.slot,
        )

    def _finish(self, run_id: str, status: str, tally: Tally, message: str | None) -> None:
        runs.close_run(
            self.engine,
            run_id,
            status=status,
            counts=tally.counts,
            now=self.clock(),
            failed=tally.failures,
            message=message,
        )

    def _links(self, tenant: str, name: str) -> dict[str, Link]:
        with self.engine.connect() as conn:
            return links.load_all(conn, tenant, name)

    def _since(self, tenant: str, name: str, source: SourceSettings) -> str | None:
        if not source.incremental:
            return None
        with self.engine.connect() as conn:
            return links.checkpoint(conn, tenant, name)

    def _remember(self, tenant: str, name: str, checkpoint: str) -> None:
        with writer(self.engine).begin() as conn:
            links.remember(conn, tenant, name, checkpoint=checkpoint)

    def confirmed(self, tenant: str, name: str) -> bool:
        with self.engine.connect() as conn:
            until = links.confirmed_until(conn, tenant, name)
        return guard.confirmed(until, self.clock())


class _Pass:
    """One run's walk over the people: apply changes, keep deactivations for the guard."""

    def __init__(
        self,
        runner: SourceRunner,
        applier: Applier,
        mapper: PersonMapper,
        known: dict[str, Link],
        tally: Tally,
        now: datetime,
    ) -> None:
        self.runner = runner
        self.applier = applier
        self.mapper = mapper
        self.known = known
        self.tally = tally
        self.today = now.date()
        self.seen: set[str] = set()
        self.gone: set[str] = set()  # deleted, as an incremental read's source says
        self.leaving: list[Leave] = []
        self.waiting: list[Person] = []  # people whose manager comes later in the run
        self.batch: list[Person] = []

    async def read(self, pages: AsyncIterator[Any], progress: runs.Progress | None) -> str | None:
        """Walk every page; return the source's checkpoint (of the first page)."""
        checkpoint = None
        first = True
        async for page in pages:
            if first:
                checkpoint, first = page.checkpoint, False
            self.gone.update(page.gone)
            for index, record in enumerate(page.records, 1):
                self.tally.counts["read"] += 1
                self._consider(record)
                if len(self.batch) >= BATCH:
                    await self._flush()
                elif index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # mapping is CPU: let the loop serve others
            if progress is not None:
                progress(self.tally.counts["read"], None)
        await self._flush()
        return checkpoint

    def _consider(self, record: Any) -> None:
        try:
            person = self.mapper.person(record, self.today)
        except RecordError as exc:
            self.tally.fail(exc.person, exc.reason)
            return
        if person.source_id in self.seen:
            self.tally.fail(person.source_id, "the source returned this person twice")
            return
        self.seen.add(person.source_id)
        link = self.known.get(person.source_id)
        if person.skipped:
            self.tally.counts["skipped"] += 1
            if link is not None and link.active:
                self.leaving.append(Leave(person.source_id, link))
        elif link is not None and link.digest == person.digest:
            self.tally.counts["unchanged"] += 1
        elif link is not None and link.active and not person.active:
            self.leaving.append(Leave(person.source_id, link, person))
        else:
            self.batch.append(person)

    async def _flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            await self.runner._thread(self._apply_people, batch)

    def _apply_people(self, people: list[Person]) -> None:
        with self.applier.batch():
            self._each_person(people)

    def _each_person(self, people: list[Person]) -> None:
        for person in people:
            manager = self._manager(person)
            self._apply(
                person.source_id,
                self.applier.person,
                person,
                self.known.get(person.source_id),
                manager,
            )
            if person.manager_id is not None and manager is None:
                self.waiting.append(person)

    def _apply(
        self, source_id: str, method: Callable[..., Applied], *args: Any, count: bool = True
    ) -> None:
        """Apply one person (or leaver); a failure is the run's, named by the source id.

        ``count=False`` for a second step of a person already counted (naming a manager).
        """
        try:
            result = method(*args)
        except ApplyFailed as exc:
            self.tally.fail(exc.person or source_id, exc.reason)
            return
        if result.link is not None:
            self.known[source_id] = result.link
        else:
            self.known.pop(source_id, None)
        if count:
            self.tally.applied(result)

    def _manager(self, person: Person) -> str | None:
        if person.manager_id is None:
            return None
        link = self.known.get(person.manager_id)
        return None if link is None else link.user_id

    async def due_days(self) -> None:
        """An incremental run reads only changes: apply the days that came (joiners'
        first days, the day after leavers' last) from the links."""
        due = [
            (source_id, link)
            for source_id, link in self.known.items()
            if link.due is not None and link.due <= self.today.isoformat()
        ]
        for source_id, link in due:
            if link.due_active:
                await self.runner._thread(
                    self._apply, source_id, self.applier.access, source_id, link, True
                )
            else:
                self.leaving.append(Leave(source_id, link))

    async def settle(
        self, source: SourceSettings, *, full: bool, request: runs.RunRequest
    ) -> str | None:
        """Apply the kept deactivations unless the guard holds them; return why it held."""
        if source.on_leave != "keep":  # a source that only brings people in
            # A full read's absentees have left; an incremental read knows only those the
            # source reports deleted.
            absent = (
                self.known if full else {i: self.known[i] for i in self.gone if i in self.known}
            )
            kept = self.seen | {leave.source_id for leave in self.leaving}
            for source_id, link in absent.items():
                if source_id not in kept and (link.active or source.on_leave == "delete"):
                    self.leaving.append(Leave(source_id, link))
        active = sum(1 for link in self.known.values() if link.active)
        reason = guard.hold_reason(
            source.guard,
            read=self.tally.counts["read"],
            linked_active=active,
            deactivations=len(self.leaving),
            full=full,
        )
        if reason is not None and not await self.runner._thread(
            self.runner.confirmed, request.tenant, request.connection
        ):
            return f"held: {reason}; confirm with `scimgw sync {request.connection} --confirm`"
        for start_at in range(0, len(self.leaving), BATCH):
            chunk = self.leaving[start_at : start_at + BATCH]
            await self.runner._thread(self._leave, chunk, source.on_leave == "delete")
        return None

    def _leave(self, leaving: list[Leave], delete: bool) -> None:
        with self.applier.batch():
            self._each_leaver(leaving, delete)

    def _each_leaver(self, leaving: list[Leave], delete: bool) -> None:
        for leave in leaving:
            if leave.person is not None:  # the source ended them: apply the whole person
                manager = self._manager(leave.person)
                self._apply(leave.source_id, self.applier.person, leave.person, leave.link, manager)
            else:
                access = partial(self.applier.access, delete=delete)
                self._apply(leave.source_id, access, leave.source_id, leave.link, False)

    async def managers(self) -> None:
        """Name the managers who arrived after their reports in this run.

        Not in a dry run: the reports it created were rolled back, there is no one to name
        a manager of (its report says who is created, the manager included)."""
        if self.applier.dry_run:
            return
        for first in range(0, len(self.waiting), BATCH):
            await self.runner._thread(self._name_managers, self.waiting[first : first + BATCH])

    def _name_managers(self, people: list[Person]) -> None:
        with self.applier.batch():
            for person in people:
                manager = self._manager(person)
                link = self.known.get(person.source_id)
                if manager is not None and link is not None:
                    self._apply(
                        person.source_id,
                        self.applier.set_manager,
                        person,
                        link,
                        manager,
                        count=False,
                    )


def _message(exc: Exception) -> str:
    if isinstance(exc, DeliveryError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
