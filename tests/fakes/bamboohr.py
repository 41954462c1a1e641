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
  ``Retry-After`` (429 from 2026-09-16: ``throttle_status=429``).
- [A] the exact header texts; the same Content-Type rule on ``/employees``; 409 on a
  duplicate work email at creation too; unknown field names on writes refused (400);
  non-string values refused (400); ``status`` writable by an update.

Use it through ``httpx.ASGITransport(app=fake.app)``; the API root is
``http://<host>/api/gateway.php/<company>/v1``.
"""

import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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
}
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
    """

    def __init__(
        self,
        api_key: str,
        company: str = "acme",
        *,
        options: Mapping[str, Iterable[str]] | None = None,
        checkboxes: Iterable[str] = ("customRemoteWorker",),
        throttle_status: int = 503,
        rate_limit: int = 1000,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_key, self.company = api_key, company
        lists = {**_default_options(), **(options or {})}
        self.options = {name: set(values) for name, values in lists.items()}
        self.fields = {**FIELDS, **dict.fromkeys(checkboxes, "checkbox")}
        self.employees: dict[int, dict[str, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.throttle_status, self.rate_limit, self.window = throttle_status, rate_limit, window
        self.clock = clock
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

    def add_employee(self, **fields: str) -> int:
        """An employee who existed before scimgw; returns the id."""
        employee_id, self._next_id = self._next_id, self._next_id + 1
        self.employees[employee_id] = {"status": "Active", **fields}
        return employee_id

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
        self.employees[employee_id].update(self._stored(body))
        return Response(b"", 200)

    async def _report(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        if request.query_params.get("format", "").upper() != "JSON":
            return Response("<report/>", 200, media_type="application/xml")
        fields = [f for f in body.get("fields") or [] if f in self.fields]
        employees = [
            {"id": str(i), **{f: e.get(f, "") for f in fields}}
            for i, e in sorted(self.employees.items())
        ]
        described = [{"id": f, "type": self.fields[f], "name": f} for f in fields]
        title = body.get("title", "")
        return JSONResponse({"title": title, "fields": described, "employees": employees})

    # -- rules --------------------------------------------------------------------------

    def _refusal(self, body: dict[str, Any], *, own_id: int | None) -> Response | None:
        for name, value in body.items():
            if name not in self.fields:
                return refuse(400, f"Unknown field: {name}")
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


def _canned(failure: Failure) -> Response:
    if failure.body is None or isinstance(failure.body, str):
        return Response(failure.body or "", failure.status, headers=dict(failure.headers))
    return JSONResponse(failure.body, failure.status, headers=dict(failure.headers))
