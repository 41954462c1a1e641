"""The account link table: which remote account a resource is, and what it was last sent.

States: ``creating`` (a create call may be under way: look up before creating again),
``active``, ``inactive`` (deactivated in the target), ``deleted``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store.tables import AccountLink

links = AccountLink.__table__  # type: ignore[attr-defined]

CREATING, ACTIVE, INACTIVE, DELETED = "creating", "active", "inactive", "deleted"


@dataclass(frozen=True)
class Link:
    resource_id: str
    remote_id: str | None
    state: str
    payload_hash: str | None


def load(
    connection: sa.Connection, tenant: str, target: str, resource_type: str, ids: Iterable[str]
) -> dict[str, Link]:
    """The links of these resources in one target, by resource id."""
    wanted = list(ids)
    if not wanted:
        return {}
    query = sa.select(
        links.c.resource_id, links.c.remote_id, links.c.state, links.c.payload_hash
    ).where(
        links.c.tenant_id == tenant,
        links.c.connection == target,
        links.c.resource_type == resource_type,
        links.c.resource_id.in_(wanted),
    )
    return {row.resource_id: Link(*row) for row in connection.execute(query)}


@dataclass(frozen=True)
class Placed:
    """A link and where it belongs: tenant, connection, resource type."""

    tenant: str
    target: str
    resource_type: str
    link: Link


def save(
    connection: sa.Connection,
    tenant: str,
    target: str,
    resource_type: str,
    link: Link,
    now: datetime,
) -> None:
    """Insert or replace the link of one resource."""
    save_all(connection, [Placed(tenant, target, resource_type, link)], now)


def save_all(connection: sa.Connection, placed: list[Placed], now: datetime) -> None:
    """Insert or replace many links in one statement (a settlement batch)."""
    if not placed:
        return
    # One row per key: ON CONFLICT may not touch a row twice in one statement.
    latest = {(p.tenant, p.target, p.resource_type, p.link.resource_id): p for p in placed}
    rows = [
        {
            "tenant_id": p.tenant,
            "connection": p.target,
            "resource_type": p.resource_type,
            "resource_id": p.link.resource_id,
            "remote_id": p.link.remote_id,
            "state": p.link.state,
            "payload_hash": p.link.payload_hash,
            "created": now,
            "updated": now,
        }
        for p in latest.values()
    ]
    connection.execute(_upsert(connection.dialect.name), rows)


@cache
def _upsert(dialect: str) -> Any:
    """Built once per dialect and run with many rows: compiling it per batch cost more
    than running it."""
    statement = _dialect_insert(dialect)(links)
    return statement.on_conflict_do_update(
        index_elements=[c.name for c in links.primary_key],
        set_={
            name: statement.excluded[name]
            for name in ("remote_id", "state", "payload_hash", "updated")
        },
    )


def _dialect_insert(dialect: str) -> Any:
    # Both stores have INSERT ... ON CONFLICT DO UPDATE; SQLAlchemy spells it per dialect.
    if dialect == "postgresql":
        return postgresql.insert
    return sqlite.insert


def count_linked(connection: sa.Connection, tenant: str, target: str) -> int:
    """Accounts (of users: not groups) this connection manages that still have access."""
    query = sa.select(sa.func.count()).where(
        links.c.tenant_id == tenant,
        links.c.connection == target,
        links.c.resource_type == "User",
        links.c.state == ACTIVE,
    )
    return int(connection.execute(query).scalar_one())


def linked_to(connection: sa.Connection, tenant: str, target: str, remote_id: str) -> str | None:
    """The resource already linked to ``remote_id`` in this target, if any."""
    query = sa.select(links.c.resource_id).where(
        links.c.tenant_id == tenant, links.c.connection == target, links.c.remote_id == remote_id
    )
    return connection.execute(query).scalars().first()
