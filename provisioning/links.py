"""The account link table: which remote account a resource is, and what it was last sent.

States: ``creating`` (a create call may be under way: look up before creating again),
``active``, ``inactive`` (deactivated in the target), ``deleted``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

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


def save(
    connection: sa.Connection,
    tenant: str,
    target: str,
    resource_type: str,
    link: Link,
    now: datetime,
) -> None:
    """Insert or replace the link of one resource."""
    key = {
        "tenant_id": tenant,
        "connection": target,
        "resource_type": resource_type,
        "resource_id": link.resource_id,
    }
    values = {"remote_id": link.remote_id, "state": link.state, "payload_hash": link.payload_hash}
    updated = connection.execute(
        sa.update(links)
        .where(*(links.c[name] == value for name, value in key.items()))
        .values(updated=now, **values)
    )
    if not updated.rowcount:
        connection.execute(sa.insert(links).values(created=now, updated=now, **key, **values))


def count_linked(connection: sa.Connection, tenant: str, target: str) -> int:
    """Accounts this connection manages and that still have access."""
    query = sa.select(sa.func.count()).where(
        links.c.tenant_id == tenant, links.c.connection == target, links.c.state == ACTIVE
    )
    return int(connection.execute(query).scalar_one())


def linked_to(connection: sa.Connection, tenant: str, target: str, remote_id: str) -> str | None:
    """The resource already linked to ``remote_id`` in this target, if any."""
    query = sa.select(links.c.resource_id).where(
        links.c.tenant_id == tenant, links.c.connection == target, links.c.remote_id == remote_id
    )
    return connection.execute(query).scalars().first()
