"""Failed deliveries as ``scimgw deliveries`` lists them: newest first, with their reasons.

Each row is one failed attempt (it will be retried) or a dead letter, with the event id
that ``scimgw replay --event`` takes. ``dead_only`` keeps the events that are dead letters
*now*: one replayed and delivered since is no longer listed, so every id shown replays.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gateway.store.folding import fold
from gateway.store.tables import Delivery, OutboxEvent, UserRow

deliveries = Delivery.__table__  # type: ignore[attr-defined]
outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
users = UserRow.__table__  # type: ignore[attr-defined]

RETRY, DEAD = "retry", "dead"


@dataclass(frozen=True)
class Failure:
    at: datetime
    tenant: str
    connection: str
    event_id: int
    resource_type: str
    resource_id: str
    #: The user's userName as stored now, case-folded (None for groups, deleted users).
    user_name: str | None
    operation: str
    attempt: int
    outcome: str
    http_status: int | None
    reason: str | None


def failures(
    connection: sa.Connection,
    *,
    dead_only: bool = False,
    tenant: str | None = None,
    target: str | None = None,
    user: str | None = None,
    limit: int = 50,
) -> list[Failure]:
    """The newest failed attempts (or current dead letters) matching the filters.

    Args:
        user: a SCIM resource id, or a userName (compared case-insensitively).
    """
    query = _query().where(*_conditions(dead_only, tenant, target, user))
    rows = connection.execute(query.order_by(deliveries.c.id.desc()).limit(limit))
    return [Failure(*row) for row in rows]


def _query() -> sa.Select[Any]:
    owner = sa.and_(
        users.c.tenant_id == deliveries.c.tenant_id, users.c.id == deliveries.c.resource_id
    )
    return sa.select(
        deliveries.c.at,
        deliveries.c.tenant_id,
        deliveries.c.connection,
        deliveries.c.event_id,
        deliveries.c.resource_type,
        deliveries.c.resource_id,
        users.c.user_name_key,
        deliveries.c.operation,
        deliveries.c.attempt,
        deliveries.c.outcome,
        deliveries.c.http_status,
        deliveries.c.error,
    ).select_from(deliveries.outerjoin(users, owner))


def _conditions(
    dead_only: bool, tenant: str | None, target: str | None, user: str | None
) -> list[sa.ColumnElement[bool]]:
    found = [deliveries.c.outcome.in_((DEAD,) if dead_only else (RETRY, DEAD))]
    if dead_only:
        still_dead = sa.select(outbox.c.id).where(
            outbox.c.id == deliveries.c.event_id, outbox.c.status == DEAD
        )
        found.append(still_dead.exists())
    if tenant:
        found.append(deliveries.c.tenant_id == tenant)
    if target:
        found.append(deliveries.c.connection == target)
    if user:
        named = sa.select(users.c.id).where(users.c.user_name_key == fold(user))
        found.append(sa.or_(deliveries.c.resource_id == user, deliveries.c.resource_id.in_(named)))
    return found
