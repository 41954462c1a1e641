"""Contract fake of TalentHR's public API (target-apis.md §2c), for the talenthr connector.

What it enforces, and on what authority:

- [V] apidocs.talenthr.io: basic auth with the API key as username and any password
  (blank included); JSON answers with errors under an ``error`` key; every call must send
  ``Accept: application/json``; 2,000 requests per minute.
- [I] Pipedream's ``components/talenthr``: the endpoints under ``/v1``, the hire body
  (``first_name, last_name, email, hire_date, employment_status{employment_status_id},
  job_record{...}, reports_to_employee_id``), ``{"data": ...}`` envelopes, the directory's
  ``limit``/``offset`` paging and the ``{"id", "name"}`` lists.
- [A] the rest: 401/406/415/404 bodies, Laravel-style 422 validation with field errors
  (``The email has already been taken.``), 429 with ``Retry-After`` past the limit, and
  the terminate/rehire endpoints (``terminations=False`` removes them, answering 404 as
  an API without them would).

Use it through ``httpx.ASGITransport(app=fake.app)`` with base URL ``http://<host>/v1``.
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

ROOT = "/v1"
LISTS = ("employment-statuses", "job-titles", "departments", "locations", "divisions")
#: job_record id field -> the list it must name an entry of.
JOB_RECORD = {
    "job_title_id": "job-titles",
    "department_id": "departments",
    "location_id": "locations",
    "division_id": "divisions",
}
#: Fields ``PUT /employees/{id}`` changes (Pipedream's update action, abridged) [I].
UPDATABLE = ("first_name", "last_name", "email", "reports_to_employee_id", "work_phone")
TAKEN = "The email has already been taken."
_YMD = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Failure:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


def error(
    status: int,
    message: str,
    errors: dict[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """TalentHR's error shape: everything under ``error`` [V]; its members are [A]."""
    content: dict[str, Any] = {"message": message, "status_code": status}
    if errors:
        content["errors"] = errors
    return JSONResponse({"error": content}, status, headers=dict(headers or {}))


