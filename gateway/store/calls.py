"""How request handlers call the synchronous store without stalling the event loop.

SQLite answers in microseconds from a local file: a thread hop costs more than the query,
and dozens of threads contending for the GIL cost more still (measured: 500 GET/s through
the thread pool). So SQLite calls run inline on the event loop. PostgreSQL calls wait on
the network and run in the thread pool, where they can overlap.
"""

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class StoreCaller:
    """Runs store functions inline (SQLite) or in worker threads (everything else)."""

    def __init__(self, engine: Engine) -> None:
        self.inline = engine.dialect.name == "sqlite"

    async def __call__(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.inline:
            return function(*args, **kwargs)
        return await run_in_threadpool(partial(function, *args, **kwargs))
