"""Contract fake of Lucca's legacy v3 directory, as docs/connectors/lucca.md describes it.

What it enforces, as the vendor documents it ([A] where no public source says so):

- ``Authorization: lucca application={API_KEY}``; anything else is 401 [V], with a Problem
  Details body [A: body].
- 50 requests per minute per account, then 429 with ``Retry-After`` [V].
- JSON bodies only (415 otherwise [A]); a write body flat or wrapped in ``{"data": ...}`` [V].
- The documented field names; an unknown field, filter or ``fields`` entry is a 400 [A],
  so a misspelt filter cannot silently list everyone.
- Creation needs names, mail, login [A], legal entity, department and primary role, and with
  ``?contract=true`` a contract start; the ids must exist. Logins and mails are unique [A for
  mail], employee numbers unique per legal entity [V]; clashes are 400 Problem Details whose
  ``errors`` name the field [A: wording].
- ``GET /api/v3/users``: ``fields`` (default ``id,name,url``), ``paging={offset},{limit}``
  (limit <= 1000), strict-equality filters, former employees left out unless
  ``formerEmployees=true`` [V]. Envelopes ``{"data": {"items": [...]}}`` and ``{"data": {}}``.
- ``GET /organization/structure/api/departments/{id}``: the Organization Structure API's
  department, with ``headId`` (no head object) at the top level [V: fields of the list; A:
  the by-id route].
- ``GET /api/v3/departments/{id}``: the legacy v3 department in ``{"data": ...}``, with
  ``headID`` plus ``head{id,name,url}`` and ``parentId`` as a hierarchy string (``"/1/"``)
  [V]; ``fields`` as for users (default ``id,name,url``) [V].

Use it through ``httpx.ASGITransport(app=fake.app)``.
"""

import itertools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.catalog import Served
from tests.fakes.common import SlidingWindow

PROBLEM = "application/problem+json"
VALIDATION = "https://tools.ietf.org/html/rfc7231#section-6.5.1"
TEXT_FIELDS = frozenset(
    {"firstName", "lastName", "mail", "login", "employeeNumber", "jobTitle", "personalEmail"}
    | {"personalMobile", "professionalMobile", "directLine", "address", "gender", "quote"}
)
ID_FIELDS = frozenset({"legalEntityId", "departmentId", "managerId", "rolePrincipalId"})
DATE_FIELDS = frozenset({"dtContractStart", "dtContractEnd", "birthDate"})
WRITABLE = TEXT_FIELDS | ID_FIELDS | DATE_FIELDS
REQUIRED = ("firstName", "lastName", "mail", "login", "legalEntityId", "departmentId")
REQUIRED += ("rolePrincipalId",)
READABLE = WRITABLE | {"id", "name", "url", "displayName", "modifiedAt"}
FILTERS = frozenset({"id", "mail", "login", "employeeNumber"})
CONTROLS = frozenset({"fields", "paging", "formerEmployees"})
MAX_PAGE = 1000
V3_DEPARTMENT_FIELDS = frozenset(
    {"id", "name", "url", "code", "headID", "head", "parentId", "hierarchy", "isActive"}
)

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Department:
    id: int
    name: str
    head_id: int | None = None
    is_active: bool = True


