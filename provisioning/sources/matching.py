"""Matching a person a source never linked to the users that already exist (SSO-aligned).

A user an IdP pushed, or another source made, is the same person when one configured key
agrees: employee number, work email (compared case-insensitively, as the store folds it),
userName, externalId. The keys are tried together: two different users found is a
conflict the run reports, never a guess.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from gateway.scim.kinds import work_email
from gateway.scim.models import ENTERPRISE_SCHEMA
from gateway.store.folding import fold
from gateway.store.tables import UserRow

users = UserRow.__table__  # type: ignore[attr-defined]


def _employee_number(doc: Mapping[str, Any]) -> str | None:
    return fold((doc.get(ENTERPRISE_SCHEMA) or {}).get("employeeNumber"))


def _email(doc: Mapping[str, Any]) -> str | None:
    return fold(work_email(dict(doc)))


def _user_name(doc: Mapping[str, Any]) -> str | None:
    return fold(doc.get("userName"))


def _external_id(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("externalId")
    return None if value in (None, "") else str(value)


#: Matching key -> (the store's indexed column, how the person's value is read and folded).
KEYS: dict[str, tuple[str, Callable[[Mapping[str, Any]], str | None]]] = {
    "employeeNumber": ("employee_number", _employee_number),
    "email": ("email_key", _email),
    "userName": ("user_name_key", _user_name),
    "externalId": ("external_id", _external_id),
}


def candidates(
    connection: sa.Connection, tenant: str, doc: Mapping[str, Any], keys: Iterable[str]
) -> list[str]:
    """Ids of the users that any of ``keys`` matches, in id order."""
    terms = []
    for key in keys:
        column, read = KEYS[key]
        value = read(doc)
        if value:
            terms.append(users.c[column] == value)
    if not terms:
        return []
    query = (
        sa.select(users.c.id)
        .where(users.c.tenant_id == tenant, sa.or_(*terms))
        .order_by(users.c.id)
        .limit(10)
    )
    return list(connection.execute(query).scalars())
