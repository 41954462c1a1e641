"""Claiming outbox rows for delivery, and settling them afterwards.

A row is *due* when it is pending and its time has come, or when the worker that claimed
it let its lease expire (it was killed). A row is only claimable when no earlier row of the
same (tenant, connection, resource) is still pending or in flight: events of one resource
reach a target in commit order and are never in flight twice. On PostgreSQL the pick runs
``FOR UPDATE SKIP LOCKED``, so any number of workers can claim at once; SQLite has one
writer at a time and one worker (ARCHITECTURE.md, "Processes").

Each function runs on the connection of a transaction its caller owns.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa

from gateway.store.tables import OutboxEvent

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]

PENDING, INFLIGHT, DONE, DEAD, HELD, DISCARDED = (
    "pending",
    "inflight",
    "done",
    "dead",
    "held",
    "discarded",
)
#: States that keep later events of the same resource waiting (commit order).
_BLOCKING = (PENDING, INFLIGHT)
#: The priority of initial loads and backfills (gateway.store.outbox: 0 to 2 are live).
LOADS = 3


@dataclass(frozen=True)
class Claim:
    """An outbox row this worker holds until ``claimed_until``."""

    id: int
    tenant: str
    connection: str
    resource_type: str
    resource_id: str
    action: str
    version: int
    priority: int
    attempts: int


def claim(
    connection: sa.Connection,
    *,
    tenant: str,
    target: str,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[Claim]:
    """Take up to ``limit`` due rows of one connection, leaving ones other workers hold.

    Abandoned claims (expired leases) are taken first, then pending rows by priority.
    """
    skip_locked = connection.dialect.name == "postgresql"
    taken: list[Claim] = []
    for status in (INFLIGHT, PENDING):
        if len(taken) < limit:
            values = {
                "tenant": tenant,
                "target": target,
                "now": now,
                "limit": limit - len(taken),
                "worker": worker,
                "until": now + lease,
            }
            rows = connection.execute(_take(status, skip_locked), values)
            taken += [Claim(*row) for row in rows]
    return sorted(taken, key=lambda c: (c.priority, c.id))


@cache
def _take(status: str, skip_locked: bool) -> sa.Update:
    """The claiming statement, built once: building it took a third of the worker's time."""
    picked = _pick(status, skip_locked)
    return (
        sa.update(outbox)
        .where(outbox.c.id.in_(sa.select(picked.c.id)))
        .values(
            status=INFLIGHT,
            claimed_by=sa.bindparam("worker"),
            claimed_until=sa.bindparam("until"),
            attempts=outbox.c.attempts + 1,
        )
        .returning(
            outbox.c.id,
            outbox.c.tenant_id,
            outbox.c.connection,
            outbox.c.resource_type,
            outbox.c.resource_id,
            outbox.c.action,
            outbox.c.version,
            outbox.c.priority,
            outbox.c.attempts,
        )
    )


