"""The claims a worker holds, and keeping their leases while it holds them.

A claim is leased (provisioning.records.claims): if its worker is killed, the lease expires and
another worker takes the event over. So while this worker holds an event (claimed, not yet
settled) a heartbeat extends the lease of everything it holds, and on stop what is still
unsettled is handed back without using up an attempt. The count of held events per
connection is what tells a pump how many of the connection's slots are free.
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import anyio
from sqlalchemy.engine import Engine

from gateway.store.calls import StoreCaller
from gateway.store.database import writer
from provisioning.records import Claim, claims
from provisioning.targets import Target


class Leases:
    """The claims one worker holds, counted per connection.

    Args:
        engine: the store.
        db: how store functions are called.
        worker_id: the worker the claims were taken for.
        lease: how long a claim is held before another worker may take it over.
        clock: the time now.
    """

    def __init__(
        self,
        engine: Engine,
        db: StoreCaller,
        *,
        worker_id: str,
        lease: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.lease = lease
        self.clock = clock
        #: Ids of the claims held and not yet settled.
        self.held: set[int] = set()
        self._db = db
        self._counts: Counter[tuple[str, str]] = Counter()
        self._renewals = anyio.CapacityLimiter(1)

    def free(self, target: Target) -> int:
        """How many more events ``target``'s concurrency allows this worker to hold."""
        return target.settings.concurrency - self._counts[(target.tenant, target.name)]

    def take(self, target: Target, batch: list[Claim]) -> None:
        """Hold the claims of a batch just claimed for ``target``."""
        self.held.update(c.id for c in batch)
        self._counts[(target.tenant, target.name)] += len(batch)

    def let_go(self, claim: Claim) -> None:
        """Stop holding a claim whose outcome is known (settling it is not this class's job)."""
        if claim.id in self.held:
            self.held.discard(claim.id)
            self._counts[(claim.tenant, claim.connection)] -= 1

    async def keep(self) -> None:
        """Renew the lease of every held claim, a third of a lease apart, until cancelled."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            held, until = sorted(self.held), self.clock() + self.lease
            with contextlib.suppress(Exception):
                # Its own thread slot: a renewal queued behind busy store calls could miss
                # the lease and let another worker take over a delivery still in flight.
                await anyio.to_thread.run_sync(
                    partial(self._renew, held, until), limiter=self._renewals
                )

    def _renew(self, held: list[int], until: datetime) -> None:
        with writer(self.engine).begin() as connection:
            claims.extend(connection, self.worker_id, held, until)

    async def release(self) -> int:
        """Hand back every claim still held; returns how many the store released."""
        unsettled = sorted(self.held)

        def release() -> int:
            with writer(self.engine).begin() as connection:
                return claims.release(connection, self.worker_id, unsettled)

        return await self._db(release)
