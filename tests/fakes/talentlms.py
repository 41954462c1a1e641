"""Contract fake of the TalentLMS API v1, as target-apis.md §2a describes it.

Reach it through ``httpx.ASGITransport(app=fake.app)`` under ``http://<host>/api/v1``.

What it enforces, as the vendor documents it ([A] where no source says so):

- HTTP basic auth with the API key as username and an empty password; anything else is
  401 with the v1 error body ``{"error": {"type", "message"}}`` ([A] message). With
  ``api_enabled=False`` every call is 403 (API not enabled for the domain).
- GET arguments as path segments ``key:value`` joined by commas, values percent-decoded;
  POST bodies form-encoded only (JSON is 400 ``Invalid arguments provided``).
- ``usersignup`` requires first_name, last_name, email, login and a password meeting the
  documented rule; unknown parameters are refused (400 ``Invalid arguments provided``,
  [A]: the real API may ignore them); email and login are unique (case-insensitively [A]),
  with the vendor's exact messages (status 400 [A]); ``branch_id`` must exist.
- ``edituser``, ``usersetstatus``, ``deleteuser``, ``users`` lookups by id, email and
  username, ``getcustomregistrationfields``, ``branches``, ``addusertobranch``. An unknown
  user is 404 ``The requested user does not exist``; an unknown action 404 ``The requested
  API action does not exist`` ([A] status).
- 200 calls per 5 seconds (sliding window, on ``clock``) [V]: the 201st is 429 ([A]
  status) with no rate-limit header at all, as v1 sends none [I].
- The plan's API quota [V]: ``quota`` calls per hour (from the first call, on ``wall``,
  unix seconds), reported by ``GET /ratelimit`` as ``{"limit", "remaining", "reset",
  "formatted_reset"}`` (strings, as v1 answers numbers); once spent, every other call is
  429 until ``reset`` ([A]: status and message); ``/ratelimit`` itself does not spend it [A].

Users are returned with numbers as strings, as v1 does, plus ``custom_field_N`` values
[A] and ``created_on`` in the portal's format (``dd/mm/yyyy, HH:MM:SS``) with
``created_on_timestamp`` [I]. ``GET /branches/id:{id}`` lists the branch's members as
``users: [{id, name}]`` [I] (v1 has no ``getusersbybranch`` [V]).
Each password received is appended to :attr:`TalentLmsFake.secrets` (after the API key), so
a test can assert that none of them is ever logged; responses never carry one.
"""

import base64
import binascii
import re
import secrets as random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.catalog import Served
from tests.fakes.common import SlidingWindow

API_ROOT = "/api/v1"
RATE_LIMIT_CALLS, RATE_LIMIT_SECONDS = 200, 5.0
QUOTA_CALLS, QUOTA_SECONDS = 10000, 3600.0  # [V] /ratelimit's example limit; hourly [V]
FORM = "application/x-www-form-urlencoded"

INVALID_ARGUMENTS = "Invalid arguments provided"
NO_SUCH_ACTION = "The requested API action does not exist"
NO_SUCH_USER = "The requested user does not exist"
NO_SUCH_BRANCH = "The requested branch does not exist"
DUPLICATE_EMAIL = "A user with the same email address already exists"
DUPLICATE_LOGIN = "A user with the same login already exists"
ALREADY_IN_BRANCH = "The requested user is already a member of this branch"
WEAK_PASSWORD = (
    "Password is not strong enough (should have at least (1) upper case letter, at least (1) "
    "lower case letter, at least (1) number, at least (8) characters in length)"
)
INVALID_KEY = "Invalid API key provided"  # [A]
API_DISABLED = "API is not enabled for this domain or the domain is inactive"  # [A]
RATE_LIMITED = "API rate limit exceeded"  # [A]
QUOTA_SPENT = "API calls limit reached for this period"  # [A]
SERVER_ERROR = "Internal server error"  # [A]
DEFAULT_MESSAGES = {429: RATE_LIMITED, 500: SERVER_ERROR, 502: SERVER_ERROR, 503: SERVER_ERROR}

