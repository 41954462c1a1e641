"""Writing outbox rows: one per enabled target connection, in the change's transaction.

The provisioning worker claims these rows (provisioning/records/claims.py). Priorities encode the
rule that a leaver must lose access before anything else is sent under a rate limit.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from gateway.store.tables import OutboxEvent

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
#: Built once: constructing the statement per write was 7 % of a POST with three targets.
_INSERT = sa.insert(outbox)


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"


#: Lower is sooner. Deactivations and deletions first, then creations, then updates;
#: initial loads and backfills (3) come from sync runs.
PRIORITY: dict[Action, int] = {
    Action.DEACTIVATED: 0,
    Action.DELETED: 0,
    Action.CREATED: 1,
    Action.UPDATED: 2,
}


@dataclass(frozen=True)
class Change:
    """A committed change to one resource, as the outbox records it."""

    tenant: str
    resource_type: str
    resource_id: str
    action: Action
    version: int


def classify_update(was_active: bool, is_active: bool) -> Action:
    """An update that turns ``active`` off is a deactivation, with a leaver's priority."""
    return Action.DEACTIVATED if was_active and not is_active else Action.UPDATED


def enqueue(
    connection: sa.Connection, change: Change, connections: tuple[str, ...], at: datetime
) -> int:
    """Write one outbox row per connection; returns the number written."""
    rows = [
        {
            "tenant_id": change.tenant,
            "connection": name,
            "resource_type": change.resource_type,
            "resource_id": change.resource_id,
            "action": change.action.value,
            "version": change.version,
            "priority": PRIORITY[change.action],
            "status": "pending",
            "attempts": 0,
            "due_at": at,
            "created": at,
        }
        for name in connections
    ]
    if rows:
        connection.execute(_INSERT, rows)
    return len(rows)


def queue_updates(
    resources: sa.Select[Any],
    table: sa.Table,
    resource_type: str,
    target: sa.BindParameter[str],
    at: sa.BindParameter[datetime],
) -> sa.Insert:
    """INSERT INTO outbox SELECT one pending update event per row of ``resources``.

    ``resources`` is a select over ``table`` (its joins and conditions); its columns are
    replaced by an outbox row's, in the order :data:`_UPDATE_COLUMNS` names them. The
    engine re-queues groups for new members and reports for new managers this way.
    """
    update = Action.UPDATED
    rows = resources.with_only_columns(
        table.c.tenant_id,
        target,
        sa.literal(resource_type, sa.String),
        table.c.id,
        sa.literal(update.value, sa.String),
        table.c.version,
        sa.literal(PRIORITY[update], sa.Integer),
        sa.literal("pending", sa.String),
        sa.literal(0, sa.Integer),
        at,
        at,
        maintain_column_froms=True,
    )
    statement = sa.insert(outbox).from_select(_UPDATE_COLUMNS, rows)
    return statement.execution_options(preserve_rowcount=True)  # an INSERT's is not kept


#: The outbox columns :func:`queue_updates` fills, in the order it selects them.
_UPDATE_COLUMNS = (
    "tenant_id",
    "connection",
    "resource_type",
    "resource_id",
    "action",
    "version",
    "priority",
    "status",
    "attempts",
    "due_at",
    "created",
)
