"""A target run: apply what ``scimgw plan`` shows, as load events in the ``loads`` lane.

The initial load of a new connection and the repair of drift found by a full comparison
are the same run: every user of the tenant goes through :func:`~provisioning.accounts.plan.steps`
(the computation ``scimgw plan`` prints), and each one that needs a create, update,
reactivation, deactivation or deletion gets one outbox event at priority 3 (``loads``).
The worker claims by priority, so live changes (0 to 2) overtake the backfill, which then
drains at the connection's rate limit.

The run ends when its events are enqueued: its row counts what was enqueued, and the
deliveries' outcomes show in ``scimgw status`` and ``scimgw deliveries``. A dry run is the
plan itself (with the creations looked up in the target) and writes nothing, not even its
run row.
"""

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig
from gateway.store.database import writer
from gateway.store.outbox import Action
from gateway.store.tables import OutboxEvent
from provisioning.accounts.decisions import (
    CREATE,
    DEACTIVATE,
    DELETE,
    EXPORT,
    FAIL,
    REACTIVATE,
    SKIP,
    UPDATE,
    Step,
    Work,
)
from provisioning.accounts.plan import PlanLine, plan, steps
from provisioning.records import claims, runs
from provisioning.targets import Target, build_targets

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]

#: The lane of initial loads and backfills (gateway.store.outbox.PRIORITY has 0 to 2).
LOADS = claims.LOADS
#: Events written per transaction: short enough not to hold SQLite's writer for long.
BATCH = 200

