"""How the server and the delivery worker call the synchronous store without stalling the loop.

SQLite answers in microseconds from a local file: a thread hop costs more than the query,
and dozens of threads contending for the GIL cost more still (measured: 500 GET/s through
the thread pool; in the worker every statement waited up to the GIL switch interval for the
busy event loop, 5 ms, which capped delivery at ~200 events/s). So SQLite calls run inline
on the event loop. PostgreSQL calls wait on the network and run in threads, where they can
overlap: the request handlers share one pool of :data:`REQUEST_THREADS` threads; the worker
passes ``threads`` for a small pool of its own, so a burst of deliveries never takes the
threads requests need.

The threads are a plain :class:`~concurrent.futures.ThreadPoolExecutor`, not anyio's
``to_thread``: with 32 requests in flight a hop cost 57 µs of CPU through anyio (its
limiter, cancel scopes and worker queue) and 21 µs through the executor, against 136 µs
for the whole ``GET /Users/{id}`` it carries on PostgreSQL (issue 11,
``benchmarks/writes.py``).
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

T = TypeVar("T")

#: Threads for the requests of one process: anyio's default, which they used before.
#: ``gateway.store.database`` keeps as many PostgreSQL connections open.
REQUEST_THREADS = 40


@cache
def _executor(threads: int) -> ThreadPoolExecutor:
    """One pool per size, shared by every caller of that size in the process."""
    return ThreadPoolExecutor(threads, thread_name_prefix=f"store-{threads}")


class StoreCaller:
    """Runs store functions inline (SQLite) or in worker threads (everything else)."""

    def __init__(self, engine: Engine, threads: int | None = None) -> None:
        self.inline = engine.dialect.name == "sqlite"
        self._executor = None if self.inline else _executor(threads or REQUEST_THREADS)

    async def __call__(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return ``function(*args, **kwargs)``, called as the store's dialect calls for.

        A cancelled caller still waits for a call already running to end (its
        transaction commits or rolls back first), as anyio's threads made it wait.
        """
        if self._executor is None:
            return function(*args, **kwargs)
        running = self._executor.submit(partial(function, *args, **kwargs))
        future = asyncio.wrap_future(running)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not running.cancel():  # started: let it end before the cancellation goes on
                await asyncio.wait([future])
            raise
