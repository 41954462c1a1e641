"""Lucca (Poplee Core HR) target through the legacy v3 users API, the only write path.

Behaviour (creation with a contract, the S4.3 defaults, the department head as manager,
activity read from contract dates), sources ([V]/[I]/[A]) and limits:
``docs/connectors/lucca.md``; every vendor fact is in the block below.
"""

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from pydantic import Field

from provisioning.connectors.base import (
    ConnectorOptions,
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
)
from provisioning.connectors.dates import TimeZoneName, today_in
from provisioning.connectors.fields import day_in, positive_id, with_defaults
from provisioning.connectors.messages import PROBLEM_DETAILS, FieldClash
from provisioning.connectors.paging import Offset
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.connectors.resource import Resource, ResourceTarget
from provisioning.errors import TargetConfigError

__all__ = ["DEFAULT_FIELD_MAP", "LuccaConnector", "LuccaOptions", "read_lucca_error"]

# -- vendor facts (docs/connectors/lucca.md; [A] = assumed, to check against a sandbox) ---

#: Legacy directory users [V developers.lucca.fr/api-reference/legacy/directory].
USERS_PATH = "/api/v3/users"
#: Creates the user *and* its work contract [V post-work-contract].
CREATE_PARAMS: Mapping[str, str] = MappingProxyType({"contract": "true"})
#: [V] Organization Structure's departments (the default: v3's stop in September 2026) name
#: their head ``headId``; [A] one is read by id (only the list is documented).
ORGANIZATION_DEPARTMENTS = Resource("department", "/organization/structure/api/departments/{id}")
#: [V] v3 answers ``{"data": {..., "headID"}}``, with only ``id,name,url`` unless asked.
V3_DEPARTMENTS = Resource(
    "department",
    "/api/v3/departments/{id}",
    envelope=("data",),
    params={"fields": "id,name,headID"},
)
#: The ``departments_api`` option -> where a department is read, the member naming its head.
DEPARTMENT_APIS: Mapping[str, tuple[Resource, str]] = MappingProxyType(
    {"organization": (ORGANIZATION_DEPARTMENTS, "headId"), "v3": (V3_DEPARTMENTS, "headID")}
)
#: Only ``id,name,url`` are returned unless ``fields`` asks for more [V].
READ_FIELDS = (
    "id,firstName,lastName,mail,login,employeeNumber,dtContractStart,dtContractEnd,"
    "legalEntityId,departmentId,managerId"
)
ACCEPT_JSON: Mapping[str, str] = MappingProxyType({"Accept": "application/json"})
#: [V] ``paging={offset},{limit}``, at most 1000 a page: a shorter page is the last.
USER_PAGES = Offset(
    items=("data", "items"), params={"paging": "{offset},{limit}"}, size=100, short_page_ends=True
)
#: Former employees are left out of lists unless asked for [V list-users].
WITH_FORMER = MappingProxyType({"formerEmployees": "true"})
#: Matching key -> the strict-equality filter of ``GET /api/v3/users`` [V].
LOOKUP_FILTERS: Mapping[str, str] = MappingProxyType(
    {"email": "mail", "userName": "login", "employeeNumber": "employeeNumber"}
)
#: Dates are written ``2025-01-01T00:00:00`` in the tenant's local time, no offset [V].
LUCCA_DATE = "%Y-%m-%dT00:00:00"
#: [A] Deactivating sets the user's last day of employment here; reactivating clears it.
CONTRACT_END = "dtContractEnd"
#: [V] A user is read, updated (PUT: the fields sent only) and deleted at its path, in a
#: ``data`` envelope; its organisation fields are Lucca ids [V update-a-user-by-id]. A user
#: is employed until the contract's end has come (``CONTRACT_END``).
USERS = Resource(
    noun="user",
    item=USERS_PATH + "/{id}",
    envelope=("data",),
    lookups=LOOKUP_FILTERS,
    answer="record",
    forms={
        **dict.fromkeys(
            ("legalEntityId", "departmentId", "managerId", "rolePrincipalId"), positive_id("Lucca")
        ),
        **dict.fromkeys(("dtContractStart", CONTRACT_END, "birthDate"), day_in(LUCCA_DATE)),
    },
    ends=CONTRACT_END,
)
#: Lucca accounts are mostly French; "today" is the tenant's today [A].
DEFAULT_TIMEZONE = "Europe/Paris"
#: Lucca's mandatory organisation fields -> the option giving their default (S4.3) [V].
DEFAULTED_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "legalEntityId": "default_legal_entity_id",
        "departmentId": "default_department_id",
        "rolePrincipalId": "default_role_id",
    }
)
#: A uniqueness clash is a 400 Problem Details naming the field in ``errors`` [A: wording].
UNIQUE_FIELDS = frozenset({"login", "mail", "employeenumber"})
CLASH_WORDS = ("already", "unique", "duplicate")

