"""Running a connection once: the runner that ``scimgw sync``, the scheduler and
``scimgw runs`` share, chosen by the connection's direction (issue 12).

A source connection (direction ``source`` or ``both``) is read into the store by
:class:`provisioning.sources.SourceRunner`; a target connection is backfilled from the
store by :class:`provisioning.accounts.TargetRunner` (the initial load and drift repair
that applies what ``scimgw plan`` shows).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config import GatewayConfig
from gateway.settings import SmtpSettings
from provisioning.accounts import TargetRunner
from provisioning.engine import Mailer, Scheduler, running
from provisioning.records import runs
from provisioning.sources import SourceRunner

#: The directions a source run reads; every other connection is a target.
SOURCE_DIRECTIONS = ("source", "both")


def build_runner(
    engine: Engine, config: GatewayConfig, *, http: httpx.AsyncClient | None = None
) -> runs.SyncRunner:
    """A runner of any connection of ``config``, dispatching each request by direction."""
    return _ByDirection(
        config,
        source=SourceRunner(engine, config, http=http),
        target=TargetRunner(engine, config, http=http, clock=lambda: datetime.now(UTC)),
    )


def build_scheduler(engine: Engine, config: GatewayConfig, *, only: str | None = None) -> Scheduler:
    """The scheduler of ``scimgw worker`` and the embedded worker: runs through
    :func:`build_runner`, reports mailed through ``SCIMGW_SMTP_*``."""
    mailer = Mailer(SmtpSettings.from_env())
    return Scheduler(engine, config, build_runner(engine, config), notify=mailer.report, only=only)


def ensure_tenants(engine: Engine, config: GatewayConfig) -> None:
    """The file's tenants as rows, as ``scimgw serve`` makes them: a run may be the first
    thing that writes into a new database (``scimgw sync`` or ``scimgw worker`` before any
    ``serve``), and a user needs its tenant's row."""
    for tenant_id, tenant in config.tenants.items():
        ensure_tenant(engine, tenant_id, tenant.display_name)


@contextlib.asynccontextmanager
async def scheduling(
    engine: Engine, config: GatewayConfig, *, only: str | None = None
) -> AsyncIterator[Scheduler]:
    """Run the scheduler while the context is open (nothing to run: it returns at once)."""
    scheduler = build_scheduler(engine, config, only=only)
    if not scheduler.entries:
        yield scheduler
        return
    await asyncio.to_thread(ensure_tenants, engine, config)
    async with running(scheduler.run, "scheduler"):
        yield scheduler


class _ByDirection:
    """A runs.SyncRunner handing each request to the runner of its connection's direction."""

    def __init__(
        self, config: GatewayConfig, *, source: runs.SyncRunner, target: runs.SyncRunner
    ) -> None:
        self.config = config
        self.source = source
        self.target = target

    async def __call__(
        self, request: runs.RunRequest, progress: runs.Progress | None = None
    ) -> runs.RunOutcome:
        tenant = self.config.tenants.get(request.tenant)
        settings = tenant.connections.get(request.connection) if tenant else None
        if settings is None:
            raise ValueError(f"no connection {request.connection!r} in tenant {request.tenant!r}")
        runner = self.source if settings.direction in SOURCE_DIRECTIONS else self.target
        return await runner(request, progress)
