"""BambooHR as a target: users become employees through the API-key ("gateway") API.

Behaviour, sources ([V] documented, [I] inferred, [A] assumed) and limits:
``docs/connectors/bamboohr.md``; every vendor fact is in the block below.
"""

from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import httpx
from pydantic import Field

from provisioning.connectors.base import (
    ConnectorOptions,
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
)
from provisioning.connectors.fields import as_text
from provisioning.connectors.messages import ErrorBody
from provisioning.connectors.paging import Whole
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.connectors.resource import Resource, ResourceTarget
from provisioning.errors import PermanentError

__all__ = [
    "DEFAULT_FIELD_MAP",
    "BambooHrConnector",
    "BambooHrOptions",
    "field_value",
    "read_bamboohr_error",
]

# -- vendor facts -----------------------------------------------------------------------
#: [V] The API host; the legacy gateway path takes basic auth (key as username, any
#: password) and the company's BambooHR subdomain.
API_HOST = "https://api.bamboohr.com"
API_ROOT = "{host}/api/gateway.php/{company}/v1"
#: [V] Without ``Accept: application/json`` BambooHR answers XML.
ACCEPT = "application/json"
#: [V] Legacy endpoints put the error message here and leave the body empty.
ERROR_HEADER = "X-BambooHR-Error-Message"
#: [V] 503 is BambooHR's historical throttle; from 2026-09-16 it is 429 + Retry-After.
THROTTLE_STATUSES = (429, 503)
EMPLOYEES_PATH = "/employees"  # [V] POST: 201, empty body, Location: .../employees/{id}
FIELDS_PATH = "/meta/fields"  # [V] the field catalogue, read-only: proves the key
#: [V] Active *and* inactive employees; Content-Type must be exactly application/json.
REPORT_PATH = "/reports/custom"
REPORT_PARAMS = MappingProxyType({"format": "JSON", "onlyCurrent": "false"})
REPORT_TITLE = "scimgw matching"
#: [V] ``status`` is ``Active`` or ``Inactive``; [A] it is writable with an update.
STATUS, ACTIVE, INACTIVE = "status", "Active", "Inactive"
#: [V] An update answers 409 for a duplicate email or an invalid value; [A] a creation
#: refuses a duplicate ``workEmail`` with 409 too. Both are conflicts (the message tells).
CONFLICT_STATUSES = (409,)
#: [V] Writing ``yes`` checks a checkbox; anything else (we send ``no``) unchecks it.
CHECKED, UNCHECKED = "yes", "no"
#: Matching key -> the BambooHR field compared (case-insensitively).
LOOKUP_FIELDS: Mapping[str, str] = MappingProxyType(
    {"email": "workEmail", "employeeNumber": "employeeNumber"}
)
REPORT_FIELDS = ("firstName", "lastName", "workEmail", "employeeNumber", STATUS)
#: [V] ``POST /employees/{id}`` updates, answering 200 with an empty body; ``status``
#: (de)activates. [I] Deleting an employee takes OAuth (the SDK's spec): not an API key.
EMPLOYEES = Resource(
    noun="employee",
    item="/employees/{id}",
    lookups=LOOKUP_FIELDS,
    write="POST",
    status={True: {STATUS: ACTIVE}, False: {STATUS: INACTIVE}},
    delete=None,
    no_delete="it deletes them only for OAuth clients; set deprovision.action: deactivate",
)

#: BambooHR field <- SCIM path. All values are sent as strings [V]: dates ``yyyy-mm-dd``,
#: list fields (department, division, location) must name an existing option [V].
DEFAULT_FIELD_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "firstName": {"from": "name.givenName", "required": True},
        "lastName": {"from": "name.familyName", "required": True},
        "middleName": "name.middleName",
        "preferredName": "nickName",
        "workEmail": {
            "from": ['emails[type eq "work"].value', "emails[primary eq true].value"],
            "transform": ["lower"],
        },
        "employeeNumber": "enterprise:employeeNumber",
        "jobTitle": "title",
        "department": "enterprise:department",
        "division": "enterprise:division",
        "location": "hr:location",
        "hireDate": {"from": "hr:hireDate", "transform": [{"date": "%Y-%m-%d"}]},
        STATUS: {
            "from": "active",
            "transform": [{"bool_to": [ACTIVE, INACTIVE]}],
            "default": ACTIVE,
        },
    }
)


