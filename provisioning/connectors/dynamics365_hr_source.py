"""Dynamics 365 Human Resources as a source: workers read over the F&O OData API (S1.2).

Behaviour, configuration and limits: ``docs/connectors/dynamics365-hr.md`` ("As a source").
The write-back target of the same ``type`` is :mod:`provisioning.connectors.dynamics365_hr`;
this module reuses its OData profile, its ``$metadata`` reader and its error reader.

Vendor facts, verified [V] or assumed [A] (target-apis.md §0, §1a), kept in the
constants below:

- [V] ``GET /data/Workers`` with ``$select``; server-driven paging, at most 10,000 rows a
  page, the next one named by ``@odata.nextLink``; only the default company unless
  ``?cross-company=true``.
- [V] Worker fields of the dual-write map: ``PersonnelNumber, FirstName, MiddleName,
  LastName, Name, WorkerType, WorkerStatus, PrimaryContactEmail, PrimaryContactPhone``
  (``Gender`` and ``BirthDate`` exist too: never read, nothing downstream needs them).
- [V] Employment (hr-employ-v2): ``PersonnelNumber, LegalEntityId, EmploymentStartDate,
  EmploymentEndDate`` (``Edm.DateTimeOffset``).
- [A] The employment entity set's name (``Employments``): an option, read only when set.
- [A] ``WorkerStatus`` is the ``HcmWorkerStatus`` enum, ``Employed`` for a current worker.
- [A] ``1900-01-01T00:00:00Z`` is F&O's empty date, and ``2154-12-31`` (its largest) the
  end of an employment that has none: both read as no date.
- [A] A property ``$select`` names that the entity lacks is a 400 whose inner message says
  "Could not find a property named".
- [A] Whether the Workers entity itself is per company: ``cross-company=true`` is sent by
  default, harmless on a shared entity.
- [V] 429 with ``Retry-After`` (seconds) when throttled; the run waits and asks again.
- [A] No sound "changed since" on workers (no modified-date property is published on the
  entity): every read is a full read.
"""

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field

from provisioning.connectors.base import ConnectorOptions, ConnectorSetup, SourcePage
from provisioning.connectors.dynamics365_hr import (
    CUSTOM_SUFFIX,
    PERSONNEL_NUMBER,
    PRIMARY_EMAIL,
    PROFILE,
    WORKERS,
    parse_metadata,
    read_odata_error,
)
from provisioning.connectors.paging import MAX_PAGES
from provisioning.connectors.profile import ApiClient
from provisioning.errors import PermanentError, TargetConfigError

__all__ = ["DEFAULT_READ_MAP", "Dynamics365HrSource", "Dynamics365HrSourceOptions"]

#: [V] The worker's standard fields read by default, when ``$metadata`` publishes them.
STANDARD_FIELDS = (
    PERSONNEL_NUMBER,
    "FirstName",
    "MiddleName",
    "LastName",
    "Name",
    "WorkerType",
    "WorkerStatus",
    PRIMARY_EMAIL,
    "PrimaryContactPhone",
)
#: [A] The ``WorkerStatus`` member of a current worker.
EMPLOYED = "Employed"
#: [V] Employment fields (hr-employ-v2); the start and end are merged into the worker.
EMPLOYMENT_START = "EmploymentStartDate"
EMPLOYMENT_END = "EmploymentEndDate"
EMPLOYMENT_FIELDS = (PERSONNEL_NUMBER, EMPLOYMENT_START, EMPLOYMENT_END)
#: [A] F&O's "empty" date, and the end date of a date-effective row that never ends.
EMPTY_DATE = "1900-01-01T00:00"
NEVER_DATE = "2154-12-31"
#: [V] Query option reading every company's rows, not only the default company's.
CROSS_COMPANY = "cross-company"
#: [A] ODataLib's message for a ``$select`` of a property the type lacks.
UNKNOWN_SELECTED = "Could not find a property named"
#: Employments held for one run (about 150 bytes each): a bound no tenant reaches.
MAX_EMPLOYMENTS = 1_000_000
#: Characters left readable in query values: ``$select``'s commas, literals' quotes.
QUERY_SAFE = "',"

#: SCIM path <- worker field. userName is the work email in lower case: the value the IdP
#: signs people in with, compared case-insensitively downstream (S1.3).
DEFAULT_READ_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "userName": {"from": PRIMARY_EMAIL, "transform": ["lower"], "required": True},
        "name.givenName": "FirstName",
        "name.middleName": "MiddleName",
        "name.familyName": "LastName",
        "displayName": "Name",
        'emails[type eq "work"].value': {"from": PRIMARY_EMAIL, "transform": ["lower"]},
        'phoneNumbers[type eq "work"].value': "PrimaryContactPhone",
        "enterprise:employeeNumber": PERSONNEL_NUMBER,
        "hr:hireDate": {"from": EMPLOYMENT_START, "transform": ["date"]},
        "hr:terminationDate": {"from": EMPLOYMENT_END, "transform": ["date"]},
        "active": {
            "from": "WorkerStatus",
            "transform": [{"lookup": {"table": {EMPLOYED: True}, "default": False}}],
            "default": True,
        },
    }
)


