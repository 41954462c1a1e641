"""Running the delivery worker inside ``scimgw serve`` (the embedded default).

On SQLite exactly one process may run it (there is one writer; ``serve --workers N``
starts N processes), so the first process to lock a file beside the database runs it and
the others serve HTTP only. On PostgreSQL every process may run one.
"""

import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import structlog
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig
from provisioning.engine.background import running
from provisioning.engine.worker import Worker
from provisioning.targets import build_targets

log = structlog.get_logger("scimgw.worker")


@contextlib.asynccontextmanager
async def embedded_worker(engine: Engine, config: GatewayConfig) -> AsyncIterator[Worker | None]:
    """Run a worker for every enabled target while the context is open."""
    targets = build_targets(config, engine.dialect.name)
    lock = _single_sqlite_worker(engine) if targets else None
    if not targets or (engine.dialect.name == "sqlite" and lock is None):
        for target in targets:
            await target.aclose()
        yield None
        return
    worker = Worker(engine, targets)
    try:
        async with running(worker.run, "worker"):
            yield worker
    finally:
        for target in targets:
            await target.aclose()
        if lock is not None:
            lock.close()


def _single_sqlite_worker(engine: Engine) -> IO[bytes] | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    handle = Path(f"{database}.worker.lock").open("ab")  # noqa: SIM115 (held while serving)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        log.info("worker.embedded_elsewhere", reason="another process runs the SQLite worker")
        return None
    return handle
