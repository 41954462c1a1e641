"""Group membership rows: who is in which group, without rewriting group documents."""

from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from gateway.store.tables import GroupRow, Membership, UserRow

membership = Membership.__table__  # type: ignore[attr-defined]
users = UserRow.__table__  # type: ignore[attr-defined]
groups = GroupRow.__table__  # type: ignore[attr-defined]

CHUNK = 500


class Memberships:
    """Membership queries over one connection, always scoped to a tenant."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def member_ids(self, tenant: str, group_id: str) -> dict[str, str]:
        """member id -> member type ("User" or "Group") of one group."""
        query = sa.select(membership.c.member_id, membership.c.member_type).where(
            membership.c.tenant_id == tenant, membership.c.group_id == group_id
        )
        return {row.member_id: row.member_type for row in self.connection.execute(query)}

    def add(
        self,
        tenant: str,
        group_id: str,
        members: dict[str, str],
        displays: dict[str, str] | None = None,
    ) -> int:
        """Add members (id -> type) not already present; returns how many were new.

        ``displays`` keeps the ``display`` a client sent for a member; without one the
        member's own displayName is shown.
        """
        current = self.member_ids(tenant, group_id)
        displays = displays or {}
        rows = [
            {
                "tenant_id": tenant,
                "group_id": group_id,
                "member_id": m,
                "member_type": t,
                "display": displays.get(m),
            }
            for m, t in members.items()
            if m not in current
        ]
        for start in range(0, len(rows), CHUNK):
            self.connection.execute(sa.insert(membership), rows[start : start + CHUNK])
        return len(rows)

    def remove(self, tenant: str, group_id: str, member_ids: list[str] | None) -> int:
        """Remove the given members, or all of them when ``member_ids`` is None."""
        condition = sa.and_(membership.c.tenant_id == tenant, membership.c.group_id == group_id)
        if member_ids is None:
            return self.connection.execute(sa.delete(membership).where(condition)).rowcount
        removed = 0
        for start in range(0, len(member_ids), CHUNK):
            chunk = member_ids[start : start + CHUNK]
            statement = sa.delete(membership).where(condition, membership.c.member_id.in_(chunk))
            removed += self.connection.execute(statement).rowcount
        return removed

    def forget_member(self, tenant: str, member_id: str) -> list[str]:
        """Remove a deleted resource from every group; returns the groups it was in."""
        condition = sa.and_(membership.c.tenant_id == tenant, membership.c.member_id == member_id)
        group_ids = list(
            self.connection.execute(sa.select(membership.c.group_id).where(condition)).scalars()
        )
        self.connection.execute(sa.delete(membership).where(condition))
        return group_ids

    def members_of(self, tenant: str, group_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """SCIM ``members`` values for each group, with the member's display name."""
        result: dict[str, list[dict[str, Any]]] = defaultdict(list)
        display = sa.func.coalesce(
            membership.c.display,
            sa.select(_display(users))
            .where(users.c.id == membership.c.member_id)
            .scalar_subquery(),
            sa.select(_display(groups))
            .where(groups.c.id == membership.c.member_id)
            .scalar_subquery(),
        )
        for chunk in _chunks(group_ids):
            query = (
                sa.select(
                    membership.c.group_id,
                    membership.c.member_id,
                    membership.c.member_type,
                    display.label("display"),
                )
                .where(membership.c.tenant_id == tenant, membership.c.group_id.in_(chunk))
                .order_by(membership.c.group_id, membership.c.member_id)
            )
            for row in self.connection.execute(query):
                result[row.group_id].append(_reference(row.member_id, row.member_type, row.display))
        return result

    def groups_of(self, tenant: str, member_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """SCIM ``groups`` values (direct membership) for each user."""
        result: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for chunk in _chunks(member_ids):
            parameters = {"tenant": tenant, "ids": chunk}
            for row in self.connection.execute(GROUPS_OF, parameters):
                entry = _reference(row.group_id, "Group", row.display)
                entry["type"] = "direct"
                result[row.member_id].append(entry)
        return result


def _display(table: sa.Table) -> sa.ColumnElement[Any]:
    return table.c.doc["displayName"].as_string()


#: Built once: every GET of a user runs it, and building it costs more than running it.
GROUPS_OF = (
    sa.select(membership.c.member_id, membership.c.group_id, _display(groups).label("display"))
    .join(groups, groups.c.id == membership.c.group_id)
    .where(
        membership.c.tenant_id == sa.bindparam("tenant"),
        membership.c.member_id.in_(sa.bindparam("ids", expanding=True)),
    )
    .order_by(membership.c.member_id, membership.c.group_id)
)


def _reference(resource_id: str, resource_type: str, display: str | None) -> dict[str, Any]:
    endpoint = "Users" if resource_type == "User" else "Groups"
    entry: dict[str, Any] = {"value": resource_id, "$ref": f"{endpoint}/{resource_id}"}
    if display:
        entry["display"] = display
    if resource_type in ("User", "Group"):
        entry.setdefault("type", resource_type)
    return entry


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
