"""Running a connection once: the runner that ``scimgw sync``, the scheduler and
``scimgw runs`` share, chosen by the connection's direction.

This build runs target connections (provisioning.accounts.TargetRunner: the backfill and
drift repair that applies what ``scimgw plan`` shows). A source connection's run is the
sources room's; until it is wired here, asking for one is a clear error.
"""

from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig
from provisioning.accounts import TargetRunner
from provisioning.records.runs import Progress, RunOutcome, RunRequest, SyncRunner


def build_runner(
    engine: Engine, config: GatewayConfig, *, http: httpx.AsyncClient | None = None
) -> SyncRunner:
    """A runner of any connection of ``config``, dispatching each request by direction."""
    return _ByDirection(engine, config, http)


class _ByDirection:
    def __init__(
        self, engine: Engine, config: GatewayConfig, http: httpx.AsyncClient | None
    ) -> None:
        self.config = config
        self.target = TargetRunner(engine, config, http=http, clock=lambda: datetime.now(UTC))

    async def __call__(self, request: RunRequest, progress: Progress | None = None) -> RunOutcome:
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
