"""Running a connection once: the runner that ``scimgw sync``, the scheduler and
``scimgw runs`` share, chosen by the connection's direction.

This build runs target connections (provisioning.accounts.TargetRunner: the backfill and
drift repair that applies what ``scimgw plan`` shows). A source connection's run is the
sources room's; until it is wired here, asking for one is a clear error.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig
from gateway.settings import SmtpSettings
from provisioning.accounts import TargetRunner
from provisioning.engine import Mailer, Scheduler
from provisioning.records import runs


def build_runner(
    engine: Engine, config: GatewayConfig, *, http: httpx.AsyncClient | None = None
) -> runs.SyncRunner:
    """A runner of any connection of ``config``, dispatching each request by direction."""
    return _ByDirection(engine, config, http)


def build_scheduler(engine: Engine, config: GatewayConfig, *, only: str | None = None) -> Scheduler:
    """The scheduler of ``scimgw worker`` and the embedded worker: runs through
    :func:`build_runner`, reports mailed through ``SCIMGW_SMTP_*``."""
    mailer = Mailer(SmtpSettings.from_env())
    return Scheduler(engine, config, build_runner(engine, config), notify=mailer.report, only=only)


@contextlib.asynccontextmanager
async def scheduling(
    engine: Engine, config: GatewayConfig, *, only: str | None = None
) -> AsyncIterator[Scheduler]:
    """Run the scheduler while the context is open (nothing to run: it returns at once)."""
    scheduler = build_scheduler(engine, config, only=only)
    if not scheduler.entries:
        yield scheduler
        return
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop), name="scheduler")
    try:
        yield scheduler
    finally:
        stop.set()
        await task


class _ByDirection:
    def __init__(
        self, engine: Engine, config: GatewayConfig, http: httpx.AsyncClient | None
    ) -> None:
        self.config = config
        self.target = TargetRunner(engine, config, http=http, clock=lambda: datetime.now(UTC))

    async def __call__(
        self, request: runs.RunRequest, progress: runs.Progress | None = None
    ) -> runs.RunOutcome:
        tenant = self.config.tenants.get(request.tenant)
        settings = tenant.connections.get(request.connection) if tenant else None
        if settings is None:
            raise ValueError(f"no connection {request.connection!r} in tenant {request.tenant!r}")
        if settings.direction == "target":
            return await self.target(request, progress)
        raise ValueError(
            f"connection {request.connection!r} reads a source (direction {settings.direction}):"
            " source runs are not wired in this build"
        )
