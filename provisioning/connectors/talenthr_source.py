"""TalentHR as a source: employees read from the directory, with their termination state.

Seed S2 (HR -> LMS, and the HR half of two-way). Behaviour, options, the default read map
and what is verified or assumed: ``docs/connectors/talenthr.md``, "As a source". The API's
shared facts (base URL, auth, ``Accept``, error body, the directory's paging) are the
target's, in :mod:`provisioning.connectors.talenthr`; the facts only a reader needs are
in the block below.
"""

import asyncio
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import Field

from provisioning.connectors.base import ConnectorOptions, ConnectorSetup, SourcePage
from provisioning.connectors.dates import TimeZoneName, as_date, today_in
from provisioning.connectors.paging import member
from provisioning.connectors.profile import ApiClient
from provisioning.connectors.talenthr import DEFAULT_BASE_URL, DIRECTORY_PATH, PROFILE
from provisioning.errors import PermanentError

__all__ = ["DEFAULT_READ_MAP", "TalentHrSource", "TalentHrSourceOptions", "employee_status"]

# -- vendor facts (target-apis.md §9) ----------------------------------------------------
#: [V] ``GET /directory?limit=&offset=&filter=``: limit at most 100, offset a row offset;
#: ``{"data": {"total", "rows"}}`` [I]. Read until ``total`` rows (or an empty page).
PAGE_LIMIT = 100
DIRECTORY_ROWS = ("data", "rows")
DIRECTORY_TOTAL = ("data", "total")
#: [V] ``GET /employees/{id}`` -> ``{"data": {...}}`` with ``termination_date``,
#: ``is_terminated``, ``is_future_rehire``, ``hire_date``, ``employee_number`` [I]. §9:
#: whether the directory lists terminated people is not confirmed, so each employee's
#: state is read here (``options.details``).
EMPLOYEE_PATH = "/employees/{id}"
#: [A] The leaver rule: a ``termination_date`` on or before today, and not a future
#: rehire. A later termination date leaves the employee active until that day [V].
FUTURE_REHIRE = "is_future_rehire"
TERMINATION_DATE = "termination_date"
#: Employee reads in flight at once while a page is completed (a page is 100 people; the
#: API allows 2,000 requests a minute [V]).
DETAIL_CONCURRENCY = 4

# -- fields the connector adds to each record ------------------------------------------
#: ``active`` or ``terminated`` as of today, by the leaver rule above.
STATUS = "status"
#: The last working day: the day before the termination's effective date.
LAST_DAY = "last_day"

#: SCIM path <- field of a TalentHR employee (S2.3 defaults and the optional fields).
DEFAULT_READ_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "userName": {"from": "email", "transform": ["lower"], "required": True},
        "name.givenName": "first_name",
        "name.familyName": "last_name",
        'emails[type eq "work"].value': {"from": "email", "transform": ["lower"]},
        "title": "job_title",
        "enterprise:employeeNumber": "employee_number",
        "enterprise:department": "department",
        "enterprise:division": "division",
        "hr:location": "location",
        "hr:language": "language",
        "hr:hireDate": "hire_date",
        "hr:terminationDate": LAST_DAY,
        "active": {
            "from": STATUS,
            "transform": [{"lookup": {"table": {"active": True}, "default": False}}],
            "default": True,
        },
    }
)


class TalentHrSourceOptions(ConnectorOptions):
    """The ``options:`` of a ``type: talenthr`` connection with ``direction: source``."""

    #: The directory's ``filter`` as TalentHR writes it (``location=36;department=2;``;
    #: ids from ``GET /directory/filters``): only those employees are read.
    filter: str | None = Field(None, min_length=1, max_length=500)
    #: Rows asked per directory page (TalentHR's maximum is 100).
    page_size: int = Field(PAGE_LIMIT, ge=1, le=PAGE_LIMIT)
    #: Read ``GET /employees/{id}`` for each employee (termination state, §9). ``false``
    #: trusts the directory rows: one request per 100 people instead of one per person,
    #: for accounts whose directory carries ``termination_date``.
    details: bool = True
    #: The company's time zone: a termination takes effect on its day there, not on the
    #: server's (a Paris leaver of today is one from midnight Paris time).
    timezone: TimeZoneName = "UTC"


