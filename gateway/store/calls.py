"""How the server and the delivery worker call the synchronous store without stalling the loop.

SQLite answers in microseconds from a local file: a thread hop costs more than the query,
and dozens of threads contending for the GIL cost more still (measured: 500 GET/s through
the thread pool; in the worker every statement waited up to the GIL switch interval for the
busy event loop, 5 ms, which capped delivery at ~200 events/s). So SQLite calls run inline
on the event loop. PostgreSQL calls wait on the network and run in threads, where they can
overlap: the request handlers share anyio's default pool (as starlette's
``run_in_threadpool`` does); the worker passes ``threads`` for a small pool of its own, so a
burst of deliveries never takes the threads requests need.
"""

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from sqlalchemy.engine import Engine

T = TypeVar("T")


class StoreCaller:
    """Runs store functions inline (SQLite) or in worker threads (everything else)."""

    def __init__(self, engine: Engine, threads: int | None = None) -> None:
        self.inline = engine.dialect.name == "sqlite"
        # SQLite has one writer; more threads would only queue on its lock.
        limit = 1 if self.inline else threads
        self._limiter = anyio.CapacityLimiter(limit) if limit else None

    async def __call__(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return ``function(*args, **kwargs)``, called as the store's dialect calls for."""
        if self.inline:
            return function(*args, **kwargs)
        call = partial(function, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)
