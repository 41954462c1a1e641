"""TalentHR as a target: people from the LMS become employees (seed S2.5, LMS -> HR).

Behaviour (hire, terminate, rehire under the same id; names resolved to ids; the hire date
fallback), sources ([V]/[I]/[A]) and limits: ``docs/connectors/talenthr.md``; every
vendor fact is in the block below.
"""

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from pydantic import Field

from provisioning.connectors.base import (
    ConnectorOptions,
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
)
from provisioning.connectors.catalog import Catalog, Catalogs
from provisioning.connectors.dates import TimeZoneName, as_date, today_in
from provisioning.connectors.messages import ErrorBody, FieldClash
from provisioning.connectors.paging import Offset
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.connectors.resource import Resource, ResourceTarget
from provisioning.errors import MappingError, TargetConfigError

__all__ = [
    "DEFAULT_FIELD_MAP",
    "TalentHrConnector",
    "TalentHrOptions",
    "hire_date",
    "read_talenthr_error",
]

# -- vendor facts -----------------------------------------------------------------------
#: [I] Pipedream's talenthr.app.mjs. Basic auth, API key as username, any password [V].
DEFAULT_BASE_URL = "https://pubapi.talenthr.io/v1"
#: [V] "All calls must have an Accept: application/json header value".
ACCEPT = "application/json"
HIRE_PATH = "/employees/hire"  # [I] POST, JSON -> {"data": {"id": ...}}
#: [V] ``/employees/{id}``: GET -> {"data": {...}}; PUT requires first_name, last_name and
#: email whatever it changes (``requires``): those a payload lacks are read first. The
#: public API deletes no employees. Lookups compare the directory's ``email``. [V] An
#: employee is terminated once ``termination_date`` has come: a later one is still active.
EMPLOYEES = Resource(
    noun="employee",
    item="/employees/{id}",
    envelope=("data",),
    lookups={"email": "email"},
    delete=None,
    ends="termination_date",
    requires=("first_name", "last_name", "email"),
)
UPDATE_REQUIRED = EMPLOYEES.requires
DIRECTORY_PATH = "/directory"  # [I] GET ?limit=&offset= -> {"data": {"rows": [...]}}
#: [V] limit defaults to 10, at most 100; read until an empty page, since a server capping
#: ``limit`` sends short ones.
DIRECTORY_PAGES = Offset(items=("data", "rows"), size=100)
EMPLOYMENT_STATUSES = "/employment-statuses"  # [I] -> {"data": [{"id", "name"}]}
#: Payload key -> (list endpoint, id field inside ``job_record``). [I]
JOB_RECORD_LOOKUPS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "job_title": ("/job-titles", "job_title_id"),
        "department": ("/departments", "department_id"),
        "location": ("/locations", "location_id"),
        "division": ("/divisions", "division_id"),
    }
)
#: [V] body {effective_date (required), termination_reason?, termination_type?,
#: regrettable_status?}; an effective date of today terminates at once.
TERMINATE_PATH = "/employees/{id}/terminate"
EFFECTIVE_DATE = "effective_date"
#: [V] body {hire_date, reports_to_employee_id, employment_status{employment_status_id},
#: ...}, all three required; only for a terminated employee, who keeps the same id; the
#: hire date must be strictly after the termination's effective date.
REHIRE_PATH = "/employees/{id}/rehire"
#: [A] Laravel-style validation failures: 422 with field errors; a taken email says so.
VALIDATION_STATUS = 422
FIELD_ERRORS = ("error", "errors")
TAKEN = "has already been taken"
#: [A] The employment status name seen in Pipedream's sample employee.
DEFAULT_EMPLOYMENT_STATUS = "Full-Time"
#: [A] Terminating an employee already terminated is refused: the connector reads the
#: employee first and does not ask twice.
#: [A] A terminated employee still shows the manager they had (``reports_to_employee_id``).
#: [A] ``compensation_record`` is optional on hire (Pipedream sends it only when given).

# -- payload keys -----------------------------------------------------------------------
HIRE_DATE = "hire_date"
#: Read only when ``hire_date`` is missing or invalid; never sent as such.
HIRE_DATE_FALLBACK = "hire_date_fallback"
EMPLOYMENT_STATUS = "employment_status"
MANAGER = "reports_to_employee_id"
#: Keys the hire call takes and ``PUT /employees/{id}`` does not (job records are
#: separate resources there [I]).
HIRE_ONLY = frozenset({HIRE_DATE, HIRE_DATE_FALLBACK, EMPLOYMENT_STATUS, *JOB_RECORD_LOOKUPS})

