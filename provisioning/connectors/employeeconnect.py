"""EmployeeConnect (HR) as a source: employees read in full, then changed since a checkpoint.

EmployeeConnect publishes no API documentation: every fact below is **assumed** [A]
(target-apis.md §6 and §9), kept in this one block so that a sandbox check corrects it
in one place; the fake (tests/fakes/employeeconnect.py) enforces the same contract.
Behaviour, options and the read map: ``docs/connectors/employeeconnect.md``.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any, ClassVar

import httpx
from pydantic import Field

from provisioning.connectors.base import ConnectorOptions, ConnectorSetup, SourcePage
from provisioning.connectors.messages import ErrorBody
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.errors import PermanentError

__all__ = ["DEFAULT_READ_MAP", "EmployeeConnectOptions", "EmployeeConnectSource", "read_error"]

# -- vendor facts: ALL ASSUMED [A] (no public source; check them in a sandbox) ---------------

#: [A] ``GET {base_url}/api/employees?modifiedSince=<ISO>&page=<n>&pageSize=<n>``: every
#: employee (terminated ones too, with their status) without ``modifiedSince``, those whose
#: record changed at or after it with it; pages numbered from 1.
EMPLOYEES_PATH = "/api/employees"
SINCE_PARAM, PAGE_PARAM, SIZE_PARAM = "modifiedSince", "page", "pageSize"
FIRST_PAGE = 1
#: [A] The largest ``pageSize`` the API takes.
MAX_PAGE_SIZE = 500
#: [A] The answer: ``{"items": [employee, ...], "nextPage": <n> | null}``, null on the last.
ITEMS, NEXT_PAGE = "items", "nextPage"
#: [A] An employee's id and their manager's id (both ``employeeId`` values).
ID_FIELD, MANAGER_FIELD = "employeeId", "managerEmployeeId"
#: [A] ``status`` is ``Active`` or ``Terminated`` (compared case-insensitively here); any
#: other value fails that person with the reason rather than being guessed.
STATUSES: Mapping[str, bool] = MappingProxyType({"active": True, "terminated": False})
#: [A] Errors read ``{"message": "..."}`` (``{"error": "..."}`` is read too); 401/403 for a
#: bad key, 400 for a bad parameter, 429 with ``Retry-After`` when throttled.
read_error = ErrorBody(message=(("message",), ("error",), ("error", "message")))
#: [A] Auth is the connection's ``auth:``: a bearer token, or an API key in a header.

# -- our own choices ----------------------------------------------------------------------

#: The next incremental read starts this long before the first page was answered (by the
#: server's ``Date``): a change saved while the read ran, or stamped by a clock a little
#: behind, is read again rather than lost; re-reading an unchanged person costs nothing
#: (the run compares digests).
CHECKPOINT_OVERLAP = timedelta(minutes=5)
#: ``modifiedSince`` as sent: ISO 8601 in UTC, to the second.
ISO_INSTANT = "%Y-%m-%dT%H:%M:%SZ"

PROFILE = ApiProfile(
    vendor="EmployeeConnect",
    read_message=read_error,
    headers={"Accept": "application/json"},
    json_hint="(is base_url the EmployeeConnect site, without /api/employees?)",
)

#: SCIM path <- field of an EmployeeConnect employee. userName is the work email (S5.2:
#: ``field_map_extra: {userName: {from: employeeId, required: true}}`` makes it the HR id).
DEFAULT_READ_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "userName": {"from": "workEmail", "required": True},
        "externalId": ID_FIELD,
        "name.givenName": "firstName",
        "name.familyName": "lastName",
        "nickName": "preferredName",
        'emails[type eq "work"].value': "workEmail",
        "title": "jobTitle",
        "enterprise:employeeNumber": ID_FIELD,
        "enterprise:department": "department",
        "hr:location": "location",
        "hr:hireDate": "startDate",
        "hr:terminationDate": "terminationDate",
        "active": {
            "from": "status",
            "transform": ["strip", "lower", {"lookup": {"table": dict(STATUSES), "strict": True}}],
            "required": True,
        },
    }
)


class EmployeeConnectOptions(ConnectorOptions):
    """The ``options:`` of a ``type: employeeconnect`` connection."""

    #: The employees list below ``base_url`` (the assumed path, in case a sandbox differs).
    path: str = Field(EMPLOYEES_PATH, pattern=r"^/\S*$", max_length=200)
    #: Employees asked per page.
    page_size: int = Field(100, ge=1, le=MAX_PAGE_SIZE)


class EmployeeConnectSource:
    """A :class:`~provisioning.connectors.base.SourceConnector` for EmployeeConnect.

    Args:
        setup: ``base_url`` is the site root (``https://acme.employeeconnect.example``);
            ``http`` carries the bearer or API-key auth; ``options`` per
            :class:`EmployeeConnectOptions`.
    """

    type: ClassVar[str] = "employeeconnect"
    default_read_map: ClassVar[Mapping[str, Any]] = DEFAULT_READ_MAP
    options_model: ClassVar[Any] = EmployeeConnectOptions

    #: The ``source:`` settings a connection gets unless it gives its own.
    @classmethod
    def source_defaults(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """EmployeeConnect's records carry their id and their manager's under these names."""
        return {"id_field": ID_FIELD, "manager_field": MANAGER_FIELD}

    def __init__(self, setup: ConnectorSetup) -> None:
        self.options = EmployeeConnectOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url, PROFILE)

    async def check(self) -> None:
        """Read one employee: AuthError on 401/403, PermanentError if the answer is not
        the employee list (a wrong base URL or path)."""
        response = await self._get({PAGE_PARAM: str(FIRST_PAGE), SIZE_PARAM: "1"})
        _items(self._api.json(response))

    async def read_page(self, since: str | None, cursor: str | None) -> SourcePage:
        """One page of employees: all (``since`` None) or those modified since ``since``.

        The first page's checkpoint is the server's time of answering it, less
        :data:`CHECKPOINT_OVERLAP`.

        Raises:
            AuthError, RateLimited (with the ``Retry-After``), PermanentError: as the
            answer says; PermanentError too for an answer without its ``items`` list.
        """
        params = {PAGE_PARAM: cursor or str(FIRST_PAGE), SIZE_PARAM: str(self.options.page_size)}
        if since is not None:
            params[SINCE_PARAM] = since
        response = await self._get(params)
        body = self._api.json(response)
        following = body.get(NEXT_PAGE) if isinstance(body, dict) else None
        return SourcePage(
            records=_items(body),
            next=None if following in (None, "") else str(following),
            checkpoint=None if cursor else _checkpoint(response),
        )

    async def _get(self, params: Mapping[str, str]) -> httpx.Response:
        return await self._api.call("GET", self.options.path, params=params)


def _items(body: Any) -> list[Mapping[str, Any]]:
    items = body.get(ITEMS) if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise PermanentError(f"EmployeeConnect answered without an {ITEMS!r} list of employees")
    return items


def _checkpoint(response: httpx.Response) -> str:
    """When the server answered (its ``Date``; our clock if it sends none), less the overlap.

    A proxy may add a second ``Date``: the first that reads as a date is taken.
    """
    dates = (_server_time(value) for value in response.headers.get_list("Date"))
    answered = next((found for found in dates if found is not None), None) or datetime.now(UTC)
    return (answered - CHECKPOINT_OVERLAP).strftime(ISO_INSTANT)


def _server_time(header: str) -> datetime | None:
    try:
        return parsedate_to_datetime(header).astimezone(UTC)
    except (TypeError, ValueError):
        return None
