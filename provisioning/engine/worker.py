"""The delivery worker: claims due events per connection and delivers them.

One pump per target connection claims as many events as it has free concurrency slots and
hands the batch to the deliverer (provisioning.engine.delivery), which reads their state in one
snapshot, decides each step, and delivers them concurrently through the connection's rate
limiter. Outcomes are settled in batches. Claims carry a lease that a heartbeat renews
(provisioning.engine.leases); a killed worker's claims expire and another worker takes them over.
On stop, the worker finishes what it started within a grace period and hands back the rest
without using up an attempt.
"""

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.engine import Engine

from gateway.store.calls import StoreCaller
from gateway.store.database import writer
from provisioning.engine import breaker
from provisioning.engine.breaker import Breakers
from provisioning.engine.delivery import Deliverer
from provisioning.engine.leases import Leases
from provisioning.engine.ledger import Outcome, settle
from provisioning.engine.retry import RetryPolicy
from provisioning.records import Claim, claims, guard
from provisioning.targets import Target

log = structlog.get_logger("scimgw.worker")
#: The claim's answer while the mass-deletion guard pauses the connection.
PAUSED = "paused"


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Delivers the outbox of a set of targets.

    Args:
        engine: the store.
        targets: the target connections this worker serves.
        policy: decides between retry and dead letter for failures.
        lease: how long a claim is held before another worker may take it over.
        poll_interval: seconds between claims when a connection has nothing due.
        settle_interval: seconds between batched settlement commits.
        linger: longest wait for more free slots before claiming a small batch.
    """

    def __init__(
        self,
        engine: Engine,
        targets: list[Target],
        *,
        policy: RetryPolicy | None = None,
        worker_id: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        poll_interval: float = 0.5,
        settle_interval: float = 0.05,
        linger: float = 0.02,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.targets = targets
        self.policy = policy or RetryPolicy()
        self.id = worker_id or default_worker_id()
        self.lease = lease
        self.poll_interval = poll_interval
        self.settle_interval = settle_interval
        self.linger = linger
        self.clock = clock
        self._pending: list[Outcome] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()
        self._db = StoreCaller(engine, threads=4)
        self.leases = Leases(engine, self._db, worker_id=self.id, lease=lease, clock=clock)
        self.breakers = Breakers(((t.tenant, t.name), t.settings.breaker) for t in targets)
        self.deliverer = Deliverer(
            engine,
            self._db,
            worker_id=self.id,
            policy=self.policy,
            clock=clock,
            held=self.leases.held,
            done=self._done,
        )

    # -- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, grace: float = 20.0) -> None:
        """Deliver until ``stop`` is set, then finish or hand back what is held."""
        log.info("worker.started", worker=self.id, targets=[t.name for t in self.targets])
        pumps = [asyncio.create_task(self._pump(target, stop)) for target in self.targets]
        finished = asyncio.Event()
        settler = asyncio.create_task(self._settler(finished))
        keeper = asyncio.create_task(self.leases.keep())
        await stop.wait()
        await asyncio.gather(*pumps, return_exceptions=True)
        await self._finish_or_release(grace)
        # The settler is told, not cancelled: cancelled between taking a batch and
        # writing it (PostgreSQL: a thread hop), it lost those outcomes, and their events
        # stayed in flight until the lease ran out and they were delivered again.
        finished.set()
        await settler
        keeper.cancel()
        await self._flush()
        log.info("worker.stopped", worker=self.id)

    async def drain(self) -> int:
        """Deliver everything due now, then return the number of events settled (tests, CLI)."""
        settled = 0
        while True:
            batches = [await self._claim(target) for target in self.targets]
            if not any(batches):
                return settled
            for target, batch in zip(self.targets, batches, strict=True):
                if batch:
                    await self.deliverer.deliver(target, batch)
                    settled += len(batch)
            await self._flush()

    async def _finish_or_release(self, grace: float) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await self._flush()
        released = await self.leases.release()
        if released:
            log.info("worker.released", worker=self.id, events=released)

    # -- claiming ------------------------------------------------------------------------

    async def _pump(self, target: Target, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                batch = await self._claim(target)
            except Exception:
                log.exception("worker.claim_failed", connection=target.name)
                batch = []
            if batch:
                task = asyncio.create_task(self.deliverer.deliver(target, batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                await self._gather_room(target, stop)
                continue
            await _wait_any(stop, self._freed, self.poll_interval)
            self._freed.clear()

    async def _gather_room(self, target: Target, stop: asyncio.Event) -> None:
        """Let a few slots free up before the next claim: each batch costs the same few
        store round trips whatever its size, so claiming one slot at a time at high
        concurrency spends the worker on bookkeeping (docs/benchmarks.md)."""
        wanted = max(1, target.settings.concurrency // 4)
        deadline = asyncio.get_running_loop().time() + self.linger
        while not stop.is_set():
            free = self.leases.free(target)
            remaining = deadline - asyncio.get_running_loop().time()
            if free >= wanted or remaining <= 0:
                return
            self._freed.clear()
            await _wait_any(stop, self._freed, remaining)

    async def _claim(self, target: Target) -> list[Claim]:
        free = self.leases.free(target)
        if self.deliverer.throttled(target, self.clock()) or free <= 0:
            return []
        if target.exports:
            free = 100_000  # a run covers every due event at once
        change = self.breakers.pending(target.tenant, target.name)
        try:
            gate, batch = await self._db(self._claim_sync, target, free, change)
        except Exception:
            self.breakers.unwritten(target.tenant, target.name, change)
            raise
        if gate == PAUSED:  # nothing was written: the transition waits for the next claim
            self.breakers.unwritten(target.tenant, target.name, change)
            return []
        probe = batch[0].id if gate == breaker.PROBE and batch else None
        self.breakers.admitted(target.tenant, target.name, gate, probe)
        self.leases.take(target, batch)
        return batch

    def _claim_sync(
        self, target: Target, limit: int, change: breaker.Change | None
    ) -> tuple[str, list[Claim]]:
        """Claim in one transaction with the circuit breaker's say (provisioning.engine.breaker):
        its pending transition written, then everything due, one probe, or nothing; and
        nothing at all (PAUSED) while the mass-deletion guard pauses the connection.

        The guard's state is read in the same transaction: in a store call of its own it
        cost each claim a connection and a round trip more (on PostgreSQL, a thread hop).
        """
        now = self.clock()
        with writer(self.engine).begin() as connection:
            if guard.state(connection, target.tenant, target.name).paused:
                return PAUSED, []
            gate = breaker.ALL
            if self.breakers.enabled(target.tenant, target.name):
                if change is not None:
                    breaker.write(connection, target.tenant, target.name, change, self.id)
                gate = breaker.admit(
                    connection, target.tenant, target.name, self.id, now, self.lease
                )
            if gate == breaker.NOTHING:
                return gate, []
            batch = claims.claim(
                connection,
                tenant=target.tenant,
                target=target.name,
                worker=self.id,
                now=now,
                lease=self.lease,
                limit=1 if gate == breaker.PROBE else limit,
            )
            if gate == breaker.PROBE and not batch:
                breaker.drop_probe(connection, target.tenant, target.name, self.id)
            return gate, batch

    # -- settlement ----------------------------------------------------------------------

    def _done(self, outcome: Outcome) -> None:
        self.breakers.observe(outcome)  # may make a failure wait for the breaker
        self.leases.let_go(outcome.claim)
        self._pending.append(outcome)
        self._freed.set()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            await self._db(settle, self.engine, self.id, batch)

    async def _settler(self, finished: asyncio.Event) -> None:
        while not finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), self.settle_interval)
            try:
                await self._flush()
            except Exception:
                log.exception("worker.settle_failed")


async def _wait_any(stop: asyncio.Event, freed: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(freed.wait())]
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
