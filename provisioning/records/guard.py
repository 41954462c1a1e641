"""The mass-deletion guard: a connection pauses instead of deprovisioning too many at once.

A wrong scope filter or a broken HR export can make every user look like a leaver. If the
deprovisions of one window would exceed the connection's ``guard.max_count``, or its
``guard.max_share`` of the accounts it manages, the connection pauses, the event is held,
and an alert is raised; an admin confirms (the deprovisions go out) or discards them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from gateway.config import DeletionGuard
from gateway.store.tables import ConnectionState, Delivery
from provisioning.records import links

states = ConnectionState.__table__  # type: ignore[attr-defined]
deliveries = Delivery.__table__  # type: ignore[attr-defined]

DEPROVISIONS = ("deactivate", "delete")


@dataclass(frozen=True)
class State:
    paused: bool
    reason: str | None
    confirmed_until: datetime | None
    exported_active: int | None = None


def state(connection: sa.Connection, tenant: str, target: str) -> State:
    row = connection.execute(
        sa.select(
            states.c.paused, states.c.reason, states.c.confirmed_until, states.c.exported_active
        ).where(states.c.tenant_id == tenant, states.c.connection == target)
    ).first()
    return State(*row) if row else State(False, None, None)


def export_trip_reason(
    connection: sa.Connection,
    tenant: str,
    target: str,
    rules: DeletionGuard,
    now: datetime,
    active_now: int,
) -> str | None:
    """Why a full export with ``active_now`` people would take access from too many at once.

    A file target deprovisions by omission: a wrong scope or an empty HR feed would upload
    a file that suspends everyone, so the drop since the last export is held to the same
    rules as per-user deprovisions.
    """
    current = state(connection, tenant, target)
    before = current.exported_active
    if before is None or active_now >= before:
        return None
    if current.confirmed_until is not None and now < _aware(current.confirmed_until, now):
        return None
    dropped = before - active_now
    if dropped > rules.max_count:
        return (
            f"this export drops {dropped} of {before} people, above the limit of {rules.max_count}"
        )
    if before >= rules.min_linked and dropped / before > rules.max_share:
        return (
            f"this export drops {dropped} of {before} people ({dropped / before:.0%}), "
            f"above the limit of {rules.max_share:.0%}"
        )
    return None


def remember_export(connection: sa.Connection, tenant: str, target: str, active: int) -> None:
    _upsert(connection, tenant, target, exported_active=active)


def trip_reason(
    connection: sa.Connection,
    tenant: str,
    target: str,
    rules: DeletionGuard,
    now: datetime,
    planned_now: int = 1,
) -> str | None:
    """Why ``planned_now`` more deprovisions would exceed the guard, or None if they may go."""
    current = state(connection, tenant, target)
    if current.confirmed_until is not None and now < _aware(current.confirmed_until, now):
        return None
    recent = _recent_deprovisions(
        connection, tenant, target, now - timedelta(seconds=rules.window_seconds)
    )
    active = links.count_linked(connection, tenant, target)
    planned = recent + planned_now
    window = _window(rules.window_seconds)
    if planned > rules.max_count:
        return f"{planned} deprovisions within {window} exceed the limit of {rules.max_count}"
    managed = active + recent
    if managed >= rules.min_linked and planned / managed > rules.max_share:
        return (
            f"{planned} deprovisions within {window} are {planned / managed:.0%} of "
            f"{managed} managed accounts, above the limit of {rules.max_share:.0%}"
        )
    return None


def _recent_deprovisions(
    connection: sa.Connection, tenant: str, target: str, since: datetime
) -> int:
    query = sa.select(sa.func.count()).where(
        deliveries.c.tenant_id == tenant,
        deliveries.c.connection == target,
        deliveries.c.resource_type == "User",  # people lose access; a group is no one
        deliveries.c.operation.in_(DEPROVISIONS),
        deliveries.c.outcome == "delivered",
        deliveries.c.at >= since,
    )
    return int(connection.execute(query).scalar_one())


def pause(connection: sa.Connection, tenant: str, target: str, reason: str, now: datetime) -> None:
    _upsert(connection, tenant, target, paused=True, reason=reason, paused_at=now)


def confirm(
    connection: sa.Connection, tenant: str, target: str, rules: DeletionGuard, now: datetime
) -> None:
    """Let deprovisions through for one window, and resume the connection."""
    until = now + timedelta(seconds=rules.window_seconds)
    _upsert(connection, tenant, target, paused=False, reason=None, confirmed_until=until)


def resume(connection: sa.Connection, tenant: str, target: str) -> None:
    _upsert(connection, tenant, target, paused=False, reason=None)


def _upsert(connection: sa.Connection, tenant: str, target: str, **values: object) -> None:
    key = (states.c.tenant_id == tenant, states.c.connection == target)
    if not connection.execute(sa.update(states).where(*key).values(**values)).rowcount:
        connection.execute(sa.insert(states).values(tenant_id=tenant, connection=target, **values))


def _window(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"


def _aware(value: datetime, like: datetime) -> datetime:
    # SQLite hands back naive datetimes; the store writes UTC.
    return value.replace(tzinfo=like.tzinfo) if value.tzinfo is None else value
