"""When each connection's schedule was switched on: the time its slots count from.

The first scheduler to see a schedule enabled writes the row; the primary key keeps one
across processes, and every process reads the same time back, so all of them compute
the same slots and survive restarts. Switching the schedule off removes the row.
"""

from datetime import datetime

import sqlalchemy as sa

from gateway.store.tables import SyncSchedule

schedules = SyncSchedule.__table__  # type: ignore[attr-defined]


def activate(connection: sa.Connection, tenant: str, name: str, now: datetime) -> datetime:
    """The schedule's activation time, written as ``now`` (whole seconds) if it has none.

    Call it in a transaction of its own: a refused insert (another process won) leaves
    the transaction unusable on PostgreSQL, hence the savepoint.
    """
    found = _activated(connection, tenant, name)
    if found is not None:
        return found
    row = {"tenant_id": tenant, "connection": name, "activated": now.replace(microsecond=0)}
    try:
        with connection.begin_nested():
            connection.execute(sa.insert(schedules), [row])
    except sa.exc.IntegrityError:
        pass  # another process activated it first: its time is the one read below
    activated = _activated(connection, tenant, name)
    assert activated is not None  # written above, by this process or another
    return activated


def deactivate(connection: sa.Connection, tenant: str, name: str) -> bool:
    """Forget the activation (the schedule is off); True if there was one."""
    result = connection.execute(
        sa.delete(schedules).where(schedules.c.tenant_id == tenant, schedules.c.connection == name)
    )
    return bool(result.rowcount)


def activated_at(connection: sa.Connection, tenant: str, name: str) -> datetime | None:
    """When the connection's schedule was switched on; None if no scheduler has seen it on."""
    return _activated(connection, tenant, name)


def _activated(connection: sa.Connection, tenant: str, name: str) -> datetime | None:
    return connection.execute(
        sa.select(schedules.c.activated).where(
            schedules.c.tenant_id == tenant, schedules.c.connection == name
        )
    ).scalar()