SIGNUP_PARAMS = frozenset(
    {"first_name", "last_name", "email", "login", "password"}
    | {"restrict_email", "user_type", "language", "branch_id", "group_id"}
)
EDIT_PARAMS = frozenset(
    {"user_id", "first_name", "last_name", "email", "login", "password", "bio", "timezone"}
    | {"credits", "restrict_email", "deactivation_date"}
)
STRONG = (re.compile(r"[A-Z]"), re.compile(r"[a-z]"), re.compile(r"[0-9]"), re.compile(r".{8,}"))


class ApiError(Exception):
    """A documented v1 failure: the status and the message of the error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class FakeUser:
    """One portal user as the fake stores it (the password only to check the rule)."""

    id: int
    login: str
    email: str
    first_name: str
    last_name: str
    status: str = "active"
    language: str = "en"
    user_type: str = "Learner-Type"
    restrict_email: str = "off"
    bio: str = ""
    timezone: str = "(GMT +00:00) UTC"
    credits: str = "0"
    deactivation_date: str = ""
    custom: dict[str, str] = field(default_factory=dict)
    branches: set[int] = field(default_factory=set)
    created_on: datetime = field(default_factory=lambda: datetime.now(UTC))

    def document(self, branch_names: Mapping[int, str], *, abridged: bool = False) -> dict:
        created = self.created_on.strftime("%d/%m/%Y, %H:%M:%S")
        user: dict[str, Any] = {
            "id": str(self.id),
            "login": self.login,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "restrict_email": self.restrict_email,
            "user_type": self.user_type,
            "timezone": self.timezone,
            "language": self.language,
            "status": self.status,
            "deactivation_date": self.deactivation_date,
            "level": "1",
            "points": "0",
            "created_on": created,
            "created_on_timestamp": str(int(self.created_on.timestamp())),
            "last_updated": created,
            "last_updated_timestamp": str(int(self.created_on.timestamp())),
            "avatar": "https://acme.talentlms.com/pages/images/default_user.png",
            "bio": self.bio,
            "login_key": f"https://acme.talentlms.com/index/autologin/key:{random.token_hex(8)}",
            **self.custom,
        }
        if not abridged:
            user["branches"] = [{"id": str(b), "name": branch_names[b]} for b in self.branches]
            user |= {"courses": [], "groups": [], "certifications": []}
        return user


class TalentLmsFake:
    """A TalentLMS portal's v1 API, in memory.

    Args:
        api_key: the only key accepted.
        custom_fields: the portal's custom user fields, ``(name, type)`` in order; they get
            keys ``custom_field_1``, ``custom_field_2``...
        branches: branch id -> name.
        clock: monotonic seconds for the rate limit window.
        quota: API calls the plan allows per hour.
        wall: unix seconds, for the quota's period and its ``reset``.
    """

    def __init__(
        self,
        api_key: str,
        *,
        custom_fields: tuple[tuple[str, str], ...] = (),
        branches: Mapping[int, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        quota: int = QUOTA_CALLS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.api_key = api_key
        self.quota, self.wall = quota, wall
        self._period_start: float | None = None
        self._spent = 0
        self.custom_fields = [
            (f"custom_field_{n}", name, kind) for n, (name, kind) in enumerate(custom_fields, 1)
        ]
        self.branches = dict(branches or {1: "acme"})
        self.clock = clock
        self.api_enabled = True
        self.users: dict[int, FakeUser] = {}
        self.deleted: list[tuple[int, str]] = []
        self.calls: list[tuple[str, str]] = []
        self.secrets: list[str] = [api_key]
        self._next_id = 11
        self._window = SlidingWindow(RATE_LIMIT_CALLS, RATE_LIMIT_SECONDS)
        self._failures: list[tuple[int, dict[str, str], Any]] = []
        self._actions: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
            ("GET", "users"): self._users,
            ("POST", "usersignup"): self._signup,
            ("POST", "edituser"): self._edit,
            ("GET", "usersetstatus"): self._set_status,
            ("POST", "deleteuser"): self._delete,
            ("GET", "getcustomregistrationfields"): self._custom_definitions,
            ("GET", "branches"): self._branches,
            ("GET", "addusertobranch"): self._add_to_branch,
            ("GET", "ratelimit"): self._rate_limit,
        }
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(
            routes=[Route(API_ROOT + "/{rest:path}", self._handle, methods=methods)]
        )

    # -- test helpers ----------------------------------------------------------------------

    def fail_next(
        self, status: int, *, headers: Mapping[str, str] | None = None, body: Any = None
    ) -> None:
        """Answer the next request with ``status`` (before auth), then behave again."""
        self._failures.append((status, dict(headers or {}), body))

    def add_user(self, **values: Any) -> FakeUser:
        """Seed a user that exists before scimgw (``login``, ``email``, names...)."""
        user = FakeUser(id=self._take_id(), **values)
        self.users[user.id] = user
        return user

    def by_email(self, email: str) -> FakeUser | None:
        return next((u for u in self.users.values() if _same(u.email, email)), None)

    def count(self, action: str) -> int:
        """How many authenticated calls reached ``action``."""
        return sum(1 for _, name in self.calls if name == action)

    # -- the API ---------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        if self._failures:
            status, headers, body = self._failures.pop(0)
            if body is None:
                return _error(status, DEFAULT_MESSAGES.get(status, INVALID_ARGUMENTS), headers)
            return _canned(status, headers, body)
        try:
            self._authenticate(request.headers.get("authorization", ""))
            self._throttle()
            action, args = _parse_path(request.scope.get("raw_path") or request.url.path.encode())
            if action != "ratelimit":
                self._spend_quota()
            self.calls.append((request.method, action))
            handler = self._actions.get((request.method, action))
            if handler is None:
                raise ApiError(404, NO_SUCH_ACTION)
            if request.method == "POST":
                args = await _form(request)
            return JSONResponse(handler(args))
        except ApiError as exc:
            return _error(exc.status, exc.message)
        except _Throttled as exc:
            return _error(429, exc.message)  # no Retry-After: v1 sends no rate headers [I]

    def _authenticate(self, header: str) -> None:
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, colon, password = decoded.partition(":")
        if scheme.lower() != "basic" or not colon or password or username != self.api_key:
            raise ApiError(401, INVALID_KEY)
        if not self.api_enabled:
            raise ApiError(403, API_DISABLED)

    def _throttle(self) -> None:
        if self._window.wait(self.clock()) is not None:
            raise _Throttled(RATE_LIMITED)

    def _spend_quota(self) -> None:
        self._roll_period()
        if self._spent >= self.quota:
            raise _Throttled(QUOTA_SPENT)
        self._spent += 1

    def _roll_period(self) -> float:
        """The current quota period's reset (unix seconds); a new period once it is past."""
        now = self.wall()
        if self._period_start is None or now >= self._period_start + QUOTA_SECONDS:
            self._period_start, self._spent = now, 0
        return self._period_start + QUOTA_SECONDS

    def _rate_limit(self, args: dict[str, str]) -> Any:
        reset = self._roll_period()
        formatted = datetime.fromtimestamp(reset, UTC).strftime("%d/%m/%Y, %H:%M:%S")
        return {
            "limit": str(self.quota),
            "remaining": str(max(0, self.quota - self._spent)),
            "reset": str(int(reset)),
            "formatted_reset": formatted,
        }

    def _users(self, args: dict[str, str]) -> Any:
        if not args:
            return [u.document(self.branches, abridged=True) for u in self.users.values()]
        return self._document(self._find(args))

    def _signup(self, form: dict[str, str]) -> Any:
        self._refuse_unknown(form, SIGNUP_PARAMS)
        required = ("first_name", "last_name", "email", "login", "password")
        if any(not form.get(name) for name in required):
            raise ApiError(400, INVALID_ARGUMENTS)
        _check_password(form["password"])
        self.secrets.append(form["password"])
        self._check_unique(form["email"], form["login"])
        branch = self._branch(form["branch_id"]) if form.get("branch_id") else None
        user = self.add_user(
            login=form["login"],
            email=form["email"],
            first_name=form["first_name"],
            last_name=form["last_name"],
        )
        self._apply(user, form, ("language", "user_type", "restrict_email"))
        user.branches = {branch} if branch else set()
        return self._document(user)

    def _edit(self, form: dict[str, str]) -> Any:
        self._refuse_unknown(form, EDIT_PARAMS)
        user = self._user(form.get("user_id", ""))
        if len(form) < 2:
            raise ApiError(400, INVALID_ARGUMENTS)
        if form.get("password"):
            _check_password(form["password"])
            self.secrets.append(form["password"])
        self._check_unique(form.get("email"), form.get("login"), but=user)
        names = ("first_name", "last_name", "email", "login", "bio", "timezone", "credits")
        self._apply(user, form, (*names, "restrict_email", "deactivation_date"))
        return self._document(user)

    def _set_status(self, args: dict[str, str]) -> Any:
        if args.get("status") not in ("active", "inactive"):
            raise ApiError(400, INVALID_ARGUMENTS)
        user = self._user(args.get("user_id", ""))
        user.status = args["status"]
        return {"user_id": str(user.id), "status": user.status}

    def _delete(self, form: dict[str, str]) -> Any:
        self._refuse_unknown(form, {"user_id", "permanent", "deleted_by_user_id"})
        permanent = form.get("permanent", "no")
        if permanent not in ("yes", "no"):
            raise ApiError(400, INVALID_ARGUMENTS)
        user = self._user(form.get("user_id", ""))
        del self.users[user.id]
        self.deleted.append((user.id, permanent))
        return {"message": "Operation completed successfully"}

    def _custom_definitions(self, args: dict[str, str]) -> Any:
        return [
            {
                "key": key,
                "type": kind,
                "name": name,
                "mandatory": "no",
                "visible_on_reports": "yes",
                "dropdown_values": "",
                "checkbox_status": "off",
                "selective_availability": "no",
                "branch": None,
                "previous_key": None,
                "order": str(order),
            }
            for order, (key, name, kind) in enumerate(self.custom_fields, 1)
        ]

    def _branches(self, args: dict[str, str]) -> Any:
        if not args:
            return [{"id": str(b), "name": name} for b, name in self.branches.items()]
        branch = self._branch(args.get("id", ""))
        members = [
            {"id": str(u.id), "name": f"{u.first_name} {u.last_name}"}
            for u in self.users.values()
            if branch in u.branches
        ]  # [I] a branch's users as {id, name}: the way to list them (no getusersbybranch)
        return {"id": str(branch), "name": self.branches[branch], "users": members, "courses": []}

    def _add_to_branch(self, args: dict[str, str]) -> Any:
        user, branch = self._user(args.get("user_id", "")), self._branch(args.get("branch_id", ""))
        if branch in user.branches:
            raise ApiError(400, ALREADY_IN_BRANCH)
        user.branches.add(branch)
        return {
            "user_id": str(user.id),
            "branch_id": str(branch),
            "branch_name": self.branches[branch],
        }

    # -- rules -----------------------------------------------------------------------------

    def _find(self, args: dict[str, str]) -> FakeUser:
        if len(args) != 1:
            raise ApiError(400, INVALID_ARGUMENTS)
        [(key, value)] = args.items()
        if key == "id":
            return self._user(value)
        field_name = {"email": "email", "username": "login"}.get(key)
        if field_name is None:
            raise ApiError(400, INVALID_ARGUMENTS)
        found = [u for u in self.users.values() if _same(getattr(u, field_name), value)]
        if not found:
            raise ApiError(404, NO_SUCH_USER)
        return found[0]

    def _user(self, user_id: str) -> FakeUser:
        if not user_id.isdigit():
            raise ApiError(400, INVALID_ARGUMENTS)
        if int(user_id) not in self.users:
            raise ApiError(404, NO_SUCH_USER)
        return self.users[int(user_id)]

    def _branch(self, branch_id: str) -> int:
        if not str(branch_id).isdigit():
            raise ApiError(400, INVALID_ARGUMENTS)
        if int(branch_id) not in self.branches:
            raise ApiError(404, NO_SUCH_BRANCH)
        return int(branch_id)

    def _refuse_unknown(self, form: Mapping[str, str], allowed: set[str] | frozenset[str]) -> None:
        custom = {key for key, _, _ in self.custom_fields}
        if any(name not in allowed and name not in custom for name in form):
            raise ApiError(400, INVALID_ARGUMENTS)

    def _check_unique(
        self, email: str | None, login: str | None, but: FakeUser | None = None
    ) -> None:
        others = [u for u in self.users.values() if u is not but]
        if email and any(_same(u.email, email) for u in others):
            raise ApiError(400, DUPLICATE_EMAIL)
        if login and any(_same(u.login, login) for u in others):
            raise ApiError(400, DUPLICATE_LOGIN)

    def _apply(self, user: FakeUser, form: Mapping[str, str], names: tuple[str, ...]) -> None:
        for name in names:
            if name in form:
                setattr(user, name, form[name])
        custom = {key for key, _, _ in self.custom_fields}
        user.custom |= {k: v for k, v in form.items() if k in custom}

    def _document(self, user: FakeUser) -> dict:
        return user.document(self.branches)

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1