#: Target field <- SCIM path. Ids of legal entities, departments and roles are the
#: tenant's own: map them with lookup tables, or rely on the options' defaults.
DEFAULT_FIELD_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "firstName": {"from": "name.givenName", "required": True},
        "lastName": {"from": "name.familyName", "required": True},
        "mail": {"from": ['emails[type eq "work"].value', "userName"], "required": True},
        "login": {"from": "userName", "required": True},
        "personalEmail": 'emails[type eq "home"].value',
        "employeeNumber": "enterprise:employeeNumber",
        "jobTitle": "title",
        "dtContractStart": "hr:hireDate",
        "managerId": {"transform": [{"manager": "remote_id"}]},
    }
)


class LuccaOptions(ConnectorOptions):
    """The ``options:`` of a ``type: lucca`` connection (no secrets: the key is ``auth:``)."""

    #: ``legalEntityId`` when the mapped user has none (S4.3).
    default_legal_entity_id: int | None = Field(None, ge=1)
    #: ``departmentId`` when the mapped user has none (S4.3).
    default_department_id: int | None = Field(None, ge=1)
    #: ``rolePrincipalId`` (the primary role) when the mapped user has none (S4.3).
    default_role_id: int | None = Field(None, ge=1)
    #: With no manager given, make the department's head the manager (S4.4).
    manager_from_department_head: bool = True
    #: Which departments API gives the head: ``organization`` (Organization Structure
    #: API) or ``v3`` (the legacy directory's, for accounts that still have it).
    departments_api: Literal["organization", "v3"] = "organization"
    #: Time zone of the tenant's dates (contract start and end days).
    timezone: TimeZoneName = DEFAULT_TIMEZONE


#: Lucca's errors are Problem Details bodies (RFC 7807) [V].
read_lucca_error = PROBLEM_DETAILS

#: How Lucca's API answers: its error body, and a 400 on a unique field as a conflict.
PROFILE = ApiProfile(
    vendor="Lucca",
    read_message=read_lucca_error,
    headers=ACCEPT_JSON,
    is_conflict=FieldClash(400, ("errors",), UNIQUE_FIELDS, CLASH_WORDS),
    gone="the Lucca user {id}",
    paging=USER_PAGES,
)


class LuccaConnector(ResourceTarget):
    """Lucca's legacy v3 directory as a provisioning target.

    Args:
        setup: ``base_url`` is the account (``https://acme.ilucca.net``); ``http`` carries
            ``Authorization: lucca application=<key>``; ``options`` per :class:`LuccaOptions`.
        today: the tenant's current date; injected by tests.
    """

    type: ClassVar[str] = "lucca"
    default_field_map: ClassVar[Mapping[str, Any]] = DEFAULT_FIELD_MAP
    resource: ClassVar[Resource] = USERS

    def __init__(self, setup: ConnectorSetup, *, today: Callable[[], date] | None = None) -> None:
        self.options = LuccaOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url, PROFILE)
        self._today = today or today_in(self.options.timezone)

    async def check(self) -> None:
        """Read one user (AuthError on 401/403), then the default department if set."""
        await self._api.call("GET", USERS_PATH, params={"fields": "id", "paging": "0,1"})
        if self.options.default_department_id is not None:
            await self._department(self.options.default_department_id)

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """Users, former ones included, whose ``key`` equals ``value`` case-insensitively."""
        return await self._matching(self._users({self._lookup(key): value}), key, value)

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """Create the user with its contract; a login or mail clash is a ConflictError."""
        body = with_defaults(self._body(payload), DEFAULTED_FIELDS, self.options)
        body.setdefault("dtContractStart", self._today().strftime(LUCCA_DATE))
        if body.get("managerId") is None and self.options.manager_from_department_head:
            head = await self._department_head(body["departmentId"])
            if head is not None:
                body["managerId"] = head
        response = await self._api.call("POST", USERS_PATH, body, params=CREATE_PARAMS)
        return self._account(self._record(response))

    # -- S4.4: the department's head as the default manager -------------------------------

    async def _department_head(self, department_id: int) -> int | None:
        department = await self._department(department_id)
        head_id = department.get(DEPARTMENT_APIS[self.options.departments_api][1])
        if head_id is None:
            return None
        found = self._users({"id": str(head_id)})
        heads = [user async for user in found if str(user.get("id")) == str(head_id)]
        if not heads or not self._is_active(heads[0]):
            name = department.get("name") or f"#{department_id}"
            raise TargetConfigError(
                f"department {name} (id {department_id}): its head (id {head_id}) is no longer "
                "active; set a manager on the user or a new head of the department in Lucca"
            )
        return int(head_id)

    async def _department(self, department_id: int) -> dict[str, Any]:
        departments, _ = DEPARTMENT_APIS[self.options.departments_api]
        found = await self._read(str(department_id), departments)
        if found is None:
            raise TargetConfigError(f"department {department_id} does not exist in Lucca")
        return found

    # -- reading and writing users --------------------------------------------------------

    def _users(self, filters: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Every user matching ``filters``, page by page (former employees included)."""
        params = {**filters, **WITH_FORMER, "fields": READ_FIELDS}
        return self._api.items(USERS_PATH, params, paging=USER_PAGES)
