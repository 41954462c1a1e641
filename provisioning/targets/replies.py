"""The HTTP status of the last reply a delivery got from its target.

A delivery row records the HTTP status of every attempt (docs/provisioning.md). A failure
carries it in its :class:`~provisioning.errors.DeliveryError`; a success is only a
connector's return value (a remote account), so the status is taken where every reply
passes: a response hook on the connection's HTTP client (:func:`record`, installed by
:func:`provisioning.targets.assembly.build_target`). :func:`watch` opens a slot in the current
task's context for the hook to fill. The last reply wins: a create after a lookup
records the create's 201, an adoption the status of its update.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx


@dataclass
class Reply:
    """The last reply seen while watching (None: no HTTP call, e.g. a file upload)."""

    status: int | None = None


_current: ContextVar[Reply | None] = ContextVar("scimgw_reply", default=None)


@contextmanager
def watch() -> Iterator[Reply]:
    """Collect the status of the replies received in this task until the block ends.

    Each delivery runs in its own task (``asyncio.gather``), so concurrent deliveries of
    one client watch their own replies.
    """
    reply = Reply()
    token = _current.set(reply)
    try:
        yield reply
    finally:
        _current.reset(token)


async def record(response: httpx.Response) -> None:
    """httpx response hook: note the status for the delivery watching, if any."""
    reply = _current.get()
    if reply is not None:
        reply.status = response.status_code
