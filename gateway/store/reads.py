"""Reading resources with their members or groups: one prepared statement per read.

Every method takes a DBAPI cursor: one from :class:`~gateway.store.connections.Connections`
for a request's reads, or one inside a write's transaction, which must see its own
writes. Every method takes the tenant too, and every statement is scoped to it.
"""

from typing import Any

import sqlalchemy as sa

from gateway.scim.kinds import Kind
from gateway.store.memberships import related_column, related_values
from gateway.store.prepared import Statements
from gateway.store.queries import Plans, Search
from gateway.store.repository import Page, StoredResource, stored_resource

Related = dict[str, list[dict[str, Any]]]


class Reads:
    """Resource reads for one dialect; the statements are compiled on first use."""

    def __init__(self, statements: Statements) -> None:
        self.statements = statements
        self.plans = Plans(statements.dialect)

    def get(
        self, cursor: Any, tenant: str, kind: Kind, resource_id: str
    ) -> tuple[StoredResource, list[dict[str, Any]]] | None:
        """The resource and its members or groups, or None when absent from the tenant."""
        statement = self.statements.get(("by id", kind.name), lambda: self._by_id(kind))
        row = statement.execute(cursor, {"tenant": tenant, "id": resource_id}).fetchone()
        if row is None:
            return None
        return stored_resource(row), related_values(kind.name, row[3])

    def locked(
        self, cursor: Any, tenant: str, kind: Kind, resource_id: str
    ) -> tuple[StoredResource, list[dict[str, Any]]] | None:
        """As :meth:`get`, locking the resource's row on PostgreSQL, inside a write's
        transaction (a SQLite write transaction already holds the database's one lock).

        A write that cannot change the memberships (a user's PATCH or PUT) answers with
        what this read returned and the document it stored: no second read.
        """
        lock = self.statements.dialect.name == "postgresql"
        statement = self.statements.get(
            ("locked", kind.name, lock), lambda: self._by_id(kind, lock)
        )
        row = statement.execute(cursor, {"tenant": tenant, "id": resource_id}).fetchone()
        if row is None:
            return None
        return stored_resource(row), related_values(kind.name, row[3])

    def search(self, cursor: Any, tenant: str, kind: Kind, search: Search) -> tuple[Page, Related]:
        """A page of matches with their members or groups, and the number of all matches.

        Raises:
            InvalidFilterException: the filter cannot be compiled, or refuses an operand.
            InvalidValueException: ``sortBy`` names no sortable attribute.
        """
        plan, values = self.plans.bind(kind, search, tenant)
        rows = plan.page.execute(cursor, values).fetchall() if search.limit > 0 else []
        if search.offset == 0 and 0 < len(rows) < search.limit:
            total = len(rows)  # the first page holds every match: no COUNT(*) needed
        else:
            total = plan.count.execute(cursor, values).fetchone()[0]
        resources = [stored_resource(row) for row in rows]
        related: Related = {}
        if search.with_related:
            for row in rows:
                if entries := related_values(kind.name, row[3]):
                    related[row[0]] = entries
        return Page(resources, total), related

    def _by_id(self, kind: Kind, lock: bool = False) -> sa.Select[Any]:
        table = kind.table
        related = related_column(kind.name, table, self.statements.dialect.name)
        query = sa.select(table.c.id, table.c.version, table.c.doc, related).where(
            table.c.tenant_id == sa.bindparam("tenant"), table.c.id == sa.bindparam("id")
        )
        return query.with_for_update(of=table) if lock else query
