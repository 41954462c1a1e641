"""Source links: which user each person of a source is, and the source's memory between runs.

A person is keyed by the source's own id, per source connection, so two sources never
collide and a rehire (same id) finds the same user. The row also keeps what the source
last applied: the digest of the mapped person (a run skips an unchanged person without
reading the user), whether it left the user active, and the day its dates change that.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from gateway.store.tables import SourceLink, SourceState

links = SourceLink.__table__  # type: ignore[attr-defined]
states = SourceState.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Link:
    """A linked person: the user, the last applied digest and access, the next due day."""

    user_id: str
    digest: str | None
    active: bool
    due: str | None = None
    due_active: bool | None = None


def load_all(
    connection: sa.Connection, tenant: str, name: str, *, only: str | None = None
) -> dict[str, Link]:
    """Every link of a source connection, by the source's id (a few hundred bytes each);
    with ``only``, that person's link alone (a webhook's or a push's one person)."""
    query = sa.select(
        links.c.source_id,
        links.c.user_id,
        links.c.digest,
        links.c.active,
        links.c.due,
        links.c.due_active,
    ).where(links.c.tenant_id == tenant, links.c.connection == name)
    if only is not None:
        query = query.where(links.c.source_id == only)
    return {row[0]: Link(*row[1:]) for row in connection.execute(query)}


def save(
    connection: sa.Connection, tenant: str, name: str, source_id: str, link: Link, now: datetime
) -> None:
    """Insert or replace the link of one person."""
    key = (links.c.tenant_id == tenant, links.c.connection == name, links.c.source_id == source_id)
    values = {
        "user_id": link.user_id,
        "digest": link.digest,
        "active": link.active,
        "due": link.due,
        "due_active": link.due_active,
        "updated": now,
    }
    if not connection.execute(sa.update(links).where(*key).values(**values)).rowcount:
        row = {"tenant_id": tenant, "connection": name, "source_id": source_id, **values}
        connection.execute(sa.insert(links).values(**row))


def forget(connection: sa.Connection, tenant: str, name: str, source_id: str) -> None:
    connection.execute(
        sa.delete(links).where(
            links.c.tenant_id == tenant, links.c.connection == name, links.c.source_id == source_id
        )
    )


def linked_elsewhere(
    connection: sa.Connection, tenant: str, name: str, source_id: str, user_ids: Iterable[str]
) -> dict[str, str]:
    """user id -> the other person of this source already linked to it."""
    wanted = list(user_ids)
    if not wanted:
        return {}
    query = sa.select(links.c.user_id, links.c.source_id).where(
        links.c.tenant_id == tenant,
        links.c.connection == name,
        links.c.user_id.in_(wanted),
        links.c.source_id != source_id,
    )
    return {user_id: other for user_id, other in connection.execute(query)}


def checkpoint(connection: sa.Connection, tenant: str, name: str) -> str | None:
    return connection.execute(
        sa.select(states.c.checkpoint).where(
            states.c.tenant_id == tenant, states.c.connection == name
        )
    ).scalar()


def confirmed_until(connection: sa.Connection, tenant: str, name: str) -> datetime | None:
    return connection.execute(
        sa.select(states.c.confirmed_until).where(
            states.c.tenant_id == tenant, states.c.connection == name
        )
    ).scalar()


def remember(connection: sa.Connection, tenant: str, name: str, **values: object) -> None:
    """Set the checkpoint or the guard's consent of a source connection."""
    key = (states.c.tenant_id == tenant, states.c.connection == name)
    if not connection.execute(sa.update(states).where(*key).values(**values)).rowcount:
        connection.execute(sa.insert(states).values(tenant_id=tenant, connection=name, **values))


def save_many(
    connection: sa.Connection, tenant: str, name: str, saved: dict[str, Link], now: datetime
) -> None:
    """Insert or replace many links in two statements (a run's batch writes them at once)."""
    if not saved:
        return
    existing = set(
        connection.execute(
            sa.select(links.c.source_id).where(
                links.c.tenant_id == tenant,
                links.c.connection == name,
                links.c.source_id.in_(list(saved)),
            )
        ).scalars()
    )
    rows = [
        {
            "key": source_id,
            "user_id": link.user_id,
            "digest": link.digest,
            "active": link.active,
            "due": link.due,
            "due_active": link.due_active,
            "updated": now,
        }
        for source_id, link in saved.items()
    ]
    updates = [row for row in rows if row["key"] in existing]
    if updates:
        statement = sa.update(links).where(
            links.c.tenant_id == tenant,
            links.c.connection == name,
            links.c.source_id == sa.bindparam("key"),
        )
        connection.execute(statement, updates)
    inserts = [
        {"tenant_id": tenant, "connection": name, "source_id": row.pop("key"), **row}
        for row in rows
        if row["key"] not in existing
    ]
    if inserts:
        connection.execute(sa.insert(links), inserts)
