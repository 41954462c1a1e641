"""Contract fake of the Tribal Habits Public API (users), as its reference documents it.

Documented [V] (https://s3-ap-southeast-2.amazonaws.com/tribalhabits-api-docs/index.html):
the raw key in ``Authorization`` (no scheme); ``GET /papi/users`` paged 25 a page as
``{total_records, max_per_page, current_page, total_pages, records}``; records with
``user_name``, ``first_name``, ``last_name``, ``email``, ``manager_email``, ``active`` and
every configured custom field as ``X-<name>``; custom field formats (dates
``dd/mm/yyyy``, ``dd/mm/yy`` or ``yyyy-mm-dd``, numbers ``nn`` or ``nn.mm``, lists of
existing items joined by ``;``); 300 requests a minute, then 429 for a whole minute.

Assumed [A], as ``docs/connectors/tribalhabits.md`` lists: ``?page=<n>``; show, create and
update at ``/papi/users/<user_name>`` (``POST`` answers 201, ``PUT`` changes only the fields
given and refuses a new ``user_name``); JSON bodies only (400 otherwise); ``user_name`` and
``email`` unique case-insensitively (409); validation errors 422; every error body
``{"error": "<message>"}``; no ``Retry-After`` on the 429.

Use it through ``httpx.ASGITransport(app=fake.app)``.
"""

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.catalog import Served

PAGE_SIZE = 25
RATE_LIMIT = 300
WINDOW_SECONDS = 60.0
BLOCK_SECONDS = 60.0
STANDARD = ("user_name", "first_name", "last_name", "email", "manager_email", "active")
REQUIRED = ("user_name", "first_name", "last_name", "email")
DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d")
NUMBER = re.compile(r"\d+(\.\d+)?")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class CustomField:
    """A custom field configured in the portal; ``items`` are a list field's named items."""

    kind: Literal["string", "date", "number", "list"] = "string"
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class _Failure:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


