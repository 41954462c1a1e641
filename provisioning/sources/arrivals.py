"""One person of a source applied now: a webhook's hire, or ``scimgw push``.

The same path as a sync run, for one person: a run row (trigger ``event`` or
``manual``), the source's record read through its API (:class:`PersonSource`), the
connection's read map, matching and ownership, and the one writer of resources, so the
change fans out to the targets' outbox like any other (outbox -> worker -> Lucca). What a
run does to people it did not read (deactivations, the guard, the checkpoint) does not
apply: one person says nothing about the others.

A hire is applied at once, whatever their first day: the target keeps that day (Lucca's
contract start), and HR prepares the arrival before it (S4.1, S4.6).
"""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig, SourceSettings, TargetConnection
from gateway.scim.kinds import kinds_for
from provisioning.connectors import ConnectorSetup, SourcePage, inbound
from provisioning.errors import DeliveryError, PermanentError, TransientError
from provisioning.mapping import parse_doc_path
from provisioning.records import runs
from provisioning.sources import links
from provisioning.sources.apply import Applier, owned_paths
from provisioning.sources.people import PersonMapper
from provisioning.sources.registry import source_class
from provisioning.sources.runner import SourceRunner, utcnow
from provisioning.sources.walk import Tally, Walk
from provisioning.targets import build_client

#: The wait before a transient failure is tried again when the source names none.
DEFAULT_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class Arrival:
    """How applying one person ended: the run's outcome, and when to try again.

    ``retry_after`` is None when the outcome is final (done, or failed for good); seconds
    when the failure is transient (the source throttled, timed out or is down).
    """

    outcome: runs.RunOutcome
    retry_after: float | None = None


class HireMapper(PersonMapper):
    """A person mapper without joiner dates: a hire is active from the hire on."""

    def _date_access(self, doc: dict[str, Any], today: date) -> tuple[str | None, bool | None]:
        return None, None


class ArrivalRunner:
    """Applies one person of a source connection (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        config: GatewayConfig,
        *,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.http = http
        self.transport = transport
        self._runs = SourceRunner(engine, config, http=http, transport=transport, clock=utcnow)

    def connection(self, tenant: str, name: str) -> TargetConnection:
        """The source connection; ValueError if it is none, or reads no single person."""
        settings = self._runs._settings(runs.RunRequest(tenant, name))
        if not hasattr(source_class(settings.type), "read_person"):
            raise ValueError(f"connection {name!r} ({settings.type}) cannot read one person")
        return settings

    async def __call__(
        self, request: runs.RunRequest, person_id: str, hints: Mapping[str, Any]
    ) -> Arrival:
        """Read and apply one person; the run is recorded (RunInProgress if running)."""
        settings = self.connection(request.tenant, request.connection)
        run_id = await self._runs._thread(self._runs._start, request)
        tally = Tally()
        retry = None
        try:
            await self._apply(request, settings, person_id, hints, tally)
            status, message = ("failed" if tally.counts["failed"] else "succeeded"), None
        except DeliveryError as exc:
            status, message = "failed", exc.message
            tally.fail(person_id, exc.message)
            if not isinstance(exc, PermanentError):
                wait = exc.retry_after if isinstance(exc, TransientError) else None
                retry = DEFAULT_RETRY_SECONDS if wait is None else wait
        except Exception as exc:  # recorded on the run, as a sync run's would be
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            retry = DEFAULT_RETRY_SECONDS
        await self._runs._thread(self._runs._finish, run_id, status, tally, message)
        counts = {name: tally.counts[name] for name in runs.COUNTS}
        outcome = runs.RunOutcome(
            run_id, status, counts, tuple(tally.failures), tally.report(), message
        )
        return Arrival(outcome, retry)

    async def _apply(
        self,
        request: runs.RunRequest,
        settings: TargetConnection,
        person_id: str,
        hints: Mapping[str, Any],
        tally: Tally,
    ) -> None:
        record = await self._read(request.connection, settings, person_id, hints)
        source = settings.source or SourceSettings()
        custom = self.config.tenant(request.tenant).custom_field_spec()
        kind, reader = kinds_for(custom)["users"], kinds_for(custom, sensitive_reader=True)["users"]
        mapper = HireMapper.build(source, source_class(settings.type).default_read_map, reader)
        claimed = source.authoritative
        authoritative = None if claimed is None else [parse_doc_path(p) for p in claimed]
        owned = owned_paths(mapper.read_map.paths, authoritative)
        applier = Applier(
            self._runs.service,
            request.tenant,
            request.connection,
            kind,
            reader,
            owned,
            source.match,
            request.dry_run,
            self._runs.clock,
        )
        known = await self._runs._thread(self._link, request.tenant, request.connection, person_id)
        walk = Walk(self._runs, applier, mapper, known, tally, self._runs.clock())
        await walk.read(_one_page(record), None)
        await walk.managers()

    async def _read(
        self, name: str, settings: TargetConnection, person_id: str, hints: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        client = self.http or build_client(settings, transport=self.transport)
        try:
            setup = ConnectorSetup(name, settings.base_url, client, settings.options)
            connector: inbound.PersonSource = source_class(settings.type)(setup)
            return await connector.read_person(person_id, hints)
        finally:
            if self.http is None:
                await client.aclose()

    def _link(self, tenant: str, name: str, person_id: str) -> dict[str, links.Link]:
        with self._runs.engine.connect() as conn:
            return links.load_all(conn, tenant, name, only=person_id)


async def _one_page(record: Mapping[str, Any]) -> AsyncIterator[SourcePage]:
    yield SourcePage(records=[record])
