"""The delivery worker: claims due events per connection and delivers them.

One pump per target connection claims as many events as it has free concurrency slots,
reads their state in one snapshot, decides each step, and delivers them concurrently
through the connection's rate limiter. Outcomes are settled in batches. Claims carry a
lease that a heartbeat renews; a killed worker's claims expire and another worker takes
them over. On stop, the worker finishes what it started within a grace period and hands
back the rest without using up an attempt.
"""

import asyncio
import contextlib
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio
import structlog
from sqlalchemy.engine import Engine

from gateway.store.database import writer
from provisioning import claims, guard, links
from provisioning.claims import Claim
from provisioning.decisions import CREATE, DEACTIVATE, DELETE, FAIL, SKIP, Step, Work, decide
from provisioning.errors import DeliveryError, RateLimited
from provisioning.execution import carry_out
from provisioning.exports import ExportHeld, export_all
from provisioning.groups import GroupWork, deliver_group, load_group_work, takes_groups
from provisioning.ledger import (
    DEAD,
    DELIVERED,
    HELD,
    RETRY,
    SKIPPED,
    Outcome,
    mark_creating,
    pause_for_guard,
    settle,
)
from provisioning.retry import DeadLetter, Retry, RetryPolicy
from provisioning.snapshot import load_work
from provisioning.targets import Target

