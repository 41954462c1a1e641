"""Contract fake of BambooHR's API-key ("gateway") API (target-apis.md §3).

What it enforces, and on what authority:

- [V] basic auth with the API key as username and any password; JSON only with
  ``Accept: application/json`` (XML otherwise); ``POST /employees`` needs firstName and
  lastName (400), answers 201 with an empty body and ``Location: .../employees/{id}``;
  ``POST /employees/{id}`` answers 200 empty, 404 for an unknown id, 409 for an invalid
  value or a duplicate work email; error messages in ``X-BambooHR-Error-Message`` with an
  empty body; list fields take existing options only; dates ``yyyy-mm-dd``; checkbox
  writes: ``yes`` or ``checkbox`` check, anything else unchecks; ``/reports/custom`` lists
  active and inactive employees, drops unknown fields, and parses a Content-Type other than
  exactly ``application/json`` as XML (400 "Malformed XML"); throttling is 503 with
  ``Retry-After`` (429 from 2026-09-16: ``throttle_status=429``); ``/reports/custom``
  takes at most 400 fields and ``filters.lastChanged`` / ``filters.employeeIds``;
  ``GET /employees/changed?since=`` lists ids inserted, updated or deleted since then
  with ``latest``, 400 on a bad ``since``.
- [A] the exact header texts; the same Content-Type rule on ``/employees``; 409 on a
  duplicate work email at creation too; unknown field names on writes refused (400);
  non-string values refused (400); ``status`` writable by an update; ``lastChanged``
  read-only, moved by every write (a checkbox edit included) and compared inclusively by
  the report's filter; the report describes the fields it returns by the names asked.

Use it through ``httpx.ASGITransport(app=fake.app)``; the API root is
``http://<host>/api/gateway.php/<company>/v1``.
"""

import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.catalog import Served
from tests.fakes.common import FixedWindow, basic_username

Handler = Callable[[Request], Awaitable[Response]]

ERROR_HEADER = "X-BambooHR-Error-Message"
ROOT = "/api/gateway.php/{company}/v1"
#: Field name -> type, as ``/meta/fields`` describes them [V names and types].
FIELDS: dict[str, str] = {
    "employeeNumber": "text",
    "status": "status",
    "firstName": "text",
    "middleName": "text",
    "lastName": "text",
    "preferredName": "text",
    "workEmail": "email",
    "jobTitle": "list",
    "department": "list",
    "division": "list",
    "location": "list",
    "hireDate": "date",
    "originalHireDate": "date",
    "terminationDate": "date",
    "supervisorEId": "text",
    "lastChanged": "timestamp",
}
READ_ONLY = frozenset({"lastChanged"})
MAX_REPORT_FIELDS = 400  # [V]
API_KEY = "bamboohr-demo-key-4c1f"
DUPLICATE_EMAIL = "Duplicate work email address."  # [A] text; the 409 is [V]
_YMD = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Failure:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