#: Each operation of the plan: the counter it adds to, and the outbox action it enqueues
#: (None: nothing to send). A "link" (adopting an existing account) is a creation that
#: the delivery's own lookup turns into a link.
OPERATIONS: dict[str, tuple[str, Action | None]] = {
    CREATE: ("created", Action.CREATED),
    "link": ("created", Action.CREATED),
    UPDATE: ("updated", Action.UPDATED),
    REACTIVATE: ("reactivated", Action.UPDATED),
    DEACTIVATE: ("deactivated", Action.DEACTIVATED),
    DELETE: ("deactivated", Action.DELETED),
    SKIP: ("unchanged", None),
    EXPORT: ("unchanged", None),
    FAIL: ("failed", None),
    "conflict": ("failed", None),
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Tally:
    """What a run counted, the failures it keeps, and the diff lines of a dry run."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.counts: Counter[str] = Counter()
        self.failures: list[runs.Failure] = []
        self.changes: list[str] = []
        self.enqueued = 0

    @property
    def read(self) -> int:
        return self.counts["read"]

    def add(self, work: Work, step: Step) -> Action | None:
        """Count one user's step; return the event to enqueue for it, if any."""
        counter, action = OPERATIONS.get(step.operation, ("failed", None))
        if step.operation == SKIP and work.doc is not None and not work.in_scope:
            counter = "skipped"
        self.counts["read"] += 1
        self.counts[counter] += 1
        person = _person(work)
        if counter == "failed" and len(self.failures) < runs.MAX_FAILURES:
            self.failures.append(runs.Failure(person, step.reason))
        if action is not None and len(self.changes) < runs.MAX_FAILURES:
            self.changes.append(_change(person, step, work))
        return action

    def add_line(self, line: PlanLine) -> None:
        """Count one line of a file target's plan: every user is in the next file."""
        counter, _ = OPERATIONS.get(line.operation, ("failed", None))
        self.counts["read"] += 1
        self.counts[counter] += 1
        person = f"{line.resource_id} {line.user_name}".strip()
        if counter == "failed" and len(self.failures) < runs.MAX_FAILURES:
            self.failures.append(runs.Failure(person, line.reason))

    def summary(self) -> str:
        parts = [f"enqueued {self.enqueued} load events"]
        queued = sum(self.counts[c] for c in ("created", "updated", "reactivated", "deactivated"))
        if queued > self.enqueued:
            parts.append(f"{queued - self.enqueued} already waiting in the outbox")
        parts.append("deliveries follow in the loads lane (scimgw status)")
        return "; ".join(parts)


class TargetRunner:
    """Runs target connections: backfill and drift repair (a :class:`~runs.SyncRunner`).

    Args:
        engine: the store.
        config: the gateway's configuration (the connection's settings).
        http: a client whose transport the connection's own client reuses (tests reach a
            contract fake this way); the connection still builds its client with its auth
            and rate limit.
        clock: the time runs are stamped with.
    """

    def __init__(
        self,
        engine: Engine,
        config: GatewayConfig,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.config = config
        self.transport = getattr(http, "_transport", None) if http is not None else None
        self.clock = clock

    async def __call__(
        self, request: runs.RunRequest, progress: runs.Progress | None = None
    ) -> runs.RunOutcome:
        """Plan the connection and enqueue its steps; a dry run returns the plan only.

        Raises:
            runs.RunInProgress: the connection is running.
            runs.SlotTaken: another process fired this scheduled run.
            ValueError: no enabled target connection of that name in the tenant.
        """
        target = self._target(request)
        try:
            if request.dry_run:
                return await self._preview(target, progress)
            return await self._run(target, request, progress)
        finally:
            await target.aclose()

    def _target(self, request: runs.RunRequest) -> Target:
        found = [
            t
            for t in build_targets(
                self.config,
                self.engine.dialect.name,
                transport=self.transport,
                only=request.connection,
            )
            if t.tenant == request.tenant
        ]
        if not found:
            raise ValueError(
                f"no enabled target connection {request.connection!r} in tenant {request.tenant!r}"
            )
        return found[0]

    async def _preview(self, target: Target, progress: runs.Progress | None) -> runs.RunOutcome:
        tally = _Tally(target)
        if target.exports:
            for line in await plan(self.engine, target):
                tally.add_line(line)
        else:
            total = await self._population(target, progress)
            async for work, step in steps(self.engine, target, lookup=True):
                tally.add(work, step)
                _report(progress, tally.read, total)
        return runs.RunOutcome(
            None,
            "failed" if tally.failures else "succeeded",
            dict(tally.counts),
            tuple(tally.failures),
            tuple(tally.changes),
            "dry run: nothing written",
        )

    async def _run(
        self, target: Target, request: runs.RunRequest, progress: runs.Progress | None
    ) -> runs.RunOutcome:
        run_id = await asyncio.to_thread(self._start, target, request)
        tally = _Tally(target)
        try:
            await self._enqueue_all(target, tally, progress)
        except asyncio.CancelledError:
            # The process is stopping: close the row, else the connection stays "running".
            self._finish(run_id, "failed", tally, f"interrupted after {tally.enqueued} events")
            raise
        except Exception as exc:  # recorded on the run and returned, as the contract says
            message = f"stopped after {tally.enqueued} events: {type(exc).__name__}: {exc}"
            await asyncio.to_thread(self._finish, run_id, "failed", tally, message)
            return runs.RunOutcome(
                run_id, "failed", dict(tally.counts), tuple(tally.failures), (), message
            )
        status = "failed" if tally.failures else "succeeded"
        message = tally.summary()
        await asyncio.to_thread(self._finish, run_id, status, tally, message)
        # A plain dict: dataclasses.asdict rebuilds a Counter from its items as keys.
        counts = dict(tally.counts)
        return runs.RunOutcome(run_id, status, counts, tuple(tally.failures), (), message)

    async def _enqueue_all(
        self, target: Target, tally: _Tally, progress: runs.Progress | None
    ) -> None:
        if target.exports:
            await self._enqueue_export(target, tally)
            return
        batch: list[tuple[str, Action]] = []
        total = await self._population(target, progress)
        async for work, step in steps(self.engine, target, lookup=False):
            action = tally.add(work, step)
            if action is not None:
                batch.append((work.claim.resource_id, action))
            if len(batch) >= BATCH:
                tally.enqueued += await asyncio.to_thread(self._enqueue, target, batch)
                batch = []
            _report(progress, tally.read, total)
        if batch:
            tally.enqueued += await asyncio.to_thread(self._enqueue, target, batch)

    async def _enqueue_export(self, target: Target, tally: _Tally) -> None:
        """A file target takes every in-scope user in each file (accounts.exports): one
        event writes the next file, whichever user it names."""
        lines = await plan(self.engine, target, lookup=False)
        for line in lines:
            tally.add_line(line)
        first = next((line.resource_id for line in lines if line.operation == EXPORT), None)
        if first is not None and not tally.failures:
            batch = [(first, Action.UPDATED)]
            tally.enqueued += await asyncio.to_thread(self._enqueue, target, batch)

    async def _population(self, target: Target, progress: runs.Progress | None) -> int | None:
        """The tenant's users, the total a progress bar shows (orphans come on top)."""
        if progress is None:
            return None
        table = target.kind.table
        query = sa.select(sa.func.count()).where(table.c.tenant_id == target.tenant)

        def count() -> int:
            with self.engine.connect() as connection:
                return int(connection.execute(query).scalar_one())

        return await asyncio.to_thread(count)

    def _start(self, target: Target, request: runs.RunRequest) -> str:
        return runs.open_run(
            self.engine,
            tenant=target.tenant,
            name=target.name,
            direction="target",
            trigger=request.trigger,
            now=self.clock(),
            slot=request.slot,
        )

    def _finish(self, run_id: str, status: str, tally: _Tally, message: str) -> None:
        runs.close_run(
            self.engine,
            run_id,
            status=status,
            counts=tally.counts,
            now=self.clock(),
            failed=tally.failures,
            message=message,
        )

    def _enqueue(self, target: Target, batch: list[tuple[str, Action]]) -> int:
        """One load event per resource not already waiting: a live or earlier load event
        still pending delivers the current state anyway, so a second one would repeat it."""
        ids = [resource_id for resource_id, _ in batch]
        now = self.clock()
        with writer(self.engine).begin() as connection:
            waiting = _waiting(connection, target, ids)
            versions = _versions(connection, target, ids)
            rows = [
                _event(target, resource_id, action, versions, now)
                for resource_id, action in batch
                if resource_id not in waiting
            ]
            if rows:
                connection.execute(sa.insert(outbox), rows)
        return len(rows)


def _person(work: Work) -> str:
    """Who, by identifier only: the SCIM id and the userName (never other attributes)."""
    user_name = (work.doc or {}).get("userName")
    return f"{work.claim.resource_id} {user_name}" if user_name else work.claim.resource_id


def _change(person: str, step: Step, work: Work) -> str:
    """A dry run's diff line: the operation, who, why; for an update, the fields sent."""
    line = f"{step.operation} {person}: {step.reason}"
    if step.operation in (UPDATE, REACTIVATE) and step.payload:
        line += f" (fields: {', '.join(sorted(step.payload)[:20])})"
    return line


def _report(progress: runs.Progress | None, done: int, total: int | None) -> None:
    if progress is not None:
        progress(done, None if total is None else max(done, total))


def _waiting(connection: sa.Connection, target: Target, ids: Iterable[str]) -> set[str]:
    query = sa.select(outbox.c.resource_id).where(
        outbox.c.tenant_id == target.tenant,
        outbox.c.connection == target.name,
        outbox.c.resource_id.in_(list(ids)),
        outbox.c.status.in_(("pending", "inflight")),
    )
    return set(connection.execute(query).scalars())


def _versions(connection: sa.Connection, target: Target, ids: list[str]) -> dict[str, int]:
    table = target.kind.table
    query = sa.select(table.c.id, table.c.version).where(
        table.c.tenant_id == target.tenant, table.c.id.in_(ids)
    )
    return {resource_id: int(version) for resource_id, version in connection.execute(query)}


def _event(
    target: Target, resource_id: str, action: Action, versions: dict[str, int], now: datetime
) -> dict[str, object]:
    return {
        "tenant_id": target.tenant,
        "connection": target.name,
        "resource_type": "User",
        "resource_id": resource_id,
        "action": action.value,
        # An orphan (its user is gone) has no version left: 0.
        "version": versions.get(resource_id, 0),
        "priority": LOADS,
        "status": "pending",
        "attempts": 0,
        "due_at": now,
        "created": now,
    }