class Invalid(Exception):
    """A request the API refuses: status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TribalHabitsFake:
    """One Tribal Habits organisation: its users, custom fields, key and rate limit.

    Args:
        api_key: the organisation's Public API key.
        custom_fields: configured custom fields by name (without ``X-``).
        clock: monotonic seconds, for the rate limit's minute.
        rate_limit: requests accepted per minute before the one-minute block.
    """

    def __init__(
        self,
        api_key: str,
        *,
        custom_fields: Mapping[str, CustomField] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rate_limit: int = RATE_LIMIT,
    ) -> None:
        self.api_key = api_key
        self.custom_fields = {f"X-{name}": spec for name, spec in (custom_fields or {}).items()}
        self.clock = clock
        self.rate_limit = rate_limit
        self.users: dict[str, dict[str, Any]] = {}  # by user_name, case-folded
        self.requests: list[Seen] = []
        self._recent: list[float] = []
        self._blocked_until = float("-inf")
        self._failures: list[_Failure] = []
        self.app = Starlette(
            routes=[
                Route("/papi/users", self._guarded(self._list), methods=["GET"]),
                Route("/papi/users", self._guarded(self._create), methods=["POST"]),
                Route("/papi/users/{user_name:path}", self._guarded(self._show), methods=["GET"]),
                Route("/papi/users/{user_name:path}", self._guarded(self._update), methods=["PUT"]),
            ]
        )

    # -- test controls -----------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with this (before auth and the rate limit)."""
        self._failures.extend([_Failure(status, headers or {}, body)] * times)

    def add_user(self, **fields: Any) -> dict[str, Any]:
        """Put a user in the portal directly (someone created it by hand)."""
        record = self._blank() | {"active": True, "manager_email": None} | fields
        self.users[record["user_name"].lower()] = record
        return record

    def by_email(self) -> dict[str, dict[str, Any]]:
        """The users keyed by their email, lower case."""
        return {str(user["email"]).lower(): user for user in self.users.values()}

    # -- gate: canned failures, rate limit, auth --------------------------------------------

    def _guarded(self, handler: Callable[..., Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            self.requests.append(
                Seen(
                    request.method,
                    request.url.path,
                    request.url.query,
                    dict(request.headers),
                    body,
                )
            )
            if self._failures:
                return _canned(self._failures.pop(0))
            try:
                self._throttle()
                if request.headers.get("authorization") != self.api_key:
                    raise Invalid(401, "Unauthorized: the API key is missing or invalid")
                status, answer = handler(request, body)
            except Invalid as exc:
                return JSONResponse({"error": exc.message}, exc.status)
            return JSONResponse(answer, status)

        return endpoint

    def _throttle(self) -> None:
        now = self.clock()
        if now < self._blocked_until:
            raise Invalid(429, "Too many requests: blocked for 1 minute")
        self._recent = [t for t in self._recent if t > now - WINDOW_SECONDS]
        if len(self._recent) >= self.rate_limit:
            self._blocked_until = now + BLOCK_SECONDS
            raise Invalid(429, "Too many requests: blocked for 1 minute")
        self._recent.append(now)

    # -- endpoints ---------------------------------------------------------------------

    def _list(self, request: Request, _: bytes) -> tuple[int, Any]:
        raw = request.query_params.get("page", "1")
        if not raw.isdigit() or int(raw) < 1:
            raise Invalid(400, "page must be a positive integer")
        page, users = int(raw), list(self.users.values())
        chunk = users[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return 200, {
            "total_records": len(users),
            "max_per_page": PAGE_SIZE,
            "current_page": page,
            "total_pages": -(-len(users) // PAGE_SIZE),
            "records": chunk,
        }

    def _show(self, request: Request, _: bytes) -> tuple[int, Any]:
        return 200, self._find(request.path_params["user_name"])

    def _create(self, request: Request, body: bytes) -> tuple[int, Any]:
        data = _json_object(request, body)
        self._validate(data)
        for name in REQUIRED:
            if _blank(data.get(name)):
                raise Invalid(422, f"{name} can't be blank")
        if data["user_name"].lower() in self.users:
            raise Invalid(409, "User name has already been taken")
        self._unique_email(data["email"], None)
        record = self._blank() | {"active": True, "manager_email": None} | data
        self.users[record["user_name"].lower()] = record
        return 201, record

    def _update(self, request: Request, body: bytes) -> tuple[int, Any]:
        record = self._find(request.path_params["user_name"])
        data = _json_object(request, body)
        self._validate(data)
        if "user_name" in data and str(data["user_name"]).lower() != record["user_name"].lower():
            raise Invalid(422, "user_name cannot be changed")
        for name in REQUIRED:
            if name in data and _blank(data[name]):
                raise Invalid(422, f"{name} can't be blank")
        if "email" in data:
            self._unique_email(data["email"], record)
        record.update(data)
        return 200, record

    # -- rules -------------------------------------------------------------------------

    def _find(self, user_name: str) -> dict[str, Any]:
        try:
            return self.users[user_name.lower()]
        except KeyError:
            raise Invalid(404, "User not found") from None

    def _blank(self) -> dict[str, Any]:
        return dict.fromkeys(self.custom_fields)

    def _unique_email(self, email: str, owner: dict[str, Any] | None) -> None:
        other = self.by_email().get(email.lower())
        if other is not None and other is not owner:
            raise Invalid(409, "Email has already been taken")

    def _validate(self, data: Mapping[str, Any]) -> None:
        for name, value in data.items():
            if name in self.custom_fields:
                _check_custom(name, self.custom_fields[name], value)
            elif name.startswith("X-"):
                raise Invalid(422, f"Unknown custom field: {name}")
            elif name not in STANDARD:
                raise Invalid(422, f"Unknown attribute: {name}")
        for name in ("user_name", "first_name", "last_name", "email"):
            if name in data and not isinstance(data[name], str):
                raise Invalid(422, f"{name} must be a string")
        for name in ("email", "manager_email"):
            if isinstance(data.get(name), str) and not EMAIL.fullmatch(data[name]):
                raise Invalid(422, f"{name} is invalid")
        if "active" in data and not isinstance(data["active"], bool):
            raise Invalid(422, "active must be true or false")


def _check_custom(name: str, spec: CustomField, value: Any) -> None:
    if value is None or value == "":
        return
    if spec.kind == "number":
        ok = (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and NUMBER.fullmatch(value) is not None
        )
    elif not isinstance(value, str):
        ok = False
    elif spec.kind == "date":
        ok = any(_parses(value, fmt) for fmt in DATE_FORMATS)
    elif spec.kind == "list":
        ok = all(item in spec.items for item in value.split(";"))
    else:
        ok = True
    if not ok:
        raise Invalid(422, f"{name} is not a valid {spec.kind}")


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _json_object(request: Request, body: bytes) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise Invalid(400, "Content-Type must be application/json")
    try:
        data = json.loads(body)
    except ValueError:
        raise Invalid(400, "The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise Invalid(400, "The request body must be a JSON object")
    return data


def _canned(failure: _Failure) -> Response:
    headers = dict(failure.headers)
    if failure.body is None or isinstance(failure.body, str):
        return Response(failure.body or "", failure.status, headers=headers)
    return JSONResponse(failure.body, failure.status, headers=headers)


#: The custom fields of the served portal (S5.3's location and job title).
SERVED_KEY = "th-api-key"
SERVED_FIELDS = {"Location": CustomField(), "JobTitle": CustomField(), "Department": CustomField()}


def serve(people: int) -> Served:
    """A portal for ``python -m tests.fakes serve tribalhabits``: ``people`` users made by
    hand (``manual<n>@acme.com.au``, apart from the HR fakes' people), custom fields
    ``X-Location``, ``X-JobTitle`` and ``X-Department``."""
    fake = TribalHabitsFake(SERVED_KEY, custom_fields=SERVED_FIELDS)
    for number in range(1, people + 1):
        fake.add_user(
            user_name=f"manual{number}@acme.com.au",
            email=f"manual{number}@acme.com.au",
            first_name=f"Manual{number}",
            last_name="User",
        )
    return Served(
        app=fake.app,
        base_path="/papi",
        notes=[
            f"auth: api_key {SERVED_KEY!r}, sent raw in Authorization (no scheme)",
            f"{people} users made by hand, manual1@acme.com.au ...; "
            "custom fields X-Location, X-JobTitle, X-Department",
            "300 requests a minute, then 429 for a minute (as the vendor documents)",
        ],
    )
