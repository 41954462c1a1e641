"""How the delivery worker calls the synchronous store without stalling its event loop.

The worker's claim, delivery and lease code all reach the store through one such caller,
so the choice between inline and threaded calls is made once, here. The same reasoning as
gateway.store.calls, with a bounded thread pool of the worker's own.
"""

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from sqlalchemy.engine import Engine

T = TypeVar("T")


class StoreCalls:
    """Runs store functions inline (SQLite) or in a few worker threads (everything else)."""

    def __init__(self, engine: Engine) -> None:
        self.inline = engine.dialect.name == "sqlite"
        # SQLite has one writer; more threads would only queue on its lock.
        self._limiter = anyio.CapacityLimiter(1 if self.inline else 4)

    async def __call__(self, function: Callable[..., T], *args: Any) -> T:
        """Return ``function(*args)``, called as the store's dialect calls for."""
        if self.inline:
            # SQLite answers in microseconds; in a thread, every statement waited up to the
            # GIL switch interval for the busy event loop (5 ms), which capped delivery
            # at ~200 events/s.
            return function(*args)
        return await anyio.to_thread.run_sync(partial(function, *args), limiter=self._limiter)
