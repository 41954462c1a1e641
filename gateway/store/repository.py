"""Tenant-scoped reads and writes of resource rows.

Every method takes the tenant as its first argument, so no query can forget it
(ARCHITECTURE.md, "Storage"). The repository never opens transactions: it works on the
connection the :class:`~gateway.service.ResourceService` opened.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.errors import UniquenessException
from gateway.scim.kinds import Kind
from gateway.store.prepared import Statements
from gateway.store.tables import among_ids


@dataclass(frozen=True)
class StoredResource:
    """A resource as stored: its canonical document and bookkeeping."""

    id: str
    version: int
    doc: dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a query and the number of matches over all pages."""

    resources: list[StoredResource]
    total: int


def _by_id(table: sa.Table, for_update: bool) -> sa.Select[Any]:
    query = sa.select(table.c.id, table.c.version, table.c.doc).where(
        table.c.tenant_id == sa.bindparam("tenant"), table.c.id == sa.bindparam("id")
    )
    return query.with_for_update() if for_update else query


def _insert(table: sa.Table, names: tuple[str, ...]) -> sa.Insert:
    return sa.insert(table).values({name: sa.bindparam(name) for name in names})


def _update(table: sa.Table, names: tuple[str, ...]) -> sa.Update:
    # Parameters named apart from the columns: the SET clause binds the column names.
    return (
        sa.update(table)
        .where(
            table.c.tenant_id == sa.bindparam("match_tenant"),
            table.c.id == sa.bindparam("match_id"),
        )
        .values({name: sa.bindparam(name) for name in names})
    )


def stored_resource(row: Any) -> StoredResource:
    """A resource from a (id, version, doc) driver row."""
    doc = row[2]
    if isinstance(doc, str | bytes):  # SQLite hands back the JSON text
        doc = orjson.loads(doc)
    return StoredResource(id=row[0], version=row[1], doc=doc)


class Repository:
    """Queries over one connection. Construct one per transaction.

    Inserts and updates run as prepared statements on the transaction's DBAPI cursor:
    SQLAlchemy's execution machinery cost more than SQLite's insert (docs/benchmarks.md).
    """

    def __init__(self, connection: sa.Connection, statements: Statements) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        self.statements = statements

    def get(
        self, tenant: str, kind: Kind, resource_id: str, *, for_update: bool = False
    ) -> StoredResource | None:
        """The resource, or None when it does not exist in this tenant.

        ``for_update`` locks the row on PostgreSQL; a SQLite write transaction already
        holds the database's one write lock.
        """
        lock = for_update and self.dialect == "postgresql"
        statement = self.statements.get(
            ("get", kind.table.name, lock), lambda: _by_id(kind.table, lock)
        )
        cursor = self.connection.connection.cursor()
        try:
            row = statement.execute(cursor, {"tenant": tenant, "id": resource_id}).fetchone()
        finally:
            cursor.close()
        return stored_resource(row) if row else None

    def insert(self, tenant: str, kind: Kind, resource: StoredResource, at: datetime) -> None:
        """Insert a new resource; a taken unique key raises 409 ``uniqueness``."""
        values = self._row_values(kind, resource, at)
        values.update(id=resource.id, tenant_id=tenant, created=at)
        names = tuple(values)
        self._write(kind, ("insert", kind.table.name, names), _insert, names, values)

    def update(self, tenant: str, kind: Kind, resource: StoredResource, at: datetime) -> None:
        """Overwrite the stored document and its index columns."""
        values = self._row_values(kind, resource, at)
        names = tuple(values)
        values.update(match_tenant=tenant, match_id=resource.id)
        self._write(kind, ("update", kind.table.name, names), _update, names, values)

    def delete(self, tenant: str, kind: Kind, resource_id: str) -> bool:
        """Delete the resource; False when there was none."""
        table = kind.table
        result = self.connection.execute(
            sa.delete(table).where(table.c.tenant_id == tenant, table.c.id == resource_id)
        )
        return bool(result.rowcount)

    def existing_ids(self, tenant: str, kind: Kind, ids: list[str]) -> set[str]:
        """Which of ``ids`` exist as resources of ``kind`` in this tenant."""
        if not ids:
            return set()
        table = kind.table
        found: set[str] = set()
        for chunk in _chunks(ids, 500):
            condition = among_ids(table, tenant, chunk, self.connection.dialect.name)
            found.update(self.connection.execute(sa.select(table.c.id).where(condition)).scalars())
        return found

    @staticmethod
    def _row_values(kind: Kind, resource: StoredResource, at: datetime) -> dict[str, Any]:
        return {
            **kind.columns(resource.doc),
            "version": resource.version,
            "last_modified": at,
            "doc": resource.doc,
        }

    def _write(
        self,
        kind: Kind,
        key: tuple[str, str, tuple[str, ...]],
        build: Callable[[sa.Table, tuple[str, ...]], sa.ClauseElement],
        names: tuple[str, ...],
        values: dict[str, Any],
    ) -> None:
        # A unique violation ends the unit of work: the service's transaction rolls back
        # as the exception leaves it (each Bulk operation is its own unit of work).
        statement = self.statements.get(key, lambda: build(kind.table, names))
        cursor = self.connection.connection.cursor()
        try:
            statement.execute(cursor, values)
        except self.connection.dialect.loaded_dbapi.IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise  # a foreign key or NOT NULL failure is our bug, not the client's
            raise UniquenessException(detail=_uniqueness_detail(kind, exc)) from None
        finally:
            cursor.close()


def _is_unique_violation(exc: Exception) -> bool:
    code = getattr(exc, "sqlstate", None)  # psycopg: 23505 is unique_violation
    if code is not None:
        return bool(code == "23505")
    return "unique constraint" in str(exc).lower()  # sqlite3


def _uniqueness_detail(kind: Kind, exc: Exception) -> str:
    message = str(exc).lower()
    if "user_name" in message:
        return "userName is already taken in this tenant (compared case-insensitively)"
    return f"a {kind.name} with this id already exists"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
