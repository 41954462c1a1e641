"""The store side of ``POST /scim/v2/bulkUpload``: users by externalId, the users waiting
for their manager's externalId to arrive, and the results.

Every function takes the tenant: a result is read by the tenant that pushed it, and a
user is matched within its tenant only.
"""

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gateway.store.tables import BulkUploadResult, PendingManager, UserRow

results = BulkUploadResult.__table__  # type: ignore[attr-defined]
users = UserRow.__table__  # type: ignore[attr-defined]
pending = PendingManager.__table__  # type: ignore[attr-defined]
#: The first key of this module's advisory locks (the second is the externalId's hash):
#: a space of its own, apart from any other lock the database's users take.
LOCK_SPACE = 0x5C1_0B


def user_ids_by_external_id(connection: sa.Connection, tenant: str, external_id: str) -> list[str]:
    """The users of the tenant whose externalId is exactly this one (caseExact, RFC 7643
    §3.1); at most two: one is the match, two mean the tenant holds a duplicate."""
    query = (
        sa.select(users.c.id)
        .where(users.c.tenant_id == tenant, users.c.external_id == external_id)
        .order_by(users.c.id)
        .limit(2)
    )
    return list(connection.execute(query).scalars())


def lock_external_id(connection: sa.Connection, tenant: str, external_id: str) -> None:
    """Hold, until the transaction ends, the right to create the user of this externalId.

    Two requests pushing the same new person at once would otherwise both find no user
    and create two (externalId is not unique in SCIM). PostgreSQL takes a transaction
    advisory lock on the pair; SQLite's write transaction already excludes other writers.
    """
    if connection.dialect.name != "postgresql":
        return
    key = zlib.crc32(f"{tenant}\x00{external_id}".encode()) - 2**31
    lock = sa.text("SELECT pg_advisory_xact_lock(:space, :key)")
    connection.execute(lock, {"space": LOCK_SPACE, "key": key})


def hold_manager(
    connection: sa.Connection, tenant: str, user_id: str, manager_external_id: str, at: datetime
) -> None:
    """Remember that the user's manager is the user of this externalId, once one has it."""
    release_manager(connection, tenant, user_id)
    connection.execute(
        sa.insert(pending).values(
            tenant_id=tenant, user_id=user_id, manager_external_id=manager_external_id, since=at
        )
    )


def release_manager(connection: sa.Connection, tenant: str, user_id: str) -> None:
    """Forget the user's pending manager: named, cleared, or replaced by another."""
    connection.execute(
        sa.delete(pending).where(pending.c.tenant_id == tenant, pending.c.user_id == user_id)
    )


def reports_waiting_for(
    connection: sa.Connection, tenant: str, manager_external_id: str, limit: int
) -> list[str]:
    """The users whose pending manager has this externalId, oldest first, at most ``limit``."""
    query = (
        sa.select(pending.c.user_id)
        .where(pending.c.tenant_id == tenant, pending.c.manager_external_id == manager_external_id)
        .order_by(pending.c.since, pending.c.user_id)
        .limit(limit)
    )
    return list(connection.execute(query).scalars())


@dataclass(frozen=True)
class UploadResult:
    """What a bulkUpload request did, as its result URL shows it."""

    id: str
    tenant: str
    caller: str
    received: datetime
    completed: datetime
    counts: dict[str, int]
    operations: list[dict[str, Any]]


def save(connection: sa.Connection, result: UploadResult, keep_days: int, keep: int) -> None:
    """Store a result, then drop the tenant's results past the kept time or count."""
    connection.execute(
        sa.insert(results).values(
            id=result.id,
            tenant_id=result.tenant,
            caller=result.caller,
            received=result.received,
            completed=result.completed,
            counts=result.counts,
            operations=result.operations,
        )
    )
    tenant = results.c.tenant_id == result.tenant
    cutoff = result.received - timedelta(days=keep_days)
    connection.execute(sa.delete(results).where(tenant, results.c.received < cutoff))
    surplus = (
        sa.select(results.c.id)
        .where(tenant)
        .order_by(results.c.received.desc(), results.c.id.desc())
        .offset(keep)
        .scalar_subquery()
    )
    connection.execute(sa.delete(results).where(tenant, results.c.id.in_(surplus)))


def load(connection: sa.Connection, tenant: str, result_id: str) -> UploadResult | None:
    """The tenant's result of this id; None when absent, expired, or another tenant's."""
    row = connection.execute(
        sa.select(results).where(results.c.tenant_id == tenant, results.c.id == result_id)
    ).first()
    if row is None:
        return None
    return UploadResult(
        row.id,
        row.tenant_id,
        row.caller,
        row.received,
        row.completed,
        dict(row.counts),
        list(row.operations),
    )
