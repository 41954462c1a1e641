"""The resource models the gateway serves, built from scim2-models.

Attribute rules (mutability, returned, case-exactness) live here as annotations, so the
discovery endpoints, validation, PATCH and the filter compiler all read the same data.
"""

from typing import Annotated, Any

from scim2_models import (
    URN,
    CaseExact,
    EnterpriseUser,
    Extension,
    Group,
    Returned,
    User,
)

HR_SCHEMA = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
ENTERPRISE_SCHEMA = str(EnterpriseUser.__schema__)


class HRUser(Extension):
    """Attributes the seed HR integrations need that core SCIM lacks."""

    __schema__ = URN(HR_SCHEMA)

    hire_date: str | None = None
    """First day of work, ISO 8601 date (``2024-05-01``)."""

    termination_date: str | None = None
    """Last day of work, ISO 8601 date."""

    language: str | None = None
    """Working language, a BCP 47 tag such as ``fr-FR``."""

    location: str | None = None
    """Office or site name, as the HR system spells it."""

    date_of_birth: Annotated[str | None, Returned.never] = None
    """Sensitive: never returned unless a token with the ``scim:sensitive`` scope asks."""

    ssn: Annotated[str | None, Returned.never, CaseExact.true] = None
    """Sensitive: national identification number."""

    custom_fields: dict[str, Any] | None = None
    """Free map of per-tenant HR fields (``customFields.skip_elevo_sync``)."""


UserResource = User[EnterpriseUser | HRUser]
GroupResource = Group

#: Attributes stored but never returned by default, as (schema URN or "", attribute name).
#: A token with the ``scim:sensitive`` scope may ask for them by name in ``attributes``.
SENSITIVE_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    (HR_SCHEMA, "dateOfBirth"),
    (HR_SCHEMA, "ssn"),
)

#: Attributes the gateway refuses to keep at all. An identity gateway has no use for a
#: user's password; storing one would only add a secret to lose.
DISCARDED_ATTRIBUTES: tuple[str, ...] = ("password",)