class _Throttled(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _parse_path(raw_path: bytes) -> tuple[str, dict[str, str]]:
    """``/api/v1/users/email:a%40b.c,x:y`` -> ``("users", {"email": "a@b.c", "x": "y"})``.

    Splits before percent-decoding, so an encoded comma or colon stays inside its value.
    """
    path = raw_path.decode("ascii").split("?", 1)[0][len(API_ROOT) + 1 :]
    action, _, segment = path.partition("/")
    args = {}
    for part in filter(None, segment.strip("/").split(",")):
        key, colon, value = part.partition(":")
        if not colon:
            raise ApiError(400, INVALID_ARGUMENTS)
        args[unquote(key)] = unquote(value)
    return action, args


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise ApiError(400, INVALID_ARGUMENTS)
    body = (await request.body()).decode("utf-8")
    return dict(parse_qsl(body, keep_blank_values=True))


def _check_password(password: str) -> None:
    if not all(rule.search(password) for rule in STRONG):
        raise ApiError(400, WEAK_PASSWORD)


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    body = {"error": {"type": kind, "message": message}}
    return JSONResponse(body, status, headers=dict(headers or {}))


def _canned(status: int, headers: Mapping[str, str], body: Any) -> Response:
    if isinstance(body, str):
        return Response(body, status, headers=dict(headers))
    return JSONResponse(body, status, headers=dict(headers))


API_KEY = "talentlms-fake-key"


def serve(people: int) -> Served:
    """A portal with ``people`` learners learner1..N@acme.example (the even ones also in
    branch 2, the last inactive when there are three or more), and accounts for
    person1@acme.example and person3@acme.example, whom the TalentHR fake employs, for the
    serve command."""
    fake = TalentLmsFake(
        API_KEY, branches={1: "acme", 2: "sales"}, custom_fields=(("hireDate", "date"),)
    )
    created = datetime(2024, 9, 17, 8, 30, tzinfo=UTC)
    for number in range(1, people + 1):
        user = fake.add_user(
            login=f"learner{number}",
            email=f"learner{number}@acme.example",
            first_name=f"Learner{number}",
            last_name=f"Lms{number}",
            status="inactive" if people >= 3 and number == people else "active",
            created_on=created,
        )
        user.branches = {1} | ({2} if number % 2 == 0 else set())
    for number in (1, 3):
        fake.add_user(
            login=f"person{number}",
            email=f"person{number}@acme.example",
            first_name=f"P{number}",
            last_name="Portal",
            created_on=created,
        ).branches = {1}
    return Served(
        app=fake.app,
        base_path=API_ROOT,
        notes=[
            f"auth: basic, username (the API key) {API_KEY!r}, empty password",
            f"{people} learners, learner1@acme.example to learner{people}@acme.example, "
            "created 2024-09-17; the even ones also in branch 2 (options.branch_id: 2)"
            + ("; the last inactive" if people >= 3 else ""),
            "accounts for person1@acme.example and person3@acme.example (TalentHR's people)",
            'custom field "hireDate" (date) is custom_field_1; nobody has it set',
        ],
    )
