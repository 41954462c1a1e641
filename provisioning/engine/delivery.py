"""Delivering one claimed batch of a target: from claims to one outcome per claim.

The worker decides when to claim and when to settle; this is what happens in between.
A batch's state is read in one snapshot, each event's step is decided, the mass-deletion
guard may hold the removals, and the steps run concurrently, each call within the
connection's throttle. Groups and users take the same path (decide, then carry out); a
batch's groups go first, so members they name are linked before their users are read.
File targets instead export every due event in one run. A failure becomes a retry or a
dead letter as the retry policy says; a target that throttles the connection stops the
worker claiming for it until the time the target gave.
"""

import asyncio
from collections.abc import Callable, Container, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import structlog
from sqlalchemy.engine import Engine

from gateway.store.calls import StoreCaller
from provisioning.accounts import (
    CREATE,
    DEACTIVATE,
    DELETE,
    FAIL,
    SKIP,
    AnyWork,
    Effect,
    ExportHeld,
    Step,
    Work,
    carry_out,
    decide,
    decide_group,
    export_all,
    load_group_work,
    load_work,
    takes_groups,
)
from provisioning.engine.ledger import (
    DEAD,
    DELIVERED,
    HELD,
    RETRY,
    SKIPPED,
    Outcome,
    mark_creating,
    pause_for_guard,
)
from provisioning.engine.retry import DeadLetter, Retry, RetryPolicy
from provisioning.errors import DeliveryError, RateLimited
from provisioning.records import Claim, guard, links
from provisioning.targets import Target

log = structlog.get_logger("scimgw.worker")
_EPOCH = datetime.min.replace(tzinfo=UTC)