def _pick(status: str, skip_locked: bool) -> sa.CTE:
    # Walks ix_outbox_claim in (priority, id) order and stops at ``limit``: the cost does
    # not grow with the backlog (a 100,000-user initial load waits in the same table).
    # Abandoned claims are due when their lease ends, pending rows at their due time.
    row, earlier = outbox.alias("row"), outbox.alias("earlier")
    due = row.c.claimed_until if status == INFLIGHT else row.c.due_at
    # A live event does not wait behind a pending load of its resource (a backfill's event,
    # LOADS): it is delivered first, and the load, which reads the state as it is when
    # delivered, waits instead until no live event of its resource is pending or in flight.
    # Either way, one event of a resource is in flight at a time.
    waits_behind = _waits_behind(row, earlier) if skip_locked else _earlier_blocks(row, earlier)
    later = outbox.alias("later")
    load_waits_for_live = sa.and_(
        row.c.priority == LOADS,
        sa.exists().where(
            later.c.tenant_id == row.c.tenant_id,
            later.c.connection == row.c.connection,
            later.c.resource_id == row.c.resource_id,
            later.c.id > row.c.id,
            later.c.priority < LOADS,
            later.c.status.in_(_BLOCKING),
        ),
    )
    query = (
        sa.select(row.c.id)
        .where(
            row.c.tenant_id == sa.bindparam("tenant"),
            row.c.connection == sa.bindparam("target"),
            row.c.status == status,
            due <= sa.bindparam("now"),
            ~waits_behind,
            ~load_waits_for_live,
        )
        .order_by(row.c.priority, row.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=row)
        # Materialised: the pick runs once, so its LIMIT and locks hold for the update.
        return query.cte("picked").prefix_with("MATERIALIZED")
    return query.cte("picked")


def _holds_back(row: Any, earlier: Any) -> sa.ColumnElement[bool]:
    """Whether ``earlier``, an event of the row's resource, holds the row back: it is in
    flight, or pending and live (a pending load holds back only another load)."""
    return sa.and_(
        earlier.c.tenant_id == row.c.tenant_id,
        earlier.c.connection == row.c.connection,
        earlier.c.resource_id == row.c.resource_id,
        sa.or_(
            earlier.c.status == INFLIGHT,
            sa.and_(
                earlier.c.status == PENDING,
                sa.or_(earlier.c.priority < LOADS, row.c.priority == LOADS),
            ),
        ),
    )


def _earlier_blocks(row: Any, earlier: Any) -> sa.ColumnElement[bool]:
    """Whether an earlier event of the row's resource holds it back (SQLite)."""
    return sa.exists().where(earlier.c.id < row.c.id, _holds_back(row, earlier))


def _waits_behind(row: Any, earlier: Any) -> sa.ColumnElement[bool]:
    """The same on PostgreSQL: the row is not the first event of its resource that holds it
    back, read as the first such row of that resource in ix_outbox_resource's order.

    Asked as NOT EXISTS, the planner, misled by statistics taken before a burst of new
    events (a near-empty table), picked ix_outbox_claim for the test, whose range is
    every event of the connection, for each candidate: 50-650 ms per claim at 3,000
    events, a worker bounded to 150 events/s (docs/benchmarks.md, "Delivery yardstick").
    Ordered as ix_outbox_resource is, with LIMIT 1, no other index can answer as cheaply
    whatever the statistics say.
    """
    # The row holds itself back by that test (it is pending or in flight, and live or a
    # load), so the first such event is the row itself unless an earlier one holds it.
    first = (
        sa.select(earlier.c.id)
        .where(_holds_back(row, earlier))
        .order_by(earlier.c.tenant_id, earlier.c.connection, earlier.c.resource_id, earlier.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return first != row.c.id


def latest_events(
    connection: sa.Connection, tenant: str, target: str, resource_ids: list[str]
) -> dict[str, int]:
    """The newest event id of each resource: the state loaded after it covers all up to
    that one, so they are settled together."""
    values = {"tenant": tenant, "target": target, "ids": resource_ids}
    return {
        resource_id: int(newest)
        for resource_id, newest in connection.execute(_latest_events(), values)
    }


@cache
def _latest_events() -> sa.Select[Any]:
    return (
        sa.select(outbox.c.resource_id, sa.func.max(outbox.c.id))
        .where(
            outbox.c.tenant_id == sa.bindparam("tenant"),
            outbox.c.connection == sa.bindparam("target"),
            outbox.c.resource_id.in_(sa.bindparam("ids", expanding=True)),
        )
        .group_by(outbox.c.resource_id)
    )


def finish_all(connection: sa.Connection, done: list[tuple[Claim, int]], now: datetime) -> None:
    """Mark claims done, and the later pending events their deliveries already covered."""
    if not done:
        return
    connection.execute(
        sa.update(outbox)
        .where(outbox.c.id.in_([claim.id for claim, _ in done]))
        .values(status=DONE, finished=now, claimed_by=None, claimed_until=None, last_error=None)
    )
    for claim, upto in done:
        if upto > claim.id:
            _cover(connection, claim, upto, now)


def _cover(connection: sa.Connection, claim: Claim, upto: int, now: datetime) -> None:
    connection.execute(
        sa.update(outbox)
        .where(
            outbox.c.tenant_id == claim.tenant,
            outbox.c.connection == claim.connection,
            outbox.c.resource_id == claim.resource_id,
            outbox.c.status == PENDING,
            outbox.c.id > claim.id,
            outbox.c.id <= upto,
        )
        .values(status=DONE, finished=now)
    )


def reschedule(
    connection: sa.Connection, claim: Claim, due_at: datetime, error: str, *, charged: bool = True
) -> None:
    """Put the claim back to wait until ``due_at``; an attempt not ``charged`` is given back
    (it failed while the connection's circuit breaker was open)."""
    values: dict[str, object] = {"status": PENDING, "due_at": due_at, "last_error": error[:600]}
    if not charged:
        values["attempts"] = outbox.c.attempts - 1
    _settle(connection, claim, **values)


def bury(connection: sa.Connection, claim: Claim, error: str, now: datetime) -> None:
    """Dead-letter the claim: it waits for an admin's ``scimgw replay``."""
    _settle(connection, claim, status=DEAD, last_error=error[:600], finished=now)


def hold(connection: sa.Connection, claim: Claim, reason: str) -> None:
    """Park the claim while its connection is paused by the mass-deletion guard."""
    _settle(connection, claim, status=HELD, last_error=reason[:600])


def _settle(connection: sa.Connection, claim: Claim, **values: object) -> None:
    connection.execute(
        sa.update(outbox)
        .where(outbox.c.id == claim.id)
        .values(claimed_by=None, claimed_until=None, **values)
    )


def release(connection: sa.Connection, worker: str, ids: list[int]) -> int:
    """Give back claims a stopping worker did not start, without using up an attempt."""
    if not ids:
        return 0
    result = connection.execute(
        sa.update(outbox)
        .where(outbox.c.id.in_(ids), outbox.c.claimed_by == worker, outbox.c.status == INFLIGHT)
        .values(status=PENDING, claimed_by=None, claimed_until=None, attempts=outbox.c.attempts - 1)
    )
    return result.rowcount or 0


def requeue(
    connection: sa.Connection,
    *,
    status: str,
    now: datetime,
    tenant: str | None = None,
    target: str | None = None,
    event_id: int | None = None,
) -> list[int]:
    """Make dead (or held) rows pending again, due now, with a fresh attempt budget."""
    conditions = [outbox.c.status == status]
    if tenant is not None:
        conditions.append(outbox.c.tenant_id == tenant)
    if target is not None:
        conditions.append(outbox.c.connection == target)
    if event_id is not None:
        conditions.append(outbox.c.id == event_id)
    statement = (
        sa.update(outbox)
        .where(*conditions)
        .values(status=PENDING, due_at=now, attempts=0, finished=None)
        .returning(outbox.c.id)
    )
    return sorted(connection.execute(statement).scalars())


def discard_held(connection: sa.Connection, tenant: str, target: str, now: datetime) -> int:
    """Drop the deprovisions a guard held, when an admin says they were a mistake."""
    result = connection.execute(
        sa.update(outbox)
        .where(outbox.c.tenant_id == tenant, outbox.c.connection == target, outbox.c.status == HELD)
        .values(status=DISCARDED, finished=now)
    )
    return result.rowcount or 0


def extend(connection: sa.Connection, worker: str, ids: list[int], until: datetime) -> None:
    """Renew the lease of claims still being worked on (a throttled call may wait long)."""
    if ids:
        connection.execute(
            sa.update(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.claimed_by == worker, outbox.c.status == INFLIGHT)
            .values(claimed_until=until)
        )