class TalentHrFake:
    """An in-memory TalentHR domain.

    Args:
        api_key: the only key accepted (as the basic-auth username).
        lists: names for each list endpoint (``job-titles``...); ids are assigned in order.
        page_limit: most directory rows one page returns.
        rate_limit: requests per ``window`` seconds before 429.
        clock: monotonic seconds, for the rate window.
        terminations: whether the assumed terminate/rehire endpoints exist.
    """

    def __init__(
        self,
        api_key: str,
        *,
        lists: Mapping[str, Iterable[str]] | None = None,
        page_limit: int = 100,
        rate_limit: int = 2000,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        terminations: bool = True,
    ) -> None:
        self.api_key = api_key
        names = {**_default_lists(), **(lists or {})}
        self.lists = {name: dict(enumerate(names.get(name, ()), start=1)) for name in LISTS}
        self.employees: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.page_limit = page_limit
        self.rate_limit, self.window, self.clock = rate_limit, window, clock
        self._window = FixedWindow(rate_limit, window, clock)
        self._failures: list[Failure] = []
        self._next_id = 101
        self.app = Starlette(routes=self._routes(terminations))

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

    def add_employee(self, first_name: str, last_name: str, email: str, **extra: Any) -> int:
        """An employee who existed before scimgw (for adoption tests); returns the id."""
        return self._store(
            {"first_name": first_name, "last_name": last_name, "email": email, **extra}
        )

    def by_email(self, email: str) -> dict[str, Any] | None:
        owner = self._email_owner(email)
        return None if owner is None else self.employees[owner]

    def calls(self, method: str, prefix: str = "") -> list[str]:
        """Paths of the requests made with ``method`` (starting with ``prefix``)."""
        return [p for m, p in self.requests if m == method and p.startswith(ROOT + prefix)]

    # -- plumbing -----------------------------------------------------------------------

    def _routes(self, terminations: bool) -> list[Route]:
        routes = [
            Route(f"{ROOT}/directory", self._guard(self._directory), methods=["GET"]),
            Route(f"{ROOT}/employees/hire", self._guard(self._hire), methods=["POST"]),
            Route(f"{ROOT}/employees/{{id:int}}", self._guard(self._update), methods=["PUT"]),
            *(
                Route(f"{ROOT}/{name}", self._guard(self._list_endpoint(name)), methods=["GET"])
                for name in LISTS
            ),
        ]
        if terminations:
            routes += [
                Route(
                    f"{ROOT}/employees/{{id:int}}/{action}",
                    self._guard(self._dated(action)),
                    methods=["POST"],
                )
                for action in ("terminate", "rehire")
            ]
        return routes

    def _guard(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            if self._failures:
                return _canned(self._failures.pop(0))
            if (wait := self._throttle()) is not None:
                return error(429, "Too Many Attempts.", headers={"Retry-After": str(wait)})
            if not self._authenticated(request.headers.get("authorization", "")):
                return error(401, "Unauthenticated.")
            if "application/json" not in request.headers.get("accept", ""):
                return Response("<html>Not Acceptable</html>", 406, media_type="text/html")
            return await handler(request)

        return endpoint

    def _throttle(self) -> int | None:
        return self._window.wait()

    def _authenticated(self, header: str) -> bool:
        return basic_username(header) == self.api_key  # any password, blank included [V]

    # -- endpoints ----------------------------------------------------------------------

    def _list_endpoint(self, name: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            entries = [{"id": i, "name": n} for i, n in self.lists[name].items()]
            return JSONResponse({"data": entries})

        return endpoint

    async def _directory(self, request: Request) -> Response:
        try:
            limit = min(int(request.query_params.get("limit", 10)), self.page_limit)
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return error(422, "The given data was invalid.", {"limit": ["Must be an integer."]})
        rows = [self._row(i) for i in sorted(self.employees)][offset : offset + limit]
        return JSONResponse({"data": {"rows": rows, "total": len(self.employees)}})

    async def _hire(self, request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        if errors := self._hire_errors(body):
            return error(422, "The given data was invalid.", errors)
        job = body.get("job_record") or {}
        employee_id = self._store(
            {
                **{k: body[k] for k in ("first_name", "last_name", "email", "hire_date")},
                "employment_status_id": body["employment_status"]["employment_status_id"],
                "reports_to_employee_id": body.get("reports_to_employee_id"),
                **{key: job.get(key) for key in JOB_RECORD},
                "is_existing": body.get("is_existing", False),
                "prevent_email": body.get("prevent_email", False),
            }
        )
        return JSONResponse({"data": self._row(employee_id)}, 201)

    async def _update(self, request: Request) -> Response:
        employee_id = request.path_params["id"]
        body = await _json(request)
        if isinstance(body, Response):
            return body
        if employee_id not in self.employees:
            return error(404, "Employee not found.")
        if errors := self._person_errors(body, required=False, own_id=employee_id):
            return error(422, "The given data was invalid.", errors)
        self.employees[employee_id].update({k: body[k] for k in UPDATABLE if k in body})
        return JSONResponse({"data": self._row(employee_id)})

    def _dated(self, action: str) -> Handler:
        """Terminate as of ``termination_date``, or rehire as of ``hire_date`` [A]."""
        key = "termination_date" if action == "terminate" else "hire_date"

        async def endpoint(request: Request) -> Response:
            employee_id = request.path_params["id"]
            body = await _json(request)
            if isinstance(body, Response):
                return body
            if employee_id not in self.employees:
                return error(404, "Employee not found.")
            if not _is_ymd(body.get(key)):
                message = f"The {key.replace('_', ' ')} does not match the format Y-m-d."
                return error(422, "The given data was invalid.", {key: [message]})
            employee = self.employees[employee_id]
            employee[key] = body[key]
            if action == "rehire":
                employee["termination_date"] = None
            return JSONResponse({"data": self._row(employee_id)})

        return endpoint

    # -- rules --------------------------------------------------------------------------

    def _hire_errors(self, body: dict[str, Any]) -> dict[str, list[str]]:
        errors = self._person_errors(body, required=True, own_id=None)
        if not _is_ymd(body.get("hire_date")):
            errors["hire_date"] = ["The hire date does not match the format Y-m-d."]
        status = body.get("employment_status")
        status_id = status.get("employment_status_id") if isinstance(status, dict) else None
        if status_id not in self.lists["employment-statuses"]:
            key = "employment_status.employment_status_id"
            errors[key] = ["The selected employment status id is invalid."]
        job = body.get("job_record") or {}
        for key, list_name in JOB_RECORD.items():
            if key in job and job[key] not in self.lists[list_name]:
                errors[f"job_record.{key}"] = [f"The selected {key.replace('_', ' ')} is invalid."]
        return errors

    def _person_errors(
        self, body: dict[str, Any], *, required: bool, own_id: int | None
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for key in ("first_name", "last_name", "email"):
            if (required or key in body) and not _text(body.get(key)):
                errors[key] = [f"The {key.replace('_', ' ')} field is required."]
        email = body.get("email")
        if _text(email) and "@" not in email:
            errors["email"] = ["The email must be a valid email address."]
        elif _text(email) and self._email_owner(email) not in (None, own_id):
            errors["email"] = [TAKEN]
        manager = body.get("reports_to_employee_id")
        if manager is not None and manager not in self.employees:
            errors["reports_to_employee_id"] = ["The selected reports to employee id is invalid."]
        return errors

    def _email_owner(self, email: str) -> int | None:
        folded = email.casefold()
        found = (i for i, e in self.employees.items() if str(e["email"]).casefold() == folded)
        return next(found, None)

    def _store(self, employee: dict[str, Any]) -> int:
        employee_id, self._next_id = self._next_id, self._next_id + 1
        employee.setdefault("termination_date", None)
        employee.setdefault("hire_date", date.today().isoformat())
        self.employees[employee_id] = {"id": employee_id, **employee}
        return employee_id

    def _row(self, employee_id: int) -> dict[str, Any]:
        """A directory row: ids and names side by side, as in Pipedream's sample [I]."""
        employee = dict(self.employees[employee_id])
        for key, list_name in JOB_RECORD.items():
            employee[key.removesuffix("_id")] = self.lists[list_name].get(employee.get(key))
        status_id = employee.get("employment_status_id")
        employee["employment_status_name"] = self.lists["employment-statuses"].get(status_id)
        return employee


def _default_lists() -> dict[str, tuple[str, ...]]:
    return {
        "employment-statuses": ("Full-Time", "Part-Time", "Contractor"),
        "job-titles": ("Business Analyst", "Engineer", "Trainer"),
        "departments": ("Administration & Operations", "Engineering", "Learning"),
        "locations": ("Athens", "Remote"),
        "divisions": ("Europe", "Americas"),
    }


async def _json(request: Request) -> dict[str, Any] | Response:
    """The JSON object body, or the answer refusing it (JSON only [A])."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return error(415, "Unsupported Media Type: send application/json.")
    try:
        body = await request.json()
    except ValueError:
        return error(400, "Malformed JSON.")
    if not isinstance(body, dict):
        return error(400, "Malformed JSON.")
    return body


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_ymd(value: Any) -> bool:
    if not isinstance(value, str) or not _YMD.fullmatch(value):
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