#: TalentHR field <- SCIM path. Names, not ids: the connector resolves them.
DEFAULT_FIELD_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "first_name": {"from": "name.givenName", "required": True},
        "last_name": {"from": "name.familyName", "required": True},
        "email": {
            "from": ['emails[type eq "work"].value', "emails[primary eq true].value"],
            "transform": ["lower"],
            "required": True,
        },
        HIRE_DATE: "hr:hireDate",
        HIRE_DATE_FALLBACK: "meta.created",
        "job_title": "title",
        "department": "enterprise:department",
        "division": "enterprise:division",
        "location": "hr:location",
        MANAGER: {"transform": [{"manager": "remote_id"}]},
    }
)


class TalentHrOptions(ConnectorOptions):
    """The ``options:`` of a ``type: talenthr`` connection."""

    #: Name of the employment status given to every hire (a payload
    #: ``employment_status`` overrides it per user).
    employment_status: str = Field(DEFAULT_EMPLOYMENT_STATUS, min_length=1)
    #: ``true``: TalentHR sends no invitation email to the new employee.
    prevent_email: bool = False
    #: ``true``: the person already works here (LMS users), so TalentHR skips onboarding.
    is_existing: bool = True
    #: Sent as ``compensation_record`` on every hire, if the account requires one.
    compensation_record: dict[str, Any] | None = None
    #: Manager (TalentHR employee id) of a rehired employee whose former manager is gone
    #: or no longer active: TalentHR's rehire requires an active manager [V].
    rehire_manager_id: int | None = Field(None, ge=1)
    #: ``termination_type`` sent on termination [V]; None lets TalentHR default to
    #: ``termination``.
    termination_type: Literal["termination", "resignation"] | None = None
    #: The company's time zone: the day written as a termination's or a rehire's
    #: effective date is today there, not on the server's clock.
    timezone: TimeZoneName = "UTC"


#: [V] The message is under ``error``: a string, or ``{message, errors}`` for a validation
#: failure, whose field errors are added.
read_talenthr_error = ErrorBody(message=(("error",), ("error", "message")), fields=FIELD_ERRORS)

#: How TalentHR's API answers: its ``error`` member, and a 422 naming a taken email.
PROFILE = ApiProfile(
    vendor="TalentHR",
    read_message=read_talenthr_error,
    headers={"Accept": ACCEPT},
    is_conflict=FieldClash(VALIDATION_STATUS, FIELD_ERRORS, {"email"}, (TAKEN,)),
    gone="the TalentHR employee behind {path}",
    paging=DIRECTORY_PAGES,
)


def hire_date(payload: Mapping[str, Any]) -> str:
    """The hire date to send: ``hire_date`` if valid, else the creation date (S2.5).

    Raises:
        MappingError: neither is a valid date (the message names no value).
    """
    for key in (HIRE_DATE, HIRE_DATE_FALLBACK):
        day = as_date(payload.get(key))
        if day is not None:
            return day.isoformat()
    raise MappingError(
        f"{HIRE_DATE}: no valid hire date, and no creation date ({HIRE_DATE_FALLBACK}) either"
    )