def employee_status(employee: Mapping[str, Any], today: date) -> tuple[str, str | None]:
    """``(status, last working day)`` of an employee by the [A] leaver rule.

    A future rehire is kept active and given no last day; an employee whose termination
    takes effect later is active, with the day before it as their last.
    """
    ended = as_date(employee.get(TERMINATION_DATE))
    if ended is None or employee.get(FUTURE_REHIRE) is True:
        return "active", None
    last_day = (ended - timedelta(days=1)).isoformat()
    return ("terminated" if ended <= today else "active"), last_day


class TalentHrSource:
    """Reads TalentHR's employees (see the module docstring).

    Args:
        setup: ``base_url`` defaults to TalentHR's public API; ``http`` carries the basic
            auth (API key as username).
        today: the current date, for the leaver rule; by default the day in the
            ``timezone`` option.
    """

    type: ClassVar[str] = "talenthr"
    default_read_map: ClassVar[Mapping[str, Any]] = DEFAULT_READ_MAP
    options_model: ClassVar[Any] = TalentHrSourceOptions

    def __init__(self, setup: ConnectorSetup, *, today: Callable[[], date] | None = None) -> None:
        self.options = TalentHrSourceOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url or DEFAULT_BASE_URL, PROFILE)
        self._today = today or today_in(self.options.timezone)

    async def check(self) -> None:
        """One directory row: proves the key, the base URL and the filter."""
        await self._api.call("GET", DIRECTORY_PATH, params=self._params(0, 1))

    async def read_page(self, since: str | None, cursor: str | None) -> SourcePage:
        """One directory page, each row completed with its employee record.

        TalentHR has no "changed since" (§9, no webhooks either): every read is full and
        ``since`` is ignored.
        """
        offset = int(cursor or 0)
        response = await self._api.call(
            "GET", DIRECTORY_PATH, params=self._params(offset, self.options.page_size)
        )
        body = self._api.json(response)
        rows = _rows(body)
        records = await self._complete(rows) if self.options.details else rows
        today = self._today()
        for record in records:
            record[STATUS], record[LAST_DAY] = employee_status(record, today)
        page: list[Mapping[str, Any]] = list(records)
        return SourcePage(records=page, next=_next(body, offset, len(rows)))

    async def _complete(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each row with its ``GET /employees/{id}`` fields (they win over the row's)."""
        slots = asyncio.Semaphore(DETAIL_CONCURRENCY)

        async def one(row: dict[str, Any]) -> dict[str, Any]:
            ident = row.get("id")
            if ident in (None, ""):
                return row  # the run reports a record without an id
            async with slots:
                response = await self._api.call("GET", EMPLOYEE_PATH.format(id=ident))
            detail = self._api.json(response, "data")
            return {**row, **detail} if isinstance(detail, dict) else row

        return list(await asyncio.gather(*(one(row) for row in rows)))

    def _params(self, offset: int, limit: int) -> dict[str, str]:
        params = {"limit": str(limit), "offset": str(offset)}
        if self.options.filter:
            params["filter"] = self.options.filter
        return params


def _rows(body: Any) -> list[dict[str, Any]]:
    rows = member(body, DIRECTORY_ROWS)
    if not isinstance(rows, list):
        raise PermanentError("TalentHR answered /directory without data.rows")
    return [dict(row) for row in rows if isinstance(row, dict)]


def _next(body: Any, offset: int, count: int) -> str | None:
    """The next page's offset: none after an empty page or once ``total`` rows are read
    (a server capping ``limit`` sends short pages, so a short page is not the last)."""
    total = member(body, DIRECTORY_TOTAL)
    end = offset + count
    if count == 0 or (isinstance(total, int) and end >= total):
        return None
    return str(end)
