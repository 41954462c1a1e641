"""The resource models the gateway serves, built from scim2-models.

Attribute rules (mutability, returned, case-exactness) live here as annotations, so the
discovery endpoints, validation, PATCH and the filter compiler all read the same data.
"""

from datetime import datetime
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, ValidationInfo, WrapValidator, create_model
from scim2_models import (
    URN,
    CaseExact,
    ComplexAttribute,
    Context,
    Email,
    EnterpriseUser,
    Extension,
    Mutability,
    Required,
    Returned,
    Uniqueness,
)
from scim2_models import (
    Group as ScimGroup,
)
from scim2_models import (
    User as ScimUser,
)

from gateway.scim.hr_dates import calendar_date


def _not_blank(value: str | None) -> str | None:
    """A name made of nothing but spaces names nothing: it cannot be looked up, shown or
    matched by a connector, so it is refused like a missing one (RFC 7643 §2.5)."""
    if value is not None and not value.strip():
        raise ValueError("must not be empty or blank")
    return value


def _request_date(value: Any, handler: Any, info: ValidationInfo) -> Any:
    """Dates are checked on what clients send; a stored document is read as it is, so a
    value stored before dates were checked stays readable (and replaceable)."""
    context = info.context or {}
    if context.get("scim") == Context.DEFAULT or value is None:
        return handler(value)
    return handler(calendar_date(value))


#: An HR date: sent as ``YYYY-MM-DD`` or as an ISO 8601 dateTime, stored and returned as
#: the calendar date ``YYYY-MM-DD``, which every connector's field map reads.
HRDate = Annotated[str | None, WrapValidator(_request_date)]


class LenientEmail(Email):
    """RFC 7643 §4.1.2: an email value SHOULD follow RFC 5321, it is not required to.

    Directories hold mailbox names without ``@`` and addresses in internal domains
    (jane@corp.local, test users @example.test); refusing them made IdPs fail whole
    provisioning cycles, so any string is kept as sent.
    """

    value: str | None = None
    """Email address for the user, kept as sent."""


# Named as scim2-models' own: /Schemas publishes a model's class name as the schema's name.
class User(ScimUser):
    """The SCIM User with the validation scimgw adds: a blank userName is refused, and
    emails are kept as sent."""

    user_name: Annotated[
        str | None, Uniqueness.server, Required.true, AfterValidator(_not_blank)
    ] = None
    """Unique identifier for the User, typically used by the user to directly
    authenticate to the service provider."""

    # list is invariant, so mypy sees a narrowing; pydantic validates with this type.
    emails: list[LenientEmail] | None = None  # type: ignore[assignment]
    """Email addresses for the user."""

    Emails: ClassVar[type[ComplexAttribute]] = LenientEmail


class Group(ScimGroup):
    """The SCIM Group, whose displayName (required, RFC 7643 §4.2) may not be blank."""

    display_name: Annotated[str | None, Required.true, AfterValidator(_not_blank)] = None
    """A human-readable name for the Group."""


HR_SCHEMA = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
ENTERPRISE_SCHEMA = str(EnterpriseUser.__schema__)


class HRUser(Extension):
    """Attributes the seed HR integrations need that core SCIM lacks."""

    __schema__ = URN(HR_SCHEMA)

    hire_date: HRDate = Field(None, examples=["2024-05-01"])
    """First day of work, ISO 8601 date (``2024-05-01``); a dateTime is kept as its date."""

    termination_date: HRDate = Field(None, examples=["2025-01-31"])
    """Last day of work, ISO 8601 date; a dateTime is kept as its date."""

    language: str | None = None
    """Working language, a BCP 47 tag such as ``fr-FR``."""

    location: str | None = None
    """Office or site name, as the HR system spells it."""

    date_of_birth: Annotated[HRDate, Mutability.write_only, Returned.never] = Field(
        None, examples=["1980-06-30"]
    )
    """Sensitive: write-only for SCIM clients (RFC 7643 §7); a token with the
    ``scim:sensitive`` scope reads it by naming it in ``attributes``."""

    ssn: Annotated[str | None, Mutability.write_only, Returned.never, CaseExact.true] = None
    """Sensitive: national identification number; same rules as dateOfBirth."""


class SensitiveReaderHRUser(HRUser):
    """The HR extension as published to a token with the ``scim:sensitive`` scope.

    Such a caller reads dateOfBirth and ssn, so its /Schemas says so: a strict client
    validating responses against the schema must not find an attribute it was told is
    never returned.
    """

    date_of_birth: Annotated[HRDate, Mutability.read_write, Returned.default] = Field(
        None, examples=["1980-06-30"]
    )
    ssn: Annotated[str | None, Mutability.read_write, Returned.default, CaseExact.true] = None


#: SCIM attribute types a tenant may give its custom fields (RFC 7643 §2.3).
CUSTOM_FIELD_TYPES: dict[str, Any] = {
    "string": Annotated[str | None, CaseExact.false],
    "boolean": bool | None,
    "integer": int | None,
    "decimal": float | None,
    "dateTime": datetime | None,
}

CustomFieldSpec = tuple[tuple[str, str], ...]


@cache
def hr_extension(
    custom_fields: CustomFieldSpec = (), sensitive_reader: bool = False
) -> type[Extension]:
    """The HR extension of a tenant, with ``customFields`` declared by its configuration.

    SCIM has no map type (RFC 7643 §2.3), so a tenant's free HR fields are declared
    (name and type) and published in its /Schemas as sub-attributes of ``customFields``:
    clients see exactly what they may send, names match exactly (S2.3), values are typed.
    """
    base = SensitiveReaderHRUser if sensitive_reader else HRUser
    if not custom_fields:
        return base
    fields: dict[str, Any] = {
        f"field_{index}": (
            CUSTOM_FIELD_TYPES[kind],
            Field(None, alias=name, validation_alias=name, serialization_alias=name),
        )
        for index, (name, kind) in enumerate(custom_fields)
    }
    custom = create_model("CustomFields", __base__=ComplexAttribute, **fields)
    annotations = {"custom_fields": custom | None}
    namespace = {"__annotations__": annotations, "custom_fields": None, "__module__": __name__}
    return type("HRUser", (base,), namespace)


@cache
def user_model(custom_fields: CustomFieldSpec = (), sensitive_reader: bool = False) -> Any:
    """The User resource model of a tenant (as published to a sensitive reader, or not)."""
    return User[EnterpriseUser | hr_extension(custom_fields, sensitive_reader)]  # type: ignore[misc]


UserResource = user_model()
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
