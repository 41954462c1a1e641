"""Tenant-scoped reads and writes of resource rows.

Every method takes the tenant as its first argument, so no query can forget it
(ARCHITECTURE.md, "Storage"). The repository never opens transactions: it works on the
connection the :class:`~gateway.service.ResourceService` opened.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa

from gateway.errors import UniquenessException
from gateway.scim.kinds import Kind


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


@cache
def _by_id(table: sa.Table, for_update: bool) -> sa.Select[Any]:
    """Built once per table: constructing a statement costs more than running it."""
    query = sa.select(table.c.id, table.c.version, table.c.doc).where(
        table.c.tenant_id == sa.bindparam("tenant"), table.c.id == sa.bindparam("id")
    )
    return query.with_for_update() if for_update else query


@cache
def _insert(table: sa.Table) -> sa.Insert:
    return sa.insert(table)


@cache
def _update(table: sa.Table) -> sa.Update:
    # Parameters named apart from the columns: the SET clause binds the column names.
    return sa.update(table).where(
        table.c.tenant_id == sa.bindparam("match_tenant"), table.c.id == sa.bindparam("match_id")
    )


def _stored(row: sa.Row[Any]) -> StoredResource:
    doc = row.doc
    if isinstance(doc, str | bytes):  # SQLite drivers may hand back raw JSON text
        import orjson

        doc = orjson.loads(doc)
    return StoredResource(id=row.id, version=row.version, doc=doc)


class Repository:
    """Queries over one connection. Construct one per transaction."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name

    def get(
        self, tenant: str, kind: Kind, resource_id: str, *, for_update: bool = False
    ) -> StoredResource | None:
        """The resource, or None when it does not exist in this tenant."""
        query = _by_id(kind.table, for_update and self.dialect == "postgresql")
        row = self.connection.execute(query, {"tenant": tenant, "id": resource_id}).first()
        return _stored(row) if row else None

    def insert(self, tenant: str, kind: Kind, resource: StoredResource, at: datetime) -> None:
        """Insert a new resource; a taken unique key raises 409 ``uniqueness``."""
        values = self._row_values(kind, resource, at)
        values.update(id=resource.id, tenant_id=tenant, created=at)
        self._write(kind, _insert(kind.table), values)

    def update(self, tenant: str, kind: Kind, resource: StoredResource, at: datetime) -> None:
        """Overwrite the stored document and its index columns."""
        values = self._row_values(kind, resource, at)
        values.update(match_tenant=tenant, match_id=resource.id)
        self._write(kind, _update(kind.table), values)

    def delete(self, tenant: str, kind: Kind, resource_id: str) -> bool:
        """Delete the resource; False when there was none."""
        table = kind.table
        result = self.connection.execute(
            sa.delete(table).where(table.c.tenant_id == tenant, table.c.id == resource_id)
        )
        return bool(result.rowcount)

    def query(
        self,
        tenant: str,
        kind: Kind,
        *,
        where: sa.ColumnElement[bool] | None,
        order_by: list[sa.ColumnElement[Any]],
        offset: int,
        limit: int,
    ) -> Page:
        """A page of matching resources, and the total number of matches."""
        table = kind.table
        conditions = [table.c.tenant_id == tenant]
        if where is not None:
            conditions.append(where)
        rows: list[sa.Row[Any]] = []
        if limit > 0:
            query = (
                sa.select(table.c.id, table.c.version, table.c.doc)
                .where(*conditions)
                .order_by(*order_by)
                .offset(offset)
                .limit(limit)
            )
            rows = list(self.connection.execute(query))
        total = 0
        if offset == 0 and 0 < len(rows) < limit:
            total = len(rows)  # the first page holds every match: no COUNT(*) needed
        else:
            count_query = sa.select(sa.func.count()).select_from(table).where(*conditions)
            total = self.connection.execute(count_query).scalar_one()
        return Page(resources=[_stored(row) for row in rows], total=total)

    def existing_ids(self, tenant: str, kind: Kind, ids: list[str]) -> set[str]:
        """Which of ``ids`` exist as resources of ``kind`` in this tenant."""
        if not ids:
            return set()
        table = kind.table
        found: set[str] = set()
        for chunk in _chunks(ids, 500):
            query = sa.select(table.c.id).where(table.c.tenant_id == tenant, table.c.id.in_(chunk))
            found.update(self.connection.execute(query).scalars())
        return found

    @staticmethod
    def _row_values(kind: Kind, resource: StoredResource, at: datetime) -> dict[str, Any]:
        return {
            **kind.columns(resource.doc),
            "version": resource.version,
            "last_modified": at,
            "doc": resource.doc,
        }

    def _write(self, kind: Kind, statement: sa.Executable, values: dict[str, Any]) -> None:
        # A unique violation ends the unit of work: the service's transaction rolls back
        # as the exception leaves it (each Bulk operation is its own unit of work).
        try:
            self.connection.execute(statement, values)
        except sa.exc.IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise  # a foreign key or NOT NULL failure is our bug, not the client's
            raise UniquenessException(detail=_uniqueness_detail(kind, exc)) from None


def _is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)  # psycopg: 23505 is unique_violation
    if code is not None:
        return bool(code == "23505")
    return "unique constraint" in str(exc.orig).lower()  # sqlite3


def _uniqueness_detail(kind: Kind, exc: sa.exc.IntegrityError) -> str:
    message = str(exc.orig).lower()
    if "user_name" in message:
        return "userName is already taken in this tenant (compared case-insensitively)"
    return f"a {kind.name} with this id already exists"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
