"""Which runner runs a connection: the composition root of sync runs (issue 12).

A source connection (direction ``source`` or ``both``) is read into the store by
:class:`provisioning.sources.SourceRunner`; a target connection is backfilled from the
store by the target runner (helper "schedules"; merged here by the coordinator).
"""

import httpx
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig
from provisioning.records import runs
from provisioning.sources import SourceRunner


class _Dispatch:
    """A runs.SyncRunner that hands each request to the runner of its connection's direction."""

    def __init__(self, config: GatewayConfig, sources: runs.SyncRunner) -> None:
        self.config = config
        self.sources = sources

    async def __call__(
        self, request: runs.RunRequest, progress: runs.Progress | None = None
    ) -> runs.RunOutcome:
        connections = self.config.tenant(request.tenant).connections
        settings = connections.get(request.connection)
        if settings is None:
            raise ValueError(f"tenant {request.tenant!r} has no connection {request.connection!r}")
        if settings.direction in ("source", "both"):
            return await self.sources(request, progress)
        raise ValueError(
            f"connection {request.connection!r} is a target: its runs are backfills, "
            "which this build does not run"
        )


def build_runner(
    engine: Engine, config: GatewayConfig, *, http: httpx.AsyncClient | None = None
) -> runs.SyncRunner:
    """The runner of every connection of ``config``, dispatching by direction."""
    return _Dispatch(config, SourceRunner(engine, config, http=http))
