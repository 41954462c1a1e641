"""Contract fake of TalentHR's public API (target-apis.md §2c, corrected by §9).

What it enforces, and on what authority:

- [V] apidocs.talenthr.io and the vendor's Postman collection (§9): basic auth with the API
  key as username and any password (blank included); JSON answers with errors under an
  ``error`` key; every call must send ``Accept: application/json``; 2,000 requests per
  minute, then 429; ``PUT /employees/{id}`` requires ``first_name``, ``last_name`` and
  ``email`` even for a one-field change; ``POST /employees/{id}/terminate`` takes
  ``effective_date`` (required, ``YYYY-MM-DD``; a past or same-day date terminates at once,
  a later one leaves the employee active until then), ``termination_reason``,
  ``termination_type`` (``termination``|``resignation``) and ``regrettable_status``
  (``regrettable``); terminating reassigns the employee's reports to their manager;
  ``POST /employees/{id}/rehire`` works only on a terminated employee, keeps the same id and
  requires ``hire_date`` strictly after the termination, ``reports_to_employee_id`` (an
  active employee, not the same person) and ``employment_status{employment_status_id}``;
  ``GET /employees/{id}``; the directory's ``limit`` (default 10, at most 100) and ``offset``,
  and its ``filter`` (``key=id,id;key=id;``, ids from ``GET /directory/filters``).
- [I] Pipedream's ``components/talenthr``: the hire body (``first_name, last_name, email,
  hire_date, employment_status{employment_status_id}, job_record{...},
  reports_to_employee_id``), ``{"success": true, "data": ...}`` envelopes, the
  ``{"id", "name"}`` lists, the employee fields (``termination_date``, ``is_terminated``).
- [A] the rest: 401/406/415/404 bodies, Laravel-style 422 validation with field errors
  (``The email has already been taken.``), the wording of every 422, ``Retry-After`` on
  the 429, and that terminating an employee already terminated is refused (422); the
  directory's filter keys (``emp_state`` 1 active, 2 terminated; ``location``,
  ``department``, ``division``, ``job_title`` by id; any other key is 422); whether the
  directory lists terminated employees (§9: not confirmed; ``directory_lists_terminated``
  chooses); ``is_future_rehire`` on an employee (false unless a test sets it).

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

from tests.fakes.catalog import Served
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
#: Fields ``PUT /employees/{id}`` changes (the collection's update body, abridged) [V].
UPDATABLE = (
    "first_name",
    "last_name",
    "email",
    "reports_to_employee_id",
    "work_phone",
    "employee_number",
)
#: What ``PUT /employees/{id}`` requires whatever it changes [V].
PERSON_REQUIRED = ("first_name", "last_name", "email")
TERMINATION_TYPES = ("termination", "resignation")  # [V]
REGRETTABLE = "regrettable"  # [V] the only value of regrettable_status (or null)
TAKEN = "The email has already been taken."
INVALID = "The given data was invalid."
_YMD = re.compile(r"\d{4}-\d{2}-\d{2}")
#: ``filter`` key of ``GET /directory`` -> the employee field its ids compare [A].
DIRECTORY_FILTERS = {
    "location": "location_id",
    "department": "department_id",
    "division": "division_id",
    "job_title": "job_title_id",
}
#: ``emp_state`` values [A]: 1 active, 2 terminated.
EMPLOYMENT_STATES = {"1": False, "2": True}


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


def invalid(errors: dict[str, list[str]]) -> JSONResponse:
    return error(422, INVALID, errors)


class TalentHrFake:
    """An in-memory TalentHR domain.

    Args:
        api_key: the only key accepted (as the basic-auth username).
        lists: names for each list endpoint (``job-titles``...); ids are assigned in order.
        page_limit: most directory rows one page returns (TalentHR: 100).
        rate_limit: requests per ``window`` seconds before 429.
        clock: monotonic seconds, for the rate window.
        today: the domain's current date: a termination takes effect on its effective date.
        directory_lists_terminated: whether ``GET /directory`` shows terminated employees
            (§9 leaves it open; a source must work either way).
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
        today: Callable[[], date] = date.today,
        directory_lists_terminated: bool = True,
    ) -> None:
        self.api_key = api_key
        self.directory_lists_terminated = directory_lists_terminated
        names = {**_default_lists(), **(lists or {})}
        self.lists = {name: dict(enumerate(names.get(name, ()), start=1)) for name in LISTS}
        self.employees: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, str, Any]] = []
        self.page_limit = page_limit
        self.rate_limit, self.window, self.clock = rate_limit, window, clock
        self.today = today
        self._window = FixedWindow(rate_limit, window, clock)
        self._failures: list[Failure] = []
        self._next_id = 101
        self.app = Starlette(routes=self._routes())

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

    def terminate(self, employee_id: int, effective_date: str) -> None:
        """Terminate an employee as an HR admin does in TalentHR's UI."""
        self.employees[employee_id]["termination_date"] = effective_date

    def by_email(self, email: str) -> dict[str, Any] | None:
        owner = self._email_owner(email)
        return None if owner is None else self.employees[owner]

    def calls(self, method: str, prefix: str = "") -> list[str]:
        """Paths of the requests made with ``method`` (starting with ``prefix``)."""
        return [p for m, p in self.requests if m == method and p.startswith(ROOT + prefix)]

    def sent(self, method: str, prefix: str = "") -> list[Any]:
        """JSON bodies of the requests made with ``method`` (path starting with ``prefix``)."""
        return [b for m, p, b in self.bodies if m == method and p.startswith(ROOT + prefix)]

    def is_terminated(self, employee_id: int) -> bool:
        """Whether a termination is in effect today (a later effective date is not yet)."""
        ended = self.employees[employee_id].get("termination_date")
        return ended is not None and date.fromisoformat(ended) <= self.today()

    # -- plumbing -----------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        employee = f"{ROOT}/employees/{{id:int}}"
        return [
            Route(f"{ROOT}/directory", self._guard(self._directory), methods=["GET"]),
            Route(f"{ROOT}/employees/hire", self._guard(self._hire), methods=["POST"]),
            Route(employee, self._guard(self._show), methods=["GET"]),
            Route(employee, self._guard(self._update), methods=["PUT"]),
            Route(f"{employee}/terminate", self._guard(self._terminate), methods=["POST"]),
            Route(f"{employee}/rehire", self._guard(self._rehire), methods=["POST"]),
            *(
                Route(f"{ROOT}/{name}", self._guard(self._list_endpoint(name)), methods=["GET"])
                for name in LISTS
            ),
        ]

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
            if request.method in ("POST", "PUT"):
                body = await _json(request)
                if isinstance(body, Response):
                    return body
                self.bodies.append((request.method, request.url.path, body))
                request.state.body = body
            employee_id = request.path_params.get("id")
            if employee_id is not None and employee_id not in self.employees:
                return error(404, "Employee not found.")
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
            return _ok(entries)

        return endpoint

    async def _directory(self, request: Request) -> Response:
        try:
            limit = min(int(request.query_params.get("limit", 10)), self.page_limit)
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return invalid({"limit": ["Must be an integer."]})
        try:
            keep = self._directory_filter(request.query_params.get("filter", ""))
        except ValueError as exc:
            return invalid({"filter": [str(exc)]})
        listed = [i for i in sorted(self.employees) if keep(i)]
        rows = [self._row(i) for i in listed][offset : offset + limit]
        return _ok({"total": len(listed), "rows": rows})

    def _directory_filter(self, text: str) -> Callable[[int], bool]:
        """``key=1,2;key=3;`` as a test of an employee id; ValueError on an unknown key."""
        wanted: dict[str, set[str]] = {}
        for part in filter(None, text.split(";")):
            key, _, values = part.partition("=")
            if key != "emp_state" and key not in DIRECTORY_FILTERS:
                raise ValueError(f"The filter {key} is not supported.")
            wanted[key] = set(filter(None, values.split(",")))

        def keep(employee_id: int) -> bool:
            employee, ended = self.employees[employee_id], self.is_terminated(employee_id)
            if ended and not self.directory_lists_terminated:
                return False
            states = wanted.get("emp_state")
            if states is not None and ended not in {EMPLOYMENT_STATES.get(s) for s in states}:
                return False
            return all(
                str(employee.get(DIRECTORY_FILTERS[key])) in ids
                for key, ids in wanted.items()
                if key != "emp_state"
            )

        return keep

    async def _show(self, request: Request) -> Response:
        return _ok(self._row(request.path_params["id"]))

    async def _hire(self, request: Request) -> Response:
        body = request.state.body
        if errors := self._hire_errors(body):
            return invalid(errors)
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
        return _ok(self._row(employee_id), 201)

    async def _update(self, request: Request) -> Response:
        employee_id, body = request.path_params["id"], request.state.body
        if errors := self._person_errors(body, required=True, own_id=employee_id):
            return invalid(errors)
        self.employees[employee_id].update({k: body[k] for k in UPDATABLE if k in body})
        return _ok(self._row(employee_id))

    async def _terminate(self, request: Request) -> Response:
        employee_id, body = request.path_params["id"], request.state.body
        if errors := self._termination_errors(employee_id, body):
            return invalid(errors)
        employee = self.employees[employee_id]
        employee["termination_date"] = body["effective_date"]
        employee["termination_type"] = body.get("termination_type") or "termination"
        for other in self.employees.values():  # [V] reports move to the leaver's manager
            if other["reports_to_employee_id"] == employee_id:
                other["reports_to_employee_id"] = employee["reports_to_employee_id"]
        return _ok(self._row(employee_id))

    async def _rehire(self, request: Request) -> Response:
        employee_id, body = request.path_params["id"], request.state.body
        if errors := self._rehire_errors(employee_id, body):
            return invalid(errors)
        job = body.get("job_record") or {}
        self.employees[employee_id].update(
            {
                "hire_date": body["hire_date"],
                "termination_date": None,
                "termination_type": None,
                "reports_to_employee_id": body["reports_to_employee_id"],
                "employment_status_id": body["employment_status"]["employment_status_id"],
                **{key: job[key] for key in JOB_RECORD if key in job},
            }
        )
        return _ok(self._row(employee_id))

    # -- rules --------------------------------------------------------------------------

    def _hire_errors(self, body: dict[str, Any]) -> dict[str, list[str]]:
        errors = self._person_errors(body, required=True, own_id=None)
        if not _is_ymd(body.get("hire_date")):
            errors["hire_date"] = ["The hire date does not match the format Y-m-d."]
        return errors | self._status_and_job_errors(body)

    def _status_and_job_errors(self, body: dict[str, Any]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
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

    def _termination_errors(self, employee_id: int, body: dict[str, Any]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if body.get("effective_date") is None:
            errors["effective_date"] = ["The effective date field is required."]
        elif not _is_ymd(body["effective_date"]):
            errors["effective_date"] = ["The effective date does not match the format Y-m-d."]
        elif self.is_terminated(employee_id):
            errors["effective_date"] = ["The employee is already terminated."]
        if body.get("termination_type") not in (None, *TERMINATION_TYPES):
            errors["termination_type"] = ["The selected termination type is invalid."]
        if body.get("regrettable_status") not in (None, REGRETTABLE):
            errors["regrettable_status"] = ["The selected regrettable status is invalid."]
        reason = body.get("termination_reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 4000):
            errors["termination_reason"] = ["The termination reason may not exceed 4000."]
        return errors

    def _rehire_errors(self, employee_id: int, body: dict[str, Any]) -> dict[str, list[str]]:
        if not self.is_terminated(employee_id):
            return {"employee": ["Only a terminated employee can be rehired."]}
        errors = self._status_and_job_errors(body)
        ended = self.employees[employee_id]["termination_date"]
        if not _is_ymd(body.get("hire_date")):
            errors["hire_date"] = ["The hire date does not match the format Y-m-d."]
        elif body["hire_date"] <= ended:
            errors["hire_date"] = [f"The hire date must be a date after {ended}."]
        manager = body.get("reports_to_employee_id")
        if manager is None:
            errors["reports_to_employee_id"] = ["The reports to employee id field is required."]
        elif manager == employee_id or manager not in self.employees:
            errors["reports_to_employee_id"] = ["The selected reports to employee id is invalid."]
        elif self.is_terminated(manager):
            errors["reports_to_employee_id"] = ["The manager must be an active employee."]
        return errors

    def _person_errors(
        self, body: dict[str, Any], *, required: bool, own_id: int | None
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for key in PERSON_REQUIRED:
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
        employee.setdefault("reports_to_employee_id", None)
        employee.setdefault("hire_date", self.today().isoformat())
        employee.setdefault("is_future_rehire", False)
        self.employees[employee_id] = {"id": employee_id, **employee}
        return employee_id

    def _row(self, employee_id: int) -> dict[str, Any]:
        """An employee: ids and names side by side, as in Pipedream's sample [I]."""
        employee = dict(self.employees[employee_id])
        for key, list_name in JOB_RECORD.items():
            employee[key.removesuffix("_id")] = self.lists[list_name].get(employee.get(key))
        status_id = employee.get("employment_status_id")
        employee["employment_status_name"] = self.lists["employment-statuses"].get(status_id)
        employee["is_terminated"] = self.is_terminated(employee_id)
        return employee


def _default_lists() -> dict[str, tuple[str, ...]]:
    return {
        "employment-statuses": ("Full-Time", "Part-Time", "Contractor"),
        "job-titles": ("Business Analyst", "Engineer", "Trainer"),
        "departments": ("Administration & Operations", "Engineering", "Learning"),
        "locations": ("Athens", "Remote"),
        "divisions": ("Europe", "Americas"),
    }


def _ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status)


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


API_KEY = "talenthr-fake-key"


def serve(people: int) -> Served:
    """The fake with ``people`` employees person1..N@acme.example (the first manages the
    others), for the serve command. person3 and person4, when there are that many, are
    terminated: the TalentLMS fake has an account for person3 (S2.4: deactivated there)
    and none for person4 (ignored)."""
    fake = TalentHrFake(API_KEY)
    first = None
    for number in range(1, people + 1):
        employee_id = fake.add_employee(
            f"First{number}",
            f"Last{number}",
            f"person{number}@acme.example",
            hire_date="2020-01-06",
            employee_number=f"{number:06d}",
            job_title_id=2,
            department_id=2,
            location_id=1,
            reports_to_employee_id=first,
        )
        first = first or employee_id
        if number in (3, 4):
            fake.terminate(employee_id, "2021-06-30")
    return Served(
        app=fake.app,
        base_path=ROOT,
        notes=[
            f"auth: basic, username (the API key) {API_KEY!r}, any password",
            f"{people} employees, person1@acme.example (id {first}) to "
            f"person{people}@acme.example; person3 and person4 are terminated",
        ],
    )
