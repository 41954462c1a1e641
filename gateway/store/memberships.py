"""Group membership rows: who is in which group, without rewriting group documents."""

from typing import Any

import orjson
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


def related_column(kind_name: str, owner: sa.Table, dialect: str) -> sa.ColumnElement[Any]:
    """A group's members, or a user's groups, as one JSON array per row of ``owner``.

    A correlated subquery, so that a resource and its memberships come back in one
    statement (one snapshot, one round trip) for a GET and for each row of a list, with
    no query per resource. Decode it with :func:`related_values`.
    """
    rows = membership.alias("related_membership")
    if kind_name == "Group":
        member_user, member_group = users.alias("member_user"), groups.alias("member_group")
        display = sa.func.coalesce(
            rows.c.display,  # as the client sent it, else the member's own displayName
            sa.select(_display(member_user))
            .where(member_user.c.id == rows.c.member_id)
            .scalar_subquery(),
            sa.select(_display(member_group))
            .where(member_group.c.id == rows.c.member_id)
            .scalar_subquery(),
        )
        entry = {"value": rows.c.member_id, "type": rows.c.member_type, "display": display}
        source: sa.FromClause = rows
        owned = rows.c.group_id == owner.c.id
    else:
        group = groups.alias("member_of")
        entry = {"value": rows.c.group_id, "display": _display(group)}
        source = rows.join(group, group.c.id == rows.c.group_id)
        owned = rows.c.member_id == owner.c.id
    query = sa.select(_json_array(entry, dialect)).select_from(source)
    query = query.where(rows.c.tenant_id == owner.c.tenant_id, owned).correlate(owner)
    return query.scalar_subquery()


def related_values(kind_name: str, raw: Any) -> list[dict[str, Any]]:
    """SCIM ``members`` (Group) or ``groups`` (User) from a :func:`related_column` value.

    Sorted by id, so that a representation does not change from one read to the next.
    """
    if not raw or raw == "[]":  # most resources: no membership, nothing to decode
        return []
    if isinstance(raw, str | bytes):
        raw = orjson.loads(raw)
    items = sorted(raw or (), key=lambda item: str(item["value"]))
    if kind_name == "Group":
        return [_reference(item["value"], item["type"], item.get("display")) for item in items]
    # Only direct memberships are stored: groups of groups are not expanded.
    return [
        {**_reference(item["value"], "Group", item.get("display")), "type": "direct"}
        for item in items
    ]


def _display(table: sa.FromClause) -> sa.ColumnElement[Any]:
    return table.c.doc["displayName"].as_string()


def _json_array(entry: dict[str, sa.ColumnElement[Any]], dialect: str) -> sa.ColumnElement[Any]:
    """One JSON object per membership row, aggregated: ``[]`` or NULL when there is none."""
    pairs = [part for key, value in entry.items() for part in (sa.literal(key), value)]
    if dialect == "postgresql":
        return sa.func.json_agg(sa.func.json_build_object(*pairs))
    return sa.func.json_group_array(sa.func.json_object(*pairs))


def _reference(resource_id: str, resource_type: str, display: str | None) -> dict[str, Any]:
    endpoint = "Users" if resource_type == "User" else "Groups"
    entry: dict[str, Any] = {"value": resource_id, "$ref": f"{endpoint}/{resource_id}"}
    if display:
        entry["display"] = display
    if resource_type in ("User", "Group"):
        entry.setdefault("type", resource_type)
    return entry