@dataclass
class Failure:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 7807 Problem Details answer, as the Lucca APIs give."""
    body = {"type": VALIDATION if status == 400 else "about:blank", "title": title}
    body |= {"status": status, **({"detail": detail} if detail else {}), **extra}
    return JSONResponse(body, status, headers=dict(headers or {}), media_type=PROBLEM)


def invalid(errors: Mapping[str, list[str]]) -> JSONResponse:
    return problem(400, "One or more validation errors occurred.", errors=dict(errors))


class LuccaFake:
    """One Lucca account: users with contracts, departments with heads, one API key.

    Args:
        api_key: the only key accepted.
        legal_entities, roles: the ids that exist.
        extended: the account's custom directory fields (``e_*``), written at the root.
        today: the account's current date (Europe/Paris by default, as the connector's).
        clock: monotonic seconds, for the rate limit.
    """

    def __init__(
        self,
        api_key: str,
        *,
        legal_entities: tuple[int, ...] = (1,),
        roles: tuple[int, ...] = (55,),
        extended: tuple[str, ...] = (),
        today: Callable[[], date] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rate: int = 50,
        window: float = 60.0,
    ) -> None:
        self.api_key = api_key
        self.legal_entities, self.roles = set(legal_entities), set(roles)
        self.extended = frozenset(extended)
        zone = ZoneInfo("Europe/Paris")
        self.today = today or (lambda: datetime.now(zone).date())
        self.clock = clock
        self.users: dict[int, dict[str, Any]] = {}
        self.departments: dict[int, Department] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._failures: list[Failure] = []
        self._window = SlidingWindow(rate, window)
        self._ids = itertools.count(1)  # Lucca never reuses an id
        self.app = Starlette(
            routes=[
                Route("/api/v3/users", self._gate(self._users), methods=["GET", "POST"]),
                Route(
                    "/api/v3/users/{id:int}",
                    self._gate(self._user),
                    methods=["GET", "PUT", "DELETE"],
                ),
                Route(
                    "/organization/structure/api/departments/{id:int}",
                    self._gate(self._department),
                    methods=["GET"],
                ),
                Route(
                    "/api/v3/departments/{id:int}",
                    self._gate(self._v3_department),
                    methods=["GET"],
                ),
            ]
        )

    # -- test controls -----------------------------------------------------------------

    def fail_next(
        self, status: int, *, headers: Mapping[str, str] | None = None, body: Any = None
    ) -> None:
        """Answer the next request with ``status`` (before auth and rate checks)."""
        self._failures.append(Failure(status, headers or {}, body))

    def add_department(self, id: int, name: str, head_id: int | None = None) -> None:
        self.departments[id] = Department(id, name, head_id)

    def add_user(self, **fields: Any) -> int:
        """Seed a user as HR would have entered it (no validation)."""
        user_id = next(self._ids)
        self.users[user_id] = self._stored(user_id, {"contract": True, **fields})
        return user_id

    def is_active(self, user: Mapping[str, Any]) -> bool:
        """Employed beyond today: a contract with no end date, or one ending after today."""
        end = user.get("dtContractEnd")
        return bool(user.get("contract")) and (end is None or _day(end) > self.today())

    def by_mail(self) -> dict[str, dict[str, Any]]:
        return {str(user["mail"]).lower(): user for user in self.users.values()}

    # -- the gate every request passes -------------------------------------------------

    def _gate(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path, dict(request.query_params)))
            if self._failures:
                return _canned(self._failures.pop(0))
            if (wait := self._throttle()) is not None:
                return problem(429, "Too Many Requests", headers={"Retry-After": str(wait)})
            header = request.headers.get("Authorization", "")
            scheme, _, key = header.partition(" application=")
            if scheme.lower() != "lucca" or key != self.api_key:
                return problem(401, "Unauthorized", "Invalid or missing API key.")
            return await handler(request)

        return endpoint

    def _throttle(self) -> int | None:
        return self._window.wait(self.clock())

    # -- users -------------------------------------------------------------------------

    async def _users(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(request)
        query = request.query_params
        unknown = sorted(set(query) - FILTERS - CONTROLS)
        if unknown:
            return invalid({name: ["Unknown filter or parameter."] for name in unknown})
        fields = _fields(query)
        if isinstance(fields, Response):
            return fields
        paging = _paging(query.get("paging", f"0,{MAX_PAGE}"))
        if paging is None:
            return invalid({"paging": [f"Expected {{offset}},{{limit}} with limit <= {MAX_PAGE}."]})
        former = query.get("formerEmployees") == "true"
        found = [
            user
            for _, user in sorted(self.users.items())
            if all(_equals(user.get(name), query[name]) for name in FILTERS & set(query))
            and (former or not self._former(user))
        ]
        offset, limit = paging
        items = [_project(user, fields) for user in found[offset : offset + limit]]
        return JSONResponse({"data": {"items": items}})

    async def _user(self, request: Request) -> Response:
        user = self.users.get(int(request.path_params["id"]))
        if user is None:
            return problem(404, "Not Found", "No user with this id.")
        if request.method == "DELETE":
            del self.users[user["id"]]
            return Response(status_code=204)
        if request.method == "PUT":
            return await self._update(request, user)
        fields = _fields(request.query_params)
        return fields if isinstance(fields, Response) else JSONResponse(_data(user, fields))

    async def _create(self, request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        contract = request.query_params.get("contract") == "true"
        required = REQUIRED + (("dtContractStart",) if contract else ())
        errors = {name: ["The field is required."] for name in required if body.get(name) is None}
        errors |= self._invalid(body, exclude=None)
        if errors:
            return invalid(errors)
        user_id = next(self._ids)
        self.users[user_id] = self._stored(user_id, {**body, "contract": contract})
        return JSONResponse(_data(self.users[user_id]))

    async def _update(self, request: Request, user: dict[str, Any]) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        if errors := self._invalid({**user, **body}, exclude=user["id"], only=set(body)):
            return invalid(errors)
        self.users[user["id"]] = self._stored(user["id"], {**user, **body})
        return JSONResponse(_data(self.users[user["id"]]))

    def _invalid(
        self, user: Mapping[str, Any], exclude: int | None, only: set[str] | None = None
    ) -> dict[str, list[str]]:
        names = set(user) if only is None else only
        errors = {n: [text] for n in sorted(names) if (text := self._bad(n, user.get(n)))}
        errors |= self._clashes(user, exclude)
        start, end = user.get("dtContractStart"), user.get("dtContractEnd")
        if not errors and start and end and _day(end) < _day(start):
            errors["dtContractEnd"] = ["The contract cannot end before it starts."]
        return errors

    def _bad(self, name: str, value: Any) -> str | None:
        if name in self.extended:
            return None if isinstance(value, str | int | float | bool | None) else "Invalid."
        if name not in WRITABLE:
            return "Unknown property."
        if value is None:
            return "The field is required." if name in REQUIRED else None
        if name in TEXT_FIELDS:
            ok = isinstance(value, str) and bool(value.strip())
            return None if ok and (name != "mail" or "@" in value) else "Invalid value."
        if name in DATE_FIELDS:
            return None if _lucca_date(value) else "Expected a date as yyyy-MM-ddTHH:mm:ss."
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return "Expected a positive integer id."
        known = {
            "legalEntityId": self.legal_entities,
            "departmentId": set(self.departments),
            "rolePrincipalId": self.roles,
            "managerId": set(self.users),
        }[name]
        return None if value in known else "No such id."

    def _clashes(self, user: Mapping[str, Any], exclude: int | None) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for other in self.users.values():
            if other["id"] == exclude:
                continue
            for name in ("login", "mail"):
                if user.get(name) and _equals(other.get(name), str(user[name])):
                    errors[name] = [f"This {name} is already used by another user."]
            same_entity = other.get("legalEntityId") == user.get("legalEntityId")
            number = user.get("employeeNumber")
            if number and same_entity and other.get("employeeNumber") == number:
                errors["employeeNumber"] = ["This employee number is already used."]
        return errors

    def _stored(self, user_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        first, last = fields.get("firstName", ""), fields.get("lastName", "")
        return {
            **fields,
            "id": user_id,
            "name": f"{first} {last}",
            "displayName": f"{last} {first}",
            "url": f"https://acme.ilucca.test/api/v3/users/{user_id}",
            "modifiedAt": datetime.now().isoformat(timespec="milliseconds"),
            "dtContractEnd": fields.get("dtContractEnd"),
        }

    def _former(self, user: Mapping[str, Any]) -> bool:
        end = user.get("dtContractEnd")
        return end is not None and _day(end) < self.today()

    # -- departments (v4) --------------------------------------------------------------

    async def _department(self, request: Request) -> Response:
        department = self.departments.get(int(request.path_params["id"]))
        if department is None:
            return problem(404, "Not Found", "No department with this id.")
        return JSONResponse(
            {
                "id": department.id,
                "name": department.name,
                "code": department.name.upper(),
                "parentId": "/",
                "hierarchy": f"/{department.id}/",
                "isActive": department.is_active,
                "headId": department.head_id,
            }
        )

    async def _v3_department(self, request: Request) -> Response:
        department = self.departments.get(int(request.path_params["id"]))
        if department is None:
            return problem(404, "Not Found", "No department with this id.")
        fields = _fields(request.query_params, V3_DEPARTMENT_FIELDS)
        if isinstance(fields, Response):
            return fields
        root = str(request.base_url).rstrip("/")
        head = self.users.get(department.head_id) if department.head_id else None
        document = {
            "id": department.id,
            "name": department.name,
            "url": f"{root}/api/v3/departments/{department.id}",
            "code": department.name.upper(),
            "headID": department.head_id,
            "head": None
            if head is None
            else {
                "id": department.head_id,
                "name": head.get("name"),
                "url": f"{root}/api/v3/users/{department.head_id}",
            },
            "parentId": "/",
            "hierarchy": f"/{department.id}/",
            "isActive": department.is_active,
        }
        return JSONResponse({"data": {name: document[name] for name in fields}})


async def _body(request: Request) -> dict[str, Any] | Response:
    if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        return problem(415, "Unsupported Media Type", "Send application/json.")
    try:
        body = json.loads(await request.body())
    except ValueError:
        return problem(400, "Bad Request", "The body is not valid JSON.")
    if isinstance(body, dict) and set(body) == {"data"} and isinstance(body["data"], dict):
        body = body["data"]
    return body if isinstance(body, dict) else problem(400, "Bad Request", "Expected an object.")


def _fields(query: Mapping[str, str], readable: frozenset[str] = READABLE) -> list[str] | Response:
    names = [name.strip() for name in query.get("fields", "id,name,url").split(",")]
    unknown = [name for name in names if name not in readable]
    return invalid({"fields": [f"Unknown field {name}." for name in unknown]}) if unknown else names


def _paging(value: str) -> tuple[int, int] | None:
    parts = value.split(",")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return None
    offset, limit = int(parts[0]), int(parts[1])
    return (offset, limit) if 0 < limit <= MAX_PAGE else None


def _project(user: Mapping[str, Any], fields: list[str] | None) -> dict[str, Any]:
    names = fields or sorted(READABLE)
    return {name: user.get(name) for name in names}


def _data(user: Mapping[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
    return {"data": _project(user, fields)}


def _equals(stored: Any, wanted: str) -> bool:
    # Lucca runs on a case-insensitive collation [A]: "Ada@Acme.com" finds ada@acme.com.
    return stored is not None and str(stored).casefold() == wanted.casefold()


def _lucca_date(value: Any) -> bool:
    try:
        return isinstance(value, str) and len(value) == 19 and bool(datetime.fromisoformat(value))
    except ValueError:
        return False


def _day(value: str) -> date:
    return datetime.fromisoformat(value).date()


def _canned(failure: Failure) -> Response:
    if failure.body is None or isinstance(failure.body, str):
        return Response(failure.body or "", failure.status, headers=dict(failure.headers))
    return JSONResponse(failure.body, failure.status, headers=dict(failure.headers))


#: The key ``serve`` accepts, and the account it seeds (the S4 seed's defaults).
SERVED_KEY = "lucca-api-key"


def serve(people: int) -> Served:
    """An account with ``people`` employees, department 14 "Sales" headed by the first
    (active) and department 15 "Support" headed by a former employee, for the serve command.
    """
    fake = LuccaFake(SERVED_KEY)
    ids = [
        fake.add_user(
            firstName=f"Employee{n}",
            lastName="Lucca",
            mail=f"employee{n}@acme.test",
            login=f"employee{n}",
            legalEntityId=1,
            rolePrincipalId=55,
            dtContractStart="2020-01-06T00:00:00",
        )
        for n in range(1, max(people, 1) + 1)
    ]
    former = fake.add_user(
        firstName="Former",
        lastName="Head",
        mail="former.head@acme.test",
        login="former.head",
        legalEntityId=1,
        rolePrincipalId=55,
        dtContractStart="2015-01-05T00:00:00",
        dtContractEnd="2024-06-30T00:00:00",
    )
    fake.add_department(14, "Sales", head_id=ids[0])
    fake.add_department(15, "Support", head_id=former)
    return Served(
        app=fake.app,
        notes=[
            f"auth: api_key {SERVED_KEY!r}, template 'lucca application={{key}}'",
            "options: default_legal_entity_id 1, default_department_id 14, default_role_id 55",
            f"department 14 Sales: head user {ids[0]} (active); "
            f"department 15 Support: head user {former} (left in 2024)",
        ],
    )