class Deliverer:
    """Turns claimed batches into outcomes, handing each to ``done`` as it is known.

    Every claim of a batch gets exactly one outcome, unless it was no longer in ``held``
    when the batch failed as a whole (its outcome was already given).

    Args:
        engine: the store.
        db: how store functions are called.
        worker_id: the worker, named when the guard pauses a connection.
        policy: decides between retry and dead letter for failures.
        clock: the time now.
        held: ids of the claims whose outcome is not yet known (read only).
        done: receives every outcome; called on the event loop, must not block.
    """

    def __init__(
        self,
        engine: Engine,
        db: StoreCaller,
        *,
        worker_id: str,
        policy: RetryPolicy,
        clock: Callable[[], datetime],
        held: Container[int],
        done: Callable[[Outcome], None],
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.policy = policy
        self.clock = clock
        self._db = db
        self._held = held
        self._done = done
        self._not_before: dict[tuple[str, str], datetime] = {}

    def throttled(self, target: Target, now: datetime) -> bool:
        """True while ``target`` has asked (429, Retry-After) to be left alone."""
        return now < self._not_before.get((target.tenant, target.name), _EPOCH)

    async def deliver(self, target: Target, batch: list[Claim]) -> None:
        """Deliver a batch claimed for ``target``; never raises (failures are outcomes)."""
        try:
            if target.exports:
                await self._export(target, batch)
                return
            if takes_groups(target):
                groups = [c for c in batch if c.resource_type == "Group"]
                batch = [c for c in batch if c.resource_type != "Group"]
                group_works = await self._db(load_group_work, self.engine, target, groups)
                group_steps = [(work, decide_group(work, target)) for work in group_works]
                await self._run(target, "Group", group_steps)
            steps, marked = await self._db(self._prepare, target, batch)
            if not marked:
                steps = await self._guard(target, steps)
                await self._run(target, "User", steps)
            else:
                await self._carry_out(target, steps)
        except Exception as exc:  # a bug or the store failing: retry the batch later
            log.exception("worker.batch_failed", connection=target.name)
            for claim in batch:
                if claim.id in self._held:
                    self._fail(target, claim, claim.id, "batch", exc)

    def _prepare(self, target: Target, batch: list[Claim]) -> tuple[list[tuple[Work, Step]], bool]:
        """Load and decide a batch of users, and, when the guard has nothing to weigh (no
        deprovision planned), mark their creations too: one store call instead of two (on
        PostgreSQL each is a thread hop, a pooled connection and a transaction). True
        when marked; otherwise the guard is asked first, as before."""
        works = load_work(self.engine, target, batch)
        steps = [(work, decide(work, target)) for work in works]
        if any(step.operation in (DEACTIVATE, DELETE) for _, step in steps):
            return steps, False
        self._mark_creating(target, "User", _new(steps))
        return steps, True

    async def _run(
        self, target: Target, resource_type: str, steps: Sequence[tuple[AnyWork, Step]]
    ) -> None:
        """Mark the resources about to be created, then carry out every step at once."""
        await self._db(self._mark_creating, target, resource_type, _new(steps))
        await self._carry_out(target, steps)

    async def _carry_out(self, target: Target, steps: Sequence[tuple[AnyWork, Step]]) -> None:
        await asyncio.gather(*(self._deliver_one(target, work, step) for work, step in steps))

    async def _deliver_one(self, target: Target, work: AnyWork, step: Step) -> None:
        claim = work.claim
        if step.operation in (SKIP, FAIL, HELD):
            result = {SKIP: SKIPPED, FAIL: DEAD, HELD: HELD}[step.operation]
            self._done(
                Outcome(claim, step.operation, result, self.clock(), work.upto, error=step.reason)
            )
            return
        try:
            effect = await carry_out(work, step, target, partial(self._linked_to, target))
        except Exception as exc:
            self._fail(target, claim, work.upto, step.operation, exc)
            return
        self._done(self._delivered(claim, step.operation, work.upto, effect))

    def _delivered(self, claim: Claim, operation: str, upto: int, effect: Effect) -> Outcome:
        return Outcome(
            claim,
            operation,
            DELIVERED,
            self.clock(),
            upto,
            link=effect.link,
            remote_id=effect.remote_id,
            latency_ms=effect.latency_ms,
            http_status=effect.http_status,
            audit=effect.audit,
            reports_follow=effect.reports_follow,
        )

    async def _export(self, target: Target, batch: list[Claim]) -> None:
        try:
            name = await export_all(self.engine, target, batch, self._db)
        except ExportHeld as held:
            now, reason = self.clock(), str(held)
            await self._pause(target, reason, now)
            for claim in batch:
                self._done(Outcome(claim, "export", HELD, now, claim.id, error=f"held: {reason}"))
            return
        except Exception as exc:
            for claim in batch:
                self._fail(target, claim, claim.id, "export", exc)
            return
        now = self.clock()
        for claim in batch:
            self._done(Outcome(claim, "export", DELIVERED, now, claim.id, remote_id=name))

    def _fail(
        self, target: Target, claim: Claim, upto: int, operation: str, exc: BaseException
    ) -> None:
        now = self.clock()
        limit = target.settings.max_attempts
        decision = replace(self.policy, max_attempts=limit).decide(exc, claim.attempts, now)
        status = exc.status if isinstance(exc, DeliveryError) else None
        if isinstance(exc, RateLimited) and isinstance(decision, Retry):
            # The target throttles the connection, not one event: claim nothing until then.
            key = (target.tenant, target.name)
            self._not_before[key] = max(self._not_before.get(key, now), decision.due_at)
        if not isinstance(exc, DeliveryError):
            log.error(
                "worker.unexpected_error",
                connection=target.name,
                event_id=claim.id,  # "event" is structlog's own: that call raised TypeError
                error=type(exc).__name__,
            )
        if isinstance(decision, DeadLetter):
            outcome = Outcome(
                claim, operation, DEAD, now, http_status=status, error=decision.reason, cause=exc
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
                cause=exc,
            )
        self._done(outcome)

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
        await self._pause(target, reason, now)
        return [
            (work, Step(HELD, f"held by the mass-deletion guard: {reason}"))
            if step.operation in (DEACTIVATE, DELETE)
            else (work, step)
            for work, step in steps
        ]

    async def _pause(self, target: Target, reason: str, now: datetime) -> None:
        log.warning("guard.paused", tenant=target.tenant, connection=target.name, reason=reason)
        await self._db(
            pause_for_guard, self.engine, target.tenant, target.name, reason, self.worker_id, now
        )

    def _mark_creating(self, target: Target, resource_type: str, ids: list[str]) -> None:
        """A ``creating`` link for each resource about to be created: a retry after a lost
        answer then links what it finds instead of creating it twice (execution._adopt)."""
        fresh = [links.Link(resource_id, None, links.CREATING, None) for resource_id in ids]
        mark_creating(self.engine, target.tenant, target.name, fresh, self.clock(), resource_type)


def _new(steps: Sequence[tuple[AnyWork, Step]]) -> list[str]:
    """The resources a batch is about to create in the target (no link yet)."""
    return [
        work.claim.resource_id
        for work, step in steps
        if step.operation == CREATE and work.link is None
    ]