class BambooHrOptions(ConnectorOptions):
    """The ``options:`` of a ``type: bamboohr`` connection."""

    #: The company's BambooHR subdomain (``acme`` for acme.bamboohr.com) [V].
    company_domain: str = Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


#: The ``X-BambooHR-Error-Message`` header [V], else the newer JSON ``error`` body [V].
read_bamboohr_error = ErrorBody(
    header=ERROR_HEADER, message=(("error", "message"),), code=("error", "code")
)

#: How BambooHR's API answers; httpx's json= sends exactly "application/json", which
#: BambooHR requires [V].
PROFILE = ApiProfile(
    vendor="BambooHR",
    read_message=read_bamboohr_error,
    headers={"Accept": ACCEPT},
    throttle_statuses=THROTTLE_STATUSES,
    conflict_statuses=CONFLICT_STATUSES,
    gone="the BambooHR employee behind {path}",
    json_hint="(XML?)",
    paging=Whole(items=("employees",)),
)


#: A payload value as BambooHR's string form [V]; booleans as checkbox values.
field_value = as_text("BambooHR", CHECKED, UNCHECKED)


def api_client(setup: ConnectorSetup, company_domain: str) -> ApiClient:
    """The company's API at ``setup.base_url`` (the host; default :data:`API_HOST`)."""
    host = (setup.base_url or API_HOST).rstrip("/")
    return ApiClient(setup.http, API_ROOT.format(host=host, company=company_domain), PROFILE)


class BambooHrConnector(ResourceTarget):
    """BambooHR's API as a provisioning target.

    Args:
        setup: ``base_url`` is the API host (default :data:`API_HOST`); ``http`` carries
            the basic auth; ``options`` are validated by :class:`BambooHrOptions`.
    """

    type: ClassVar[str] = "bamboohr"
    default_field_map: ClassVar[Mapping[str, Any]] = DEFAULT_FIELD_MAP
    resource: ClassVar[Resource] = EMPLOYEES

    def __init__(self, setup: ConnectorSetup) -> None:
        self.options = BambooHrOptions.model_validate(dict(setup.options))
        self._api = api_client(setup, self.options.company_domain)

    async def check(self) -> None:
        """Read the field catalogue; raise AuthError on 401/403."""
        if not isinstance(self._api.json(await self._api.call("GET", FIELDS_PATH)), list | dict):
            raise PermanentError("BambooHR's field catalogue is not JSON")

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """Employees, active or not, whose ``key`` field equals ``value`` case-insensitively."""
        return await self._matching(self._report(), key, value)

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """Create the employee; the id comes from ``Location``. A taken email is a 409
        (ConflictError), as is any invalid value: the message tells them apart."""
        response = await self._api.call("POST", EMPLOYEES_PATH, self._body(payload))
        return RemoteAccount(id=_created_id(response), active=payload.get(STATUS) != INACTIVE)

    def _report(self) -> AsyncIterator[dict[str, Any]]:
        """Every employee, active or not, with ``REPORT_FIELDS``: the report is one answer."""
        query = {"title": REPORT_TITLE, "fields": list(REPORT_FIELDS)}
        return self._api.items(REPORT_PATH, REPORT_PARAMS, query=query)

    def _body(self, payload: Mapping[str, Any]) -> dict[str, str]:
        return {name: field_value(name, value) for name, value in payload.items()}


def _created_id(response: httpx.Response) -> str:
    """The id at the end of ``Location`` (``.../employees/123``), or its ``id=`` query."""
    location = httpx.URL(response.headers.get("Location", ""))
    last = location.path.rstrip("/").rsplit("/", 1)[-1]
    found = last if last.isascii() and last.isdigit() else location.params.get("id", "")
    if not (found.isascii() and found.isdigit()):
        raise PermanentError(
            f"BambooHR answered {response.status_code} without the new employee's id in "
            "Location; replaying the event links the employee by its matching key",
            status=response.status_code,
        )
    return found
