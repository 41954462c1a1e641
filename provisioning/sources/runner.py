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
from collections.abc import AsyncIterator, Awaitable, Callable
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
from provisioning.sources.apply import Applier, owned_paths
from provisioning.sources.links import Link
from provisioning.sources.people import PersonMapper
from provisioning.sources.registry import source_class, source_settings
from provisioning.sources.walk import Tally, Walk
from provisioning.targets import build_client

T = TypeVar("T")

#: A throttled page is asked again this many times, waiting as the source says.
PAGE_ATTEMPTS = 6
MAX_WAIT_SECONDS = 60.0


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        run = Walk(self, applier, mapper, known, tally, now)
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


def _message(exc: Exception) -> str:
    if isinstance(exc, DeliveryError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
