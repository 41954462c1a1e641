"""Resource kinds as data: what differs between Users and Groups, in one table.

The service, the repository and the filter compiler all look a kind up here instead of
branching on ``if resource_type == "User"``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gateway.scim.models import (
    ENTERPRISE_SCHEMA,
    CustomFieldSpec,
    GroupResource,
    UserResource,
    user_model,
)
from gateway.store.folding import fold
from gateway.store.tables import GroupRow, UserRow

if TYPE_CHECKING:
    from gateway.config import GatewayConfig


def work_email(doc: dict[str, Any]) -> str | None:
    """The address Entra and Okta mean by "the email": type work, else primary, else first."""
    emails = [e for e in doc.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    for predicate in (lambda e: e.get("type") == "work", lambda e: e.get("primary") is True):
        for email in emails:
            if predicate(email):
                return str(email["value"])
    return str(emails[0]["value"]) if emails else None


def user_columns(doc: dict[str, Any]) -> dict[str, Any]:
    """The indexed columns of a user row, derived from its canonical document."""
    enterprise = doc.get(ENTERPRISE_SCHEMA) or {}
    return {
        "user_name_key": fold(doc["userName"]),
        "external_id": doc.get("externalId"),
        "email_key": fold(work_email(doc)),
        "employee_number": fold(enterprise.get("employeeNumber")),
        "display_name_key": fold(doc.get("displayName")),
        "active": doc.get("active", True) is not False,
    }


def group_columns(doc: dict[str, Any]) -> dict[str, Any]:
    """The indexed columns of a group row, derived from its canonical document."""
    return {
        "display_name_key": fold(doc.get("displayName")),
        "external_id": doc.get("externalId"),
    }


@dataclass(frozen=True)
class Kind:
    """One SCIM resource type and how it is stored."""

    name: str
    endpoint: str
    model: Any
    table: sa.Table
    columns: Callable[[dict[str, Any]], dict[str, Any]]
    #: SCIM attribute path (lower case) -> column name, for attributes with a column.
    indexed: dict[str, str] = field(default_factory=dict)
    #: Of those, the ones whose column holds a case-folded value.
    folded: frozenset[str] = frozenset()


USER = Kind(
    name="User",
    endpoint="/Users",
    model=UserResource,
    table=UserRow.__table__,  # type: ignore[attr-defined]
    columns=user_columns,
    indexed={
        "id": "id",
        "username": "user_name_key",
        "externalid": "external_id",
        "displayname": "display_name_key",
        "active": "active",
        "meta.created": "created",
        "meta.lastmodified": "last_modified",
        f"{ENTERPRISE_SCHEMA.lower()}:employeenumber": "employee_number",
    },
    folded=frozenset({"username", "displayname", f"{ENTERPRISE_SCHEMA.lower()}:employeenumber"}),
)

GROUP = Kind(
    name="Group",
    endpoint="/Groups",
    model=GroupResource,
    table=GroupRow.__table__,  # type: ignore[attr-defined]
    columns=group_columns,
    indexed={
        "id": "id",
        "displayname": "display_name_key",
        "externalid": "external_id",
        "meta.created": "created",
        "meta.lastmodified": "last_modified",
    },
    folded=frozenset({"displayname"}),
)

KINDS: dict[str, Kind] = {USER.name: USER, GROUP.name: GROUP}
BY_ENDPOINT: dict[str, Kind] = {k.endpoint.strip("/").lower(): k for k in KINDS.values()}


@cache
def kinds_for(
    custom_fields: CustomFieldSpec = (), sensitive_reader: bool = False
) -> dict[str, Kind]:
    """The kinds of a tenant, keyed by endpoint name ("users", "groups").

    Only the User model differs between tenants: its HR extension carries the tenant's
    declared custom fields. ``sensitive_reader`` gives the User model as published to a
    token with ``scim:sensitive`` (gateway.scim.models.SensitiveReaderHRUser): filters
    and sorts compiled against it may name dateOfBirth and ssn (gateway.scim.visibility).
    """
    if not custom_fields and not sensitive_reader:
        return {"users": USER, "groups": GROUP}
    user = replace(USER, model=user_model(custom_fields, sensitive_reader))
    return {"users": user, "groups": GROUP}


class TenantKinds:
    """The kinds of each tenant of a configuration, looked up once per tenant.

    Every request needs its tenant's kinds; the configuration is immutable, so each
    tenant's answer is kept (one entry per configured or token-created tenant).
    """

    def __init__(self, config: "GatewayConfig") -> None:
        self.config = config
        self._kinds: dict[tuple[str, bool], dict[str, Kind]] = {}

    def __call__(self, tenant: str, sensitive_reader: bool = False) -> dict[str, Kind]:
        """The tenant's kinds; as read by a ``scim:sensitive`` token when asked."""
        key = (tenant, sensitive_reader)
        kinds = self._kinds.get(key)
        if kinds is None:
            spec = self.config.tenant(tenant).custom_field_spec()
            kinds = kinds_for(spec, sensitive_reader)
            self._kinds[key] = kinds
        return kinds
