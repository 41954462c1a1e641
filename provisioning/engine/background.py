"""A loop run beside the server while a context is open: the worker, the scheduler, the
webhook processor. Each loop is ``run(stop)``, returning once ``stop`` is set."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

__all__ = ["running"]


@contextlib.asynccontextmanager
async def running(
    run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], name: str
) -> AsyncIterator[None]:
    """``run(stop)`` in a task named ``name`` while the context is open; on exit, ``stop``
    is set and the loop is awaited (it ends its current step first)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop), name=name)
    try:
        yield
    finally:
        stop.set()
        await task
