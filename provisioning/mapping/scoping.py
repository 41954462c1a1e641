"""Scope filters: which users a connection provisions, in SCIM filter syntax.

A scope is evaluated by the same filter engine as the SCIM server (the filter compiles to
SQL and runs against the store), so ``emails[type eq "work"].value ew "@acme.com" and not
(urn:...:customFields.skip_elevo_sync eq true)`` means exactly what it means in a
``GET /Users?filter=``.
"""

from collections.abc import Iterable

import sqlalchemy as sa

from gateway.scim.kinds import Kind
from gateway.store.filters import compile_filter
from gateway.store.tables import among_ids


def compile_scope(
    kind: Kind, expression: str | None, dialect: str
) -> sa.ColumnElement[bool] | None:
    """The scope as a SQL condition, or None when the connection takes everyone.

    Raises:
        InvalidFilterException: the expression is not a valid filter for this kind.
    """
    if not expression:
        return None
    return compile_filter(kind, expression, dialect)


def in_scope(
    connection: sa.Connection,
    tenant: str,
    kind: Kind,
    condition: sa.ColumnElement[bool] | None,
    ids: Iterable[str],
) -> set[str]:
    """Those of ``ids`` that exist in the tenant and match the scope."""
    table = kind.table
    wanted = list(ids)
    if not wanted:
        return set()
    query = sa.select(table.c.id).where(among_ids(table, tenant, wanted, connection.dialect.name))
    if condition is not None:
        query = query.where(condition)
    return set(connection.execute(query).scalars())