def refuse(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """BambooHR's legacy error: an empty body, the message in a header [V]."""
    return Response(b"", status, headers={ERROR_HEADER: message, **(headers or {})})


class BambooHrFake:
    """An in-memory BambooHR company.

    Args:
        api_key: the only key accepted (as the basic-auth username).
        company: the company domain in the URL.
        options: the options of each list field (``department``...).
        checkboxes: names of custom checkbox fields (``customRemote``...).
        throttle_status: 503 (BambooHR's historical throttle) or 429.
        rate_limit: requests per ``window`` seconds before throttling.
        clock: monotonic seconds, for the rate window.
        wall_clock: the time ``lastChanged`` records (UTC).
    """

    def __init__(
        self,
        api_key: str,
        company: str = "acme",
        *,
        options: Mapping[str, Iterable[str]] | None = None,
        checkboxes: Iterable[str] = ("customRemoteWorker", "skip_elevo_sync"),
        throttle_status: int = 503,
        rate_limit: int = 1000,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_key, self.company = api_key, company
        lists = {**_default_options(), **(options or {})}
        self.options = {name: set(values) for name, values in lists.items()}
        self.fields = {**FIELDS, **dict.fromkeys(checkboxes, "checkbox")}
        self.employees: dict[int, dict[str, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.throttle_status, self.rate_limit, self.window = throttle_status, rate_limit, window
        self.clock, self.wall_clock = clock, wall_clock
        self.deleted: dict[int, str] = {}
        self.created: dict[int, str] = {}
        self.reports: list[dict[str, Any]] = []
        self._window = FixedWindow(rate_limit, window, clock)
        self._failures: list[Failure] = []
        self._next_id = 40
        employee = f"{ROOT}/employees/{{id:int}}"
        self.app = Starlette(
            routes=[
                Route(f"{ROOT}/meta/fields", self._guard(self._meta_fields), methods=["GET"]),
                Route(f"{ROOT}/employees", self._guard(self._create), methods=["POST"]),
                Route(employee, self._guard(self._get), methods=["GET"], name="employee"),
                Route(employee, self._guard(self._update), methods=["POST"]),
                Route(f"{ROOT}/reports/custom", self._guard(self._report), methods=["POST"]),
                Route(f"{ROOT}/employees/changed", self._guard(self._changed), methods=["GET"]),
            ]
        )

    # -- test controls ------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (before any other check)."""
        self._failures.extend([Failure(status, headers or {}, body)] * times)

    def throttle_next(self, status: int = 429, retry_after: int | None = 1) -> None:
        """Throttle the next request: 429 always carries ``Retry-After`` [V]; the legacy
        503 may not."""
        wait = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self._failures.append(Failure(status, {ERROR_HEADER: "Rate limited", **wait}))

    def add_employee(self, **fields: str) -> int:
        """An employee who existed before scimgw; returns the id."""
        employee_id, self._next_id = self._next_id, self._next_id + 1
        self.employees[employee_id] = {"status": "Active", **fields, "lastChanged": self._now()}
        self.created[employee_id] = self.employees[employee_id]["lastChanged"]
        return employee_id

    def edit(self, employee_id: int, **fields: str) -> None:
        """An HR admin's edit in BambooHR's UI: the fields change, ``lastChanged`` moves."""
        self.employees[employee_id].update(fields, lastChanged=self._now())

    def delete_employee(self, employee_id: int) -> None:
        """An employee deleted in BambooHR (rare: leavers are made Inactive)."""
        del self.employees[employee_id]
        self.deleted[employee_id] = self._now()

    def _now(self) -> str:
        return self.wall_clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")

    def by_email(self, email: str) -> dict[str, str] | None:
        owner = self._email_owner(email)
        return None if owner is None else self.employees[owner]

    # -- plumbing -----------------------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            if self._failures:
                return _canned(self._failures.pop(0))
            if (wait := self._throttle()) is not None:
                return refuse(self.throttle_status, "Rate limited", {"Retry-After": str(wait)})
            if not self._authenticated(request.headers.get("authorization", "")):
                return refuse(401, "Invalid API key")  # [A] text
            if request.path_params.get("company") != self.company:
                return refuse(404, "Company not found")  # [A]
            return await handler(request)

        return endpoint

    def _throttle(self) -> int | None:
        return self._window.wait()

    def _authenticated(self, header: str) -> bool:
        return basic_username(header) == self.api_key  # "any string" as the password [V]

    # -- endpoints ----------------------------------------------------------------------

    async def _meta_fields(self, request: Request) -> Response:
        catalogue = [
            {"id": n, "name": name, "type": kind, "alias": name}
            for n, (name, kind) in enumerate(self.fields.items(), start=1)
        ]
        return _answer(request, catalogue)

    async def _get(self, request: Request) -> Response:
        employee = self.employees.get(request.path_params["id"])
        if employee is None:
            return refuse(404, "Employee not found")
        wanted = [f for f in request.query_params.get("fields", "").split(",") if f]
        values = {f: employee.get(f, "") for f in wanted if f in self.fields}  # unknown: dropped
        return _answer(request, {"id": str(request.path_params["id"]), **values})

    async def _create(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        missing = [f for f in ("firstName", "lastName") if not str(body.get(f) or "").strip()]
        if missing:
            return refuse(400, f"Missing required fields: {', '.join(missing)}")
        if (refused := self._refusal(body, own_id=None)) is not None:
            return refused
        employee_id = self.add_employee(**self._stored(body))
        location = str(request.url_for("employee", company=self.company, id=employee_id))
        return Response(b"", 201, headers={"Location": location})

    async def _update(self, request: Request) -> Response:
        employee_id = request.path_params["id"]
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        if employee_id not in self.employees:
            return refuse(404, "Employee not found")
        if (refused := self._refusal(body, own_id=employee_id)) is not None:
            return refused
        self.edit(employee_id, **self._stored(body))
        return Response(b"", 200)

    async def _report(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        if request.query_params.get("format", "").upper() != "JSON":
            return Response("<report/>", 200, media_type="application/xml")
        asked = body.get("fields") or []
        if not isinstance(asked, list) or len(asked) > MAX_REPORT_FIELDS:
            return refuse(400, f"A report takes at most {MAX_REPORT_FIELDS} fields")  # [A] text
        chosen = _report_filter(body.get("filters") or {})
        if isinstance(chosen, Response):
            return chosen
        self.reports.append(body)
        fields = [f for f in asked if f in self.fields]  # unknown: dropped silently [V]
        employees = [
            {"id": str(i), **{f: e.get(f, "") for f in fields}}
            for i, e in sorted(self.employees.items())
            if chosen(i, e)
        ]
        described = [{"id": f, "type": self.fields[f], "name": f} for f in fields]
        title = body.get("title", "")
        return JSONResponse({"title": title, "fields": described, "employees": employees})

    async def _changed(self, request: Request) -> Response:
        since = _moment(request.query_params.get("since", ""))
        if since is None:
            return refuse(400, "Invalid since parameter")  # [A] text
        kinds = request.query_params.get("type", "").lower()
        found: dict[str, dict[str, str]] = {}
        for i, e in self.employees.items():
            new = (_moment(self.created.get(i, "")) or since) >= since
            action = "Inserted" if new else "Updated"
            found[str(i)] = {"id": str(i), "action": action, "lastChanged": e["lastChanged"]}
        for i, stamp in self.deleted.items():
            found[str(i)] = {"id": str(i), "action": "Deleted", "lastChanged": stamp}
        kept = {
            key: entry
            for key, entry in found.items()
            if (_moment(entry["lastChanged"]) or since) >= since
            and (not kinds or entry["action"].lower() == kinds)
        }
        latest = max((e["lastChanged"] for e in kept.values()), default=self._now())
        return _answer(request, {"latest": latest, "employees": kept})

    # -- rules --------------------------------------------------------------------------

    def _refusal(self, body: dict[str, Any], *, own_id: int | None) -> Response | None:
        for name, value in body.items():
            if name not in self.fields:
                return refuse(400, f"Unknown field: {name}")
            if name in READ_ONLY:
                return refuse(400, f"Field is read-only: {name}")
            if not isinstance(value, str):
                return refuse(400, f"Invalid value type for field: {name}")
            if not self._valid(name, value):
                return refuse(409, f"Invalid value for field: {name}")
        email = body.get("workEmail")
        if email and self._email_owner(email) not in (None, own_id):
            return refuse(409, DUPLICATE_EMAIL)
        return None

    def _valid(self, name: str, value: str) -> bool:
        kind = self.fields[name]
        if value == "" or kind in ("text", "checkbox"):
            return True
        if kind == "list":
            return value in self.options.get(name, set())
        if kind == "date":
            return _is_ymd(value)
        if kind == "status":
            return value in ("Active", "Inactive")
        return "@" in value  # email

    def _stored(self, body: dict[str, str]) -> dict[str, str]:
        """Values as BambooHR keeps them: a checkbox is checked by "yes"/"checkbox" only."""
        return {
            name: ("yes" if value in ("yes", "checkbox") else "no")
            if self.fields[name] == "checkbox"
            else value
            for name, value in body.items()
        }

    def _email_owner(self, email: str) -> int | None:
        folded = email.casefold()
        found = (
            i for i, e in self.employees.items() if e.get("workEmail", "").casefold() == folded
        )
        return next(found, None)


def _default_options() -> dict[str, tuple[str, ...]]:
    return {
        "jobTitle": ("Engineer", "Trainer", "Analyst"),
        "department": ("Engineering", "Learning", "Sales"),
        "division": ("Europe", "Americas"),
        "location": ("Lyon", "Remote"),
    }


def _answer(request: Request, content: Any) -> Response:
    """JSON only when asked for; XML is BambooHR's default [V]."""
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(content)
    return Response("<?xml version='1.0'?><response/>", 200, media_type="application/xml")


async def _json_body(request: Request) -> dict[str, Any] | Response:
    """A JSON object body; any other Content-Type is parsed as XML, and fails [V]."""
    content_type = request.headers.get("content-type", "").strip().lower()
    if content_type != "application/json":
        return refuse(400, "Malformed XML")
    try:
        body = await request.json()
    except ValueError:
        return refuse(400, "Malformed JSON")
    return body if isinstance(body, dict) else refuse(400, "Malformed JSON")


def _is_ymd(value: str) -> bool:
    if not _YMD.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


EmployeeTest = Callable[[int, Mapping[str, str]], bool]


def _report_filter(filters: Any) -> EmployeeTest | Response:
    """The report's ``filters``: ``lastChanged`` (inclusive [A]) and ``employeeIds``."""
    if not isinstance(filters, dict):
        return refuse(400, "Invalid filters")
    since: datetime | None = None
    if "lastChanged" in filters:
        given = filters["lastChanged"]
        since = _moment(given.get("value", "")) if isinstance(given, dict) else None
        if since is None:
            return refuse(400, "Invalid lastChanged filter")  # [A] text
    ids = filters.get("employeeIds")
    wanted = None if ids is None else {int(i) for i in ids if str(i).isdigit()}

    def chosen(employee_id: int, employee: Mapping[str, str]) -> bool:
        if wanted is not None and employee_id not in wanted:
            return False
        changed = _moment(employee.get("lastChanged", ""))
        return since is None or (changed is not None and changed >= since)

    return chosen


def _canned(failure: Failure) -> Response:
    if failure.body is None or isinstance(failure.body, str):
        return Response(failure.body or "", failure.status, headers=dict(failure.headers))
    return JSONResponse(failure.body, failure.status, headers=dict(failure.headers))


def employee(number: int, **fields: str) -> dict[str, str]:
    """A plausible employee of the fake company, as ``add_employee`` takes it."""
    return {
        "employeeNumber": f"{number:04d}",
        "firstName": f"First{number}",
        "lastName": f"Last{number}",
        "workEmail": f"First{number}.Last{number}@Acme.example",
        "jobTitle": "Engineer",
        "department": "Engineering",
        "division": "Europe",
        "location": "Lyon",
        "hireDate": "2021-03-01",
        "originalHireDate": "2019-09-02",
        "terminationDate": "0000-00-00",
        **fields,
    }


def serve(people: int) -> Served:
    """The fake with ``people`` employees: the first supervises the others; with three or
    more, the second is ticked ``skip_elevo_sync`` and the last is Inactive."""
    fake = BambooHrFake(API_KEY)
    first = None
    for number in range(1, people + 1):
        fields = employee(number, supervisorEId=str(first) if first else "")
        if number == 2 and people >= 3:
            fields["skip_elevo_sync"] = "yes"
        if number == people and people >= 3:
            fields.update(status="Inactive", terminationDate="2024-12-31")
        added = fake.add_employee(**fields)
        first = first or added
    return Served(
        app=fake.app,
        notes=[
            f"basic auth: username (API key) {API_KEY!r}, password 'x'",
            "options: company_domain: acme (API root /api/gateway.php/acme/v1)",
            f"{people} employees from id 40; 40 supervises the others"
            + ("; 41 is ticked skip_elevo_sync; the last is Inactive" if people >= 3 else ""),
        ],
    )