log = structlog.get_logger("scimgw.worker")
_EPOCH = datetime.min.replace(tzinfo=UTC)
T = TypeVar("T")


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
        self._held: set[int] = set()
        self._count: Counter[tuple[str, str]] = Counter()
        self._not_before: dict[tuple[str, str], datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()
        # SQLite has one writer; more threads would only queue on its lock.
        size = 1 if engine.dialect.name == "sqlite" else 4
        self._db_limiter = anyio.CapacityLimiter(size)
        self._lease_limiter = anyio.CapacityLimiter(1)
        self._inline = engine.dialect.name == "sqlite"

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        if self._inline:
            # SQLite answers in microseconds; in a thread, every statement waited up to the
            # GIL switch interval for the busy event loop (5 ms), which capped delivery
            # at ~200 events/s. The same reasoning as gateway.store.calls.
            return function(*args)
        return await anyio.to_thread.run_sync(partial(function, *args), limiter=self._db_limiter)

    # -- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, grace: float = 20.0) -> None:
        """Deliver until ``stop`` is set, then finish or hand back what is held."""
        log.info("worker.started", worker=self.id, targets=[t.name for t in self.targets])
        pumps = [asyncio.create_task(self._pump(target, stop)) for target in self.targets]
        background = [
            asyncio.create_task(self._settler(stop)),
            asyncio.create_task(self._heartbeat(stop)),
        ]
        await stop.wait()
        await asyncio.gather(*pumps, return_exceptions=True)
        await self._finish_or_release(grace)
        for task in background:
            task.cancel()
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
                    await self._deliver_batch(target, batch)
                    settled += len(batch)
            await self._flush()

    async def _pump(self, target: Target, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                batch = await self._claim(target)
            except Exception:
                log.exception("worker.claim_failed", connection=target.name)
                batch = []
            if batch:
                task = asyncio.create_task(self._deliver_batch(target, batch))
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
            free = target.settings.concurrency - self._count[_key(target)]
            remaining = deadline - asyncio.get_running_loop().time()
            if free >= wanted or remaining <= 0:
                return
            self._freed.clear()
            await _wait_any(stop, self._freed, remaining)

    async def _claim(self, target: Target) -> list[Claim]:
        free = target.settings.concurrency - self._count[_key(target)]
        if self.clock() < self._not_before.get(_key(target), _EPOCH):
            return []
        if free <= 0 or await self._db(self._paused, target):
            return []
        if target.exports:
            free = 100_000  # a run covers every due event at once
        batch = await self._db(self._claim_sync, target, free)
        self._held.update(c.id for c in batch)
        self._count[_key(target)] += len(batch)
        return batch

    def _paused(self, target: Target) -> bool:
        with self.engine.connect() as connection:
            return guard.state(connection, target.tenant, target.name).paused

    def _claim_sync(self, target: Target, limit: int) -> list[Claim]:
        with writer(self.engine).begin() as connection:
            return claims.claim(
                connection,
                tenant=target.tenant,
                target=target.name,
                worker=self.id,
                now=self.clock(),
                lease=self.lease,
                limit=limit,
            )

    # -- delivering ----------------------------------------------------------------------

    async def _deliver_batch(self, target: Target, batch: list[Claim]) -> None:
        try:
            if target.exports:
                await self._export(target, batch)
                return
            if takes_groups(target):
                groups = [c for c in batch if c.resource_type == "Group"]
                batch = [c for c in batch if c.resource_type != "Group"]
                group_works = await self._db(load_group_work, self.engine, target, groups)
                await asyncio.gather(*(self._deliver_group(target, w) for w in group_works))
            works = await self._db(load_work, self.engine, target, batch)
            steps = [(work, decide(work, target)) for work in works]
            steps = await self._guard(target, steps)
            await self._db(self._mark_creating, target, steps)
            await asyncio.gather(*(self._deliver(target, work, step) for work, step in steps))
        except Exception as exc:  # a bug or the store failing: retry the batch later
            log.exception("worker.batch_failed", connection=target.name)
            for claim in batch:
                if claim.id in self._held:
                    self._fail(target, claim, claim.id, "batch", exc)

    async def _deliver_group(self, target: Target, work: GroupWork) -> None:
        async with target.slots:
            try:
                operation, effect = await deliver_group(work, target)
            except Exception as exc:
                self._fail(target, work.claim, work.upto, "group", exc)
                return
        result = SKIPPED if effect is None else DELIVERED
        link = effect.link if effect else None
        remote = effect.remote_id if effect else None
        self._done(
            Outcome(
                work.claim, operation, result, self.clock(), work.upto, link=link, remote_id=remote
            )
        )

    async def _deliver(self, target: Target, work: Work, step: Step) -> None:
        claim = work.claim
        if step.operation in (SKIP, FAIL, HELD):
            result = {SKIP: SKIPPED, FAIL: DEAD, HELD: HELD}[step.operation]
            self._done(
                Outcome(claim, step.operation, result, self.clock(), work.upto, error=step.reason)
            )
            return
        async with target.slots:
            try:
                effect = await carry_out(work, step, target, partial(self._linked_to, target))
            except Exception as exc:
                self._fail(target, claim, work.upto, step.operation, exc)
                return
        self._done(
            Outcome(
                claim,
                step.operation,
                DELIVERED,
                self.clock(),
                work.upto,
                link=effect.link,
                remote_id=effect.remote_id,
                latency_ms=effect.latency_ms,
                audit=effect.audit,
            )
        )

    async def _export(self, target: Target, batch: list[Claim]) -> None:
        try:
            name = await export_all(self.engine, target, batch, self._db)
        except ExportHeld as held:
            await self._hold_export(target, batch, str(held))
            return
        except Exception as exc:
            for claim in batch:
                self._fail(target, claim, claim.id, "export", exc)
            return
        now = self.clock()
        for claim in batch:
            self._done(Outcome(claim, "export", DELIVERED, now, claim.id, remote_id=name))

    async def _hold_export(self, target: Target, batch: list[Claim], reason: str) -> None:
        now = self.clock()
        log.warning("guard.paused", tenant=target.tenant, connection=target.name, reason=reason)
        await self._db(
            pause_for_guard, self.engine, target.tenant, target.name, reason, self.id, now
        )
        for claim in batch:
            self._done(Outcome(claim, "export", HELD, now, claim.id, error=f"held: {reason}"))

    def _fail(
        self, target: Target, claim: Claim, upto: int, operation: str, exc: BaseException
    ) -> None:
        now = self.clock()
        limit = target.settings.max_attempts
        decision = replace(self.policy, max_attempts=limit).decide(exc, claim.attempts, now)
        status = exc.status if isinstance(exc, DeliveryError) else None
        if isinstance(exc, RateLimited) and isinstance(decision, Retry):
            # The target throttles the connection, not one event: claim nothing until then.
            key = _key(target)
            self._not_before[key] = max(self._not_before.get(key, now), decision.due_at)
        if not isinstance(exc, DeliveryError):
            log.error(
                "worker.unexpected_error",
                connection=target.name,
                event=claim.id,
                error=type(exc).__name__,
            )
        if isinstance(decision, DeadLetter):
            outcome = Outcome(
                claim, operation, DEAD, now, http_status=status, error=decision.reason
            )
        else:
            outcome = Outcome(
                claim,
                operation,
                RETRY,
                now,
                http_status=status,
                error=decision.reason,
                due_at=decision.due_at,
            )
        self._done(outcome)

    def _done(self, outcome: Outcome) -> None:
        claim = outcome.claim
        if claim.id in self._held:
            self._held.discard(claim.id)
            self._count[(claim.tenant, claim.connection)] -= 1
        self._pending.append(outcome)
        self._freed.set()

    async def _linked_to(self, target: Target, remote_id: str) -> str | None:
        def lookup() -> str | None:
            with self.engine.connect() as connection:
                return links.linked_to(connection, target.tenant, target.name, remote_id)

        return await self._db(lookup)

    # -- guard and markers ---------------------------------------------------------------

    async def _guard(
        self, target: Target, steps: list[tuple[Work, Step]]
    ) -> list[tuple[Work, Step]]:
        planned = sum(1 for _, step in steps if step.operation in (DEACTIVATE, DELETE))
        if not planned:
            return steps
        now = self.clock()

        def check() -> str | None:
            with self.engine.connect() as connection:
                return guard.trip_reason(
                    connection, target.tenant, target.name, target.settings.guard, now, planned
                )

        reason = await self._db(check)
        if reason is None:
            return steps
        log.warning("guard.paused", tenant=target.tenant, connection=target.name, reason=reason)
        await self._db(
            pause_for_guard, self.engine, target.tenant, target.name, reason, self.id, now
        )
        return [
            (work, Step(HELD, f"held by the mass-deletion guard: {reason}"))
            if step.operation in (DEACTIVATE, DELETE)
            else (work, step)
            for work, step in steps
        ]

    def _mark_creating(self, target: Target, steps: list[tuple[Work, Step]]) -> None:
        fresh = [
            links.Link(work.claim.resource_id, None, links.CREATING, None)
            for work, step in steps
            if step.operation == CREATE and work.link is None
        ]
        mark_creating(self.engine, target.tenant, target.name, fresh, self.clock())

    # -- settlement and leases -----------------------------------------------------------

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            await self._db(settle, self.engine, self.id, batch)

    async def _settler(self, stop: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.settle_interval)
            try:
                await self._flush()
            except Exception:
                log.exception("worker.settle_failed")

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            held, until = sorted(self._held), self.clock() + self.lease
            with contextlib.suppress(Exception):
                # Its own thread slot: a renewal queued behind busy store calls could miss
                # the lease and let another worker take over a delivery still in flight.
                await anyio.to_thread.run_sync(
                    partial(self._renew, held, until), limiter=self._lease_limiter
                )

    def _renew(self, held: list[int], until: datetime) -> None:
        with writer(self.engine).begin() as connection:
            claims.extend(connection, self.id, held, until)

    async def _finish_or_release(self, grace: float) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await self._flush()
        unsettled = sorted(self._held)

        def release() -> int:
            with writer(self.engine).begin() as connection:
                return claims.release(connection, self.id, unsettled)

        released = await self._db(release)
        if released:
            log.info("worker.released", worker=self.id, events=released)


def _key(target: Target) -> tuple[str, str]:
    return (target.tenant, target.name)


async def _wait_any(stop: asyncio.Event, freed: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(freed.wait())]
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
