"""Contract fake of the EmployeeConnect employees API, as scimgw assumes it.

EmployeeConnect publishes no API documentation: every rule here is **assumed** [A], the
minimal contract of target-apis.md §6, the same as the fact block of
``provisioning/connectors/employeeconnect.py`` (docs/connectors/employeeconnect.md lists it):

- [A] ``Authorization: Bearer <token>`` or ``X-API-Key: <key>`` on every request, else 401
  ``{"message": ...}``;
- [A] ``GET /api/employees?page=&pageSize=[&modifiedSince=]``: employees in id order,
  ``page`` from 1, ``pageSize`` 1 to 500 (else 400); ``{"items": [...], "nextPage": n |
  null}``; terminated employees stay in the list with ``status: "Terminated"``;
- [A] ``modifiedSince`` is an ISO 8601 instant (400 otherwise; without a zone it is UTC):
  only employees whose record changed at or after it;
- [A] 429 with ``Retry-After`` when throttled (``throttle(n)``: the next n requests);
- every answer carries the server's ``Date`` (the connector's checkpoint is read from it).

Use it through ``httpx.ASGITransport(app=fake.app)``, or ``python -m tests.fakes serve
employeeconnect``. Tests give it their clock to make changes at known times.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.catalog import Served

TOKEN = "ec-token"
API_KEY = "ec-api-key"
MAX_PAGE_SIZE = 500


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class EmployeeConnectFake:
    """One EmployeeConnect site: its employees, credentials and clock; tests edit them."""

    token: str = TOKEN
    api_key: str = API_KEY
    clock: Callable[[], datetime] = _utcnow
    employees: dict[str, dict[str, Any]] = field(default_factory=dict)
    modified: dict[str, datetime] = field(default_factory=dict)
    #: The query string of every request, in order.
    requests: list[str] = field(default_factory=list)
    _throttled: int = 0

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/api/employees", self._list)])

    # -- what tests do -----------------------------------------------------------------

    def add(self, **record: Any) -> dict[str, Any]:
        """Add (or replace) an employee; ``employeeId`` is required."""
        employee_id = str(record["employeeId"])
        self.employees[employee_id] = record
        self.modified[employee_id] = self.clock()
        return record

    def update(self, employee_id: str, **fields: Any) -> None:
        self.employees[employee_id].update(fields)
        self.modified[employee_id] = self.clock()

    def terminate(self, employee_id: str, day: str) -> None:
        """The employee leaves: status Terminated, last day ``day`` (ISO)."""
        self.update(employee_id, status="Terminated", terminationDate=day)

    def throttle(self, requests: int) -> None:
        """Answer the next ``requests`` requests 429 with ``Retry-After: 1``."""
        self._throttled = requests

    # -- the API -----------------------------------------------------------------------

    async def _list(self, request: Request) -> JSONResponse:
        self.requests.append(str(request.url.query))
        if not self._authorised(request):
            return self._answer({"message": "invalid or missing credentials"}, 401)
        if self._throttled > 0:
            self._throttled -= 1
            return self._answer({"message": "too many requests"}, 429, {"Retry-After": "1"})
        try:
            page, size, since = _query(request)
        except ValueError as exc:
            return self._answer({"message": str(exc)}, 400)
        ids = sorted(self.employees)
        if since is not None:
            ids = [i for i in ids if self.modified[i] >= since]
        chunk = ids[(page - 1) * size : page * size]
        more = page * size < len(ids)
        body = {"items": [self.employees[i] for i in chunk], "nextPage": page + 1 if more else None}
        return self._answer(body, 200)

    def _authorised(self, request: Request) -> bool:
        bearer = request.headers.get("authorization") == f"Bearer {self.token}"
        return bearer or request.headers.get("x-api-key") == self.api_key

    def _answer(
        self, body: Any, status: int, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        dated = {"Date": format_datetime(self.clock(), usegmt=True), **(headers or {})}
        return JSONResponse(body, status, headers=dated)


def _query(request: Request) -> tuple[int, int, datetime | None]:
    """page, pageSize and modifiedSince; ValueError with the message of a 400."""
    params = request.query_params
    page, size = params.get("page", "1"), params.get("pageSize", "100")
    if not page.isdigit() or int(page) < 1:
        raise ValueError("page must be an integer from 1")
    if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
        raise ValueError(f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}")
    raw = params.get("modifiedSince")
    if raw is None:
        return int(page), int(size), None
    try:
        since = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError("modifiedSince must be an ISO 8601 date and time") from None
    return int(page), int(size), since if since.tzinfo else since.replace(tzinfo=UTC)


def employee(number: int, **extra: Any) -> dict[str, Any]:
    """A plausible EmployeeConnect employee record."""
    record: dict[str, Any] = {
        "employeeId": f"EC{number:04d}",
        "firstName": f"First{number}",
        "lastName": f"Last{number}",
        "preferredName": None,
        "workEmail": f"person{number}@acme.com.au",
        "status": "Active",
        "startDate": "2021-02-01",
        "terminationDate": None,
        "managerEmployeeId": None,
        "department": "Operations",
        "location": "Sydney",
        "jobTitle": "Coordinator",
    }
    record.update(extra)
    return record


def serve(people: int) -> Served:
    """The fake with ``people`` employees (the first manages the others), its clock the
    real one. Every third works in Melbourne, every fourth in Perth, every fifth has an
    agency email: the seed S5 example's scope keeps the last two out."""
    fake = EmployeeConnectFake()
    for number in range(1, people + 1):
        fake.add(**employee(number, managerEmployeeId="EC0001" if number > 1 else None))
        if number % 3 == 0:
            fake.update(f"EC{number:04d}", location="Melbourne")
        if number % 4 == 0:
            fake.update(f"EC{number:04d}", location="Perth")
        if number % 5 == 0:
            fake.update(f"EC{number:04d}", workEmail=f"temp{number}@agency.example")
    return Served(
        app=fake.app,
        notes=[
            f"auth: bearer token {fake.token!r}, or header X-API-Key: {fake.api_key!r}",
            f"{people} employees, EC0001 to EC{people:04d}; EC0001 manages the others",
            "in Sydney but every 3rd in Melbourne, every 4th in Perth; every 5th has an "
            "agency email",
            "the employees list is /api/employees (the connector's default path)",
        ],
    )