class TalentHrConnector(ResourceTarget):
    """TalentHR's public API as a provisioning target.

    Args:
        setup: ``base_url`` defaults to :data:`DEFAULT_BASE_URL`; ``http`` carries the
            basic auth; ``options`` are validated by :class:`TalentHrOptions`.
        today: the current date, for termination and rehire dates.
    """

    type: ClassVar[str] = "talenthr"
    default_field_map: ClassVar[Mapping[str, Any]] = DEFAULT_FIELD_MAP
    resource: ClassVar[Resource] = EMPLOYEES

    def __init__(self, setup: ConnectorSetup, *, today: Callable[[], date] | None = None) -> None:
        self.options = TalentHrOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url or DEFAULT_BASE_URL, PROFILE)
        self._today = today or today_in(self.options.timezone)
        self._catalogs = Catalogs(self._api)  # names resolved to ids, read again on a miss

    async def check(self) -> None:
        """Resolve the configured employment status: proves the key and the setting."""
        await self._resolve(EMPLOYMENT_STATUSES, self.options.employment_status, EMPLOYMENT_STATUS)

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """Employees whose email is ``value`` (case-insensitively), from the directory."""
        return await self._matching(self._api.items(DIRECTORY_PATH), key, value)

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """Hire the employee; a taken email is a ConflictError."""
        response = await self._api.call("POST", HIRE_PATH, await self._hire_body(payload))
        return self._account(self._record(response))

    async def deactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Terminate as of today; an employee already terminated, or gone, is left alone."""
        employee = await self._read(account.id)
        if employee is None or self._ended(employee):
            return
        body: dict[str, Any] = {EFFECTIVE_DATE: self._today().isoformat()}
        if self.options.termination_type is not None:
            body["termination_type"] = self.options.termination_type
        await self._api.call("POST", TERMINATE_PATH.format(id=account.id), body, gone=account)

    async def reactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Rehire the same employee as of today (or the day after the termination).

        An employee not terminated is left alone. The manager is the one on record while
        they are still active, else ``options.rehire_manager_id``; the employment status
        is ``options.employment_status``.
        """
        employee = await self._current(account.id)
        if not self._ended(employee):
            return
        status = self.options.employment_status
        status_id = await self._resolve(EMPLOYMENT_STATUSES, status, EMPLOYMENT_STATUS)
        body = {
            HIRE_DATE: self._rehire_date(employee).isoformat(),
            MANAGER: await self._rehire_manager(employee),
            EMPLOYMENT_STATUS: {"employment_status_id": status_id},
            "prevent_email": self.options.prevent_email,
            "is_existing": self.options.is_existing,
        }
        await self._api.call("POST", REHIRE_PATH.format(id=account.id), body, gone=account)

    # -- termination and rehire ------------------------------------------------------------

    def _rehire_date(self, employee: Mapping[str, Any]) -> date:
        """Today, unless that is not strictly after the termination [V] (terminated today)."""
        ended = as_date(employee.get("termination_date"))
        today = self._today()
        return today if ended is None or today > ended else ended + timedelta(days=1)

    async def _rehire_manager(self, employee: Mapping[str, Any]) -> int:
        """The manager on record if still an active employee, else the configured one."""
        former = employee.get(MANAGER)
        if isinstance(former, int | str) and str(former).isascii() and str(former).isdigit():
            manager = await self._read(str(former))
            if manager is not None and not self._ended(manager):
                return int(former)
        if self.options.rehire_manager_id is not None:
            return self.options.rehire_manager_id
        raise TargetConfigError(
            f"TalentHR requires an active manager to rehire employee {employee.get('id')}, "
            "and their former manager is gone or no longer active; "
            "set options.rehire_manager_id"
        )

    # -- hiring ---------------------------------------------------------------------------

    def _body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """An update's body: the personal fields (job records and hire date are hire-only)."""
        return _common_fields(payload)

    async def _hire_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        status = payload.get(EMPLOYMENT_STATUS) or self.options.employment_status
        status_id = await self._resolve(EMPLOYMENT_STATUSES, status, EMPLOYMENT_STATUS)
        job_record = {
            id_field: await self._resolve(path, payload[key], key)
            for key, (path, id_field) in JOB_RECORD_LOOKUPS.items()
            if payload.get(key)
        }
        extra = {"job_record": job_record} if job_record else {}
        if self.options.compensation_record is not None:
            extra["compensation_record"] = self.options.compensation_record
        return {
            **_common_fields(payload),
            HIRE_DATE: hire_date(payload),
            EMPLOYMENT_STATUS: {"employment_status_id": status_id},
            **extra,
            "prevent_email": self.options.prevent_email,
            "is_existing": self.options.is_existing,
        }

    async def _resolve(self, path: str, name: Any, key: str) -> int:
        """The id of the entry called ``name`` in a list endpoint (read again on a miss)."""
        label = key.replace("_", " ")
        if not isinstance(name, str):
            raise MappingError(f"{label}: takes a name, not a {type(name).__name__}")
        return int(await self._catalogs.key(Catalog(label, path, items=("data",)), name))


def _common_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in payload.items() if key not in HIRE_ONLY}
    if isinstance(body.get(MANAGER), str) and body[MANAGER].isascii() and body[MANAGER].isdigit():
        body[MANAGER] = int(body[MANAGER])  # the manager's remote id, as TalentHR's integer
    return body