class Dynamics365HrSourceOptions(ConnectorOptions):
    """The ``options:`` of a ``dynamics365_hr`` source (``base_url`` is ``.../data``).

    ``entity_set`` and ``custom_field_suffix`` are the write-back target's options too, so
    one connection with ``direction: both`` can use them; the others are the source's.
    """

    #: The workers' entity set.
    entity_set: str = Field(WORKERS, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: What ends a custom field's OData name.
    custom_field_suffix: str = Field(CUSTOM_SUFFIX, min_length=1)
    #: Custom fields read (OData names); each must be published on the entity, else the
    #: run fails with a retryable configuration error. None: every one published.
    custom_fields: tuple[str, ...] | None = None
    #: Read every company's workers (``cross-company=true``), not the default company's.
    cross_company: bool = True
    #: The employments' entity set: set it to read hire and termination dates.
    employment_entity_set: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class Dynamics365HrSource:
    """Reads workers page by page, in full (see the module docstring).

    Args:
        setup: ``base_url`` is the OData root (``https://<env>.operations.dynamics.com/data``);
            ``http`` carries the ``microsoft`` auth; ``options`` per
            :class:`Dynamics365HrSourceOptions`.
    """

    type: ClassVar[str] = "dynamics365_hr"
    default_read_map: ClassVar[Mapping[str, Any]] = DEFAULT_READ_MAP
    options_model: ClassVar[Any] = Dynamics365HrSourceOptions

    @classmethod
    def source_defaults(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """A worker is keyed by its personnel number, and the Worker entity names no manager."""
        return {"id_field": PERSONNEL_NUMBER, "manager_field": None}

    def __init__(self, setup: ConnectorSetup) -> None:
        self.options = Dynamics365HrSourceOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url, PROFILE)
        self._fields: tuple[str, ...] | None = None
        self._employments: dict[str, dict[str, Any]] | None = None
        self._pages = 0

    async def check(self) -> None:
        """Read one worker (proves the token and the app's F&O registration) and the
        fields to select from ``$metadata``.

        Raises AuthError on 401/403, TargetConfigError when a configured custom field is
        not published (yet).
        """
        self._api.json(
            await self._get(self._collection({"$top": "1", "$select": PERSONNEL_NUMBER}))
        )
        await self._selected()

    async def read_page(self, since: str | None, cursor: str | None) -> SourcePage:
        """One page of workers; ``since`` is ignored: every read is a full one.

        Raises:
            TargetConfigError: a configured custom field is not published, or HR refused
                one it published (retryable: new fields take minutes to appear).
            PermanentError: a next link off the configured service, a page without its
                ``value`` list, or more pages than any honest answer has.
        """
        fields = await self._selected()
        employments = await self._employment_dates()
        self._pages += 1
        if self._pages > MAX_PAGES:
            raise PermanentError(f"HR answered more than {MAX_PAGES} pages of workers")
        url = self._collection({"$select": ",".join(fields)}) if cursor is None else cursor
        response = await self._get(url)
        # In a thread: a page of 10,000 workers (3.5 MB) takes 58 ms to parse and map here.
        return await asyncio.to_thread(self._page, response, employments)

    def _page(
        self, response: httpx.Response, employments: Mapping[str, dict[str, Any]]
    ) -> SourcePage:
        body = self._api.json(response)
        rows = body.get("value") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise PermanentError(f"HR answered {self.options.entity_set} without a value list")
        records: list[Mapping[str, Any]] = [
            _worker(row, employments) for row in rows if isinstance(row, dict)
        ]
        return SourcePage(records=records, next=self._next_link(body))

    # -- what is read ----------------------------------------------------------------------

    async def _selected(self) -> tuple[str, ...]:
        """The standard fields and the custom fields to ``$select``, from ``$metadata``."""
        if self._fields is None:
            entity_type, published = await self._published()
            suffix = self.options.custom_field_suffix
            custom = self.options.custom_fields
            if custom is None:
                custom = tuple(name for name in published if name.endswith(suffix))
            missing = [name for name in custom if name not in published]
            if missing:
                raise TargetConfigError(
                    f"custom fields not published on {entity_type} "
                    f"({self.options.entity_set}): {', '.join(missing)}; create them and "
                    "enable them for the entity in HR (Custom fields > Entities): new fields "
                    "can take minutes to appear, the next run reads them"
                )
            standard = tuple(name for name in STANDARD_FIELDS if name in published)
            self._fields = standard + tuple(name for name in custom if name not in standard)
        return self._fields

    async def _published(self) -> tuple[str, Mapping[str, str]]:
        """The workers' entity type and its properties (name -> type), from ``$metadata``."""
        response = await self._api.call("GET", "/$metadata", headers={"Accept": "application/xml"})
        try:
            # An empty suffix keeps every property, the standard fields with the custom ones.
            # In a thread: 8 MB of CSDL (3,000 entity types) parse in 0.23 s here, and a full
            # environment's is tens of MB: the SCIM requests sharing this event loop in
            # ``scimgw serve`` would stall for about a second.
            schema = await asyncio.to_thread(
                parse_metadata, response.content, self.options.entity_set, ""
            )
        except ET.ParseError:
            raise PermanentError("HR answered $metadata without a CSDL document") from None
        if PERSONNEL_NUMBER not in schema.properties:
            raise TargetConfigError(
                f"{schema.entity_type} has no {PERSONNEL_NUMBER}: "
                "point options.entity_set at the workers"
            )
        return schema.entity_type, schema.properties

    async def _employment_dates(self) -> Mapping[str, dict[str, Any]]:
        """Each worker's latest employment's dates, read once a run (when configured)."""
        entity_set = self.options.employment_entity_set
        if entity_set is None:
            return {}
        if self._employments is None:
            latest: dict[str, dict[str, Any]] = {}
            query = {"$select": ",".join(EMPLOYMENT_FIELDS), **self._company()}
            async for row in self._api.items(_with_query(f"/{entity_set}", query)):
                number = row.get(PERSONNEL_NUMBER)
                if number in (None, ""):
                    continue
                if len(latest) >= MAX_EMPLOYMENTS and str(number) not in latest:
                    raise PermanentError(f"HR answered more than {MAX_EMPLOYMENTS} employments")
                _keep_latest(latest, str(number), row)
            self._employments = latest
        return self._employments

    # -- HTTP ------------------------------------------------------------------------------

    def _collection(self, query: Mapping[str, str]) -> str:
        return _with_query(f"/{self.options.entity_set}", {**query, **self._company()})

    def _company(self) -> dict[str, str]:
        return {CROSS_COMPANY: "true"} if self.options.cross_company else {}

    async def _get(self, url: str) -> httpx.Response:
        response = await self._api.call("GET", url, tolerate=_unknown_selected)
        if _unknown_selected(response):
            self._fields = None  # unpublished since $metadata was read: read it again
            raise TargetConfigError(f"HR refused a selected field: {read_odata_error(response)}")
        return response

    def _next_link(self, body: Mapping[str, Any]) -> str | None:
        link = body.get("@odata.nextLink")
        if link in (None, ""):
            return None
        # The token goes with every request: never follow a link off the configured service.
        if not isinstance(link, str) or not link.startswith(self._api.base + "/"):
            raise PermanentError("HR's next page link leaves the configured service")
        return link


def _with_query(path: str, query: Mapping[str, str]) -> str:
    """Spaces as %20 (OData URL conventions), ``$`` names and ``$select`` commas readable."""
    if not query:
        return path
    return path + "?" + "&".join(f"{k}={quote(v, safe=QUERY_SAFE)}" for k, v in query.items())


def _unknown_selected(response: httpx.Response) -> bool:
    return response.status_code == 400 and UNKNOWN_SELECTED in (read_odata_error(response) or "")


def _keep_latest(latest: dict[str, dict[str, Any]], number: str, row: Mapping[str, Any]) -> None:
    """Keep the employment that started last (a rehire, a move to another company)."""
    start = _date(row.get(EMPLOYMENT_START))
    held = latest.get(number)
    if held is None or (start or "") >= (held[EMPLOYMENT_START] or ""):
        latest[number] = {EMPLOYMENT_START: start, EMPLOYMENT_END: _date(row.get(EMPLOYMENT_END))}


def _worker(row: Mapping[str, Any], employments: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The worker as HR sent it, F&O's empty dates as none, its employment's dates added."""
    record = {name: _date(value) for name, value in row.items()}
    dates = employments.get(str(record.get(PERSONNEL_NUMBER)))
    if dates is not None:
        record.update(dates)
    return record


def _date(value: Any) -> Any:
    """None for F&O's empty and "never" dates, any other value as it is."""
    if isinstance(value, str) and value.startswith((EMPTY_DATE, NEVER_DATE)):
        return None
    return value
