"""CPU-bound request work off the event loop, one piece at a time.

Validating a large body, projecting a large resource or parsing a Bulk request takes
milliseconds to tens of milliseconds: on the event loop, every other request would wait
that long. In a worker thread it still holds the GIL, for up to the switch interval (5 ms)
at a time, and the event loop thread needs the GIL back after each socket event. With
several such threads the loop waits behind each of them in turn: four concurrent PUTs of
the largest user the limits allow, in four threads, made a concurrent
``GET /ServiceProviderConfig`` wait 260 ms (p99; docs/benchmarks.md, "Request bounds").
So heavy work runs in worker threads one piece at a time; heavy requests queue behind
each other, which costs them nothing in throughput (the GIL serialises them anyway).
"""

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

#: One worker thread at a time for heavy work (an anyio limiter is usable from any loop).
HEAVY = anyio.CapacityLimiter(1)


async def off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``function`` in a worker thread, after the heavy work queued before it."""
    return await anyio.to_thread.run_sync(partial(function, *args, **kwargs), limiter=HEAVY)
