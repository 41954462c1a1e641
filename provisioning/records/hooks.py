"""Inbound webhook events as rows: record one (deduplicated), claim due ones, settle them.

An event is written before its sender gets the 202, so that it survives the process: a
row ``pending`` is due at ``next_at``, and whoever processes it first claims it by moving
``next_at`` a lease ahead (one conditional UPDATE: two processes never both win), so an
event a dead process had claimed is due again when its lease ends. The row is unique per
connection on (subject, job): the same hire sent twice is recorded once.

Blocking: call these in a worker thread.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gateway.store.tables import Delivery, HookEvent

events = HookEvent.__table__  # type: ignore[attr-defined]
deliveries = Delivery.__table__  # type: ignore[attr-defined]

PENDING, DONE, FAILED = "pending", "done", "failed"
#: A claimed event is due again after this, if its process died while handling it.
LEASE = timedelta(minutes=5)
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Event:
    """One recorded event, as the processor and ``scimgw hooks`` read it."""

    id: int
    tenant_id: str
    connection: str
    subject: str
    job: str
    hints: Mapping[str, Any]
    received: datetime
    status: str
    attempts: int
    next_at: datetime
    run_id: str | None = None
    message: str | None = None
    finished: datetime | None = None


def record(
    conn: sa.Connection,
    *,
    tenant: str,
    connection: str,
    subject: str,
    job: str,
    hints: Mapping[str, Any],
    now: datetime,
) -> int | None:
    """Insert a pending event, due now; its id, or None if the same event was recorded."""
    row = {
        "tenant_id": tenant,
        "connection": connection,
        "subject": subject,
        "job": job,
        "hints": dict(hints),
        "received": now,
        "status": PENDING,
        "attempts": 0,
        "next_at": now,
    }
    try:
        with conn.begin_nested():
            return int(conn.execute(sa.insert(events).returning(events.c.id), [row]).scalar_one())
    except sa.exc.IntegrityError:
        return None


def claim_due(conn: sa.Connection, now: datetime, limit: int = 10) -> list[Event]:
    """Pending events due by ``now``, oldest first, each claimed for :data:`LEASE`."""
    due = conn.execute(
        sa.select(events)
        .where(events.c.status == PENDING, events.c.next_at <= now)
        .order_by(events.c.next_at, events.c.id)
        .limit(limit)
    ).mappings()
    claimed = []
    for row in list(due):
        won = conn.execute(
            sa.update(events)
            .where(events.c.id == row["id"], events.c.next_at == row["next_at"])
            .where(events.c.status == PENDING)
            .values(next_at=now + LEASE, attempts=row["attempts"] + 1)
        )
        if won.rowcount == 1:
            claimed.append(_event({**row, "attempts": row["attempts"] + 1}))
    return claimed


def settle(
    conn: sa.Connection,
    event_id: int,
    *,
    status: str,
    now: datetime,
    run_id: str | None = None,
    message: str | None = None,
    retry_at: datetime | None = None,
    refund: bool = False,
) -> None:
    """Close an event (``done`` or ``failed``), or leave it pending until ``retry_at``;
    ``refund``: the attempt did not happen (the connection was busy), it is not counted."""
    values: dict[str, Any] = {"run_id": run_id, "message": _short(message)}
    if refund:
        values["attempts"] = events.c.attempts - 1
    if status == PENDING:
        values["next_at"] = retry_at or now
    else:
        values |= {"status": status, "finished": now}
    conn.execute(sa.update(events).where(events.c.id == event_id).values(**values))


def purge(conn: sa.Connection, before: datetime, limit: int = 1000) -> int:
    """Delete up to ``limit`` events closed (done or failed) before ``before``; how many.

    Pending events are never deleted, whatever their age: they are work still to do.
    """
    closed = (
        sa.select(events.c.id)
        .where(events.c.status.in_((DONE, FAILED)), events.c.finished < before)
        .order_by(events.c.id)
        .limit(limit)
    )
    ids = [row[0] for row in conn.execute(closed)]
    if not ids:
        return 0
    conn.execute(sa.delete(events).where(events.c.id.in_(ids)))
    return len(ids)


def recent(
    conn: sa.Connection,
    *,
    tenant: str | None = None,
    connection: str | None = None,
    status: str | None = None,
    subject: str | None = None,
    limit: int = 50,
) -> list[Event]:
    """Events newest first, filtered as asked."""
    query = sa.select(events).order_by(events.c.id.desc()).limit(limit)
    wanted = {"tenant_id": tenant, "connection": connection, "status": status, "subject": subject}
    for column, value in wanted.items():
        if value is not None:
            query = query.where(events.c[column] == value)
    return [_event(row) for row in conn.execute(query).mappings()]


def get(conn: sa.Connection, event_id: int) -> Event | None:
    row = conn.execute(sa.select(events).where(events.c.id == event_id)).mappings().first()
    return None if row is None else _event(row)


def _event(row: Any) -> Event:
    return Event(**{name: row[name] for name in Event.__dataclass_fields__})


def _short(message: str | None) -> str | None:
    return message[:MAX_MESSAGE] if message else None


@dataclass(frozen=True)
class Downstream:
    """The newest delivery of a user to one target: what became of a hire after scimgw."""

    connection: str
    operation: str
    outcome: str
    error: str | None


def downstream(conn: sa.Connection, tenant: str, user_id: str) -> list[Downstream]:
    """The newest delivery row of the user for each target connection."""
    newest = (
        sa.select(sa.func.max(deliveries.c.id))
        .where(deliveries.c.tenant_id == tenant, deliveries.c.resource_id == user_id)
        .group_by(deliveries.c.connection)
    )
    rows = conn.execute(
        sa.select(
            deliveries.c.connection,
            deliveries.c.operation,
            deliveries.c.outcome,
            deliveries.c.error,
        )
        .where(deliveries.c.id.in_(newest))
        .order_by(deliveries.c.connection)
    )
    return [Downstream(*row) for row in rows]
