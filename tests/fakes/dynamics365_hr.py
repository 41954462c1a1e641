"""Contract fake of Dynamics 365 Human Resources' OData API (finance and operations, unified HR).

One ASGI app answers two hosts, as the real services do (reach it through
``httpx.ASGITransport(app=hr.app)``; routing is by the ``Host`` header):

``login.microsoftonline.com``
    The Microsoft identity platform, played by :class:`tests.fakes.oauth_server.OAuthServer`.
    The fake notes the client id and scope each issued token was asked for: what a real
    token's ``appid`` and ``aud`` claims carry.
``<env>.operations.dynamics.com`` (target-apis.md §1a)
    ``GET /data/$metadata``
        CSDL (XML) of the ``Worker`` entity type, with the custom fields enabled for it,
        and of ``Employment``.
    ``GET /data/Workers``
        ``$filter`` with one ``eq`` on a string property (a quote doubled inside the
        literal; ``*`` is a wildcard, as in F&O; case-insensitive, as SQL Server compares),
        ``$select`` (an unknown property is a 400 OData error), ``$top`` and server-driven
        paging with ``@odata.nextLink`` (``page_size`` rows a page; the link is built from
        the request's own address). Only the default company's rows unless
        ``cross-company=true`` [V odata.md]; whether Workers is per company is [A].
    ``GET /data/Employments``
        One employment per worker (hr-employ-v2 fields), ``$select`` and paging as above;
        a start F&O leaves empty is ``1900-01-01``, an open end ``2154-12-31`` [A].
    ``PATCH /data/Workers(PersonnelNumber='...')``
        JSON only (415), ``If-Match`` required (412), a property the type lacks or a value
        of the wrong type is a 400 OData error, the key cannot change; 204 on success.

Every ``/data`` request needs a bearer token issued for ``<env>/.default``, still valid at
the identity fake, to a client registered in F&O ("Microsoft Entra applications"); else
401 with an empty body [A]. Beyond ``throttle`` requests per window the fake answers 429
with ``Retry-After`` [V throttling FAQ]. ``fail_next`` queues canned answers.

:meth:`Dynamics365Hr.served_app` is the same fake on one address (identity under
``/login``, OData under ``/data``), for real sockets; :func:`serve` seeds one for
``python -m tests.fakes serve dynamics365_hr``.
"""

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from xml.sax.saxutils import quoteattr

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Host, Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fakes.catalog import Served
from tests.fakes.oauth_server import OAuthServer

ENVIRONMENT = "https://contoso.operations.dynamics.com"
LOGIN_HOST = "login.microsoftonline.com"
#: Where :meth:`Dynamics365Hr.served_app` answers the identity platform's routes.
LOGIN_PATH = "/login"
NAMESPACE = "Microsoft.Dynamics.DataEntities"
WORKER_TYPE = f"{NAMESPACE}.Worker"
EMPLOYMENT_TYPE = f"{NAMESPACE}.Employment"
NO_YES = f"{NAMESPACE}.NoYes"
#: Standard string properties of the entity (hr-dataverse-integration "Worker to Worker").
STANDARD = (
    "PersonnelNumber",
    "FirstName",
    "MiddleName",
    "LastName",
    "Name",
    "PrimaryContactEmail",
    "PrimaryContactPhone",
    "WorkerType",
)
#: Properties of the employment entity (hr-employ-v2) and its set's name [A].
EMPLOYMENT = ("PersonnelNumber", "LegalEntityId", "EmploymentStartDate", "EmploymentEndDate")
EMPLOYMENTS = "Employments"
#: The company rows belong to; others are read only with ``cross-company=true`` [V odata.md].
DEFAULT_COMPANY = "USMF"
#: F&O's largest page [V odata.md].
MAX_PAGE = 10_000
_FILTER = re.compile(r"\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*")
_KEY = re.compile(r"Workers\(PersonnelNumber='((?:[^']|'')*)'\)")
_DEFAULTS = {"Edm.String": "", "Edm.Decimal": 0, "Edm.Int32": 0, "Edm.Int64": 0, NO_YES: "No"}
_DEFAULTS["Edm.DateTimeOffset"] = "1900-01-01T00:00:00Z"  # F&O's "empty" date [A]
#: The end of an open-ended date-effective record: F&O's largest date [A].
NEVER = "2154-12-31T23:59:59Z"


@dataclass
class Worker:
    """One worker: the standard fields HR owns and the custom fields written to it."""

    personnel_number: str
    first_name: str
    last_name: str
    email: str
    status: str = "Employed"
    custom: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    middle_name: str = ""
    phone: str = ""
    company: str = DEFAULT_COMPANY
    #: The employment's first and last day (``YYYY-MM-DD``); none: F&O's empty date.
    started: str | None = "2020-01-06"
    ended: str | None = None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True)
class Grant:
    """What a token was issued for (the ``appid`` and ``aud`` claims of a real one)."""

    client_id: str | None
    scope: str | None


@dataclass
class Seen:
    """A request to ``/data`` as the fake received it."""

    method: str
    path: str
    raw_query: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes


class Dynamics365Hr:
    """An F&O environment with workers, its custom fields and the identity platform in front.

    Args:
        identity: the token endpoint (its tenant, client and secret or certificate).
        environment: the environment URL; tokens must be for ``<environment>/.default``.
        registered_clients: client ids registered in F&O; the identity's client by default.
        custom_fields: custom fields enabled on the Worker entity: name -> type
            (``Edm.String``, ``Edm.Decimal``, ``Edm.Int32``, ``Edm.DateTimeOffset``,
            :data:`NO_YES`).
        page_size: rows per page before ``@odata.nextLink``.
        throttle: (requests, seconds): at most that many ``/data`` requests per window.
        clock: monotonic seconds, for the throttle window.
    """

    def __init__(
        self,
        identity: OAuthServer,
        *,
        environment: str = ENVIRONMENT,
        registered_clients: set[str] | None = None,
        custom_fields: Mapping[str, str] | None = None,
        page_size: int = MAX_PAGE,
        throttle: tuple[int, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = identity
        self.environment = environment.rstrip("/")
        self.registered_clients = registered_clients or {identity.client_id}
        self.custom_fields = dict(custom_fields or {})
        self.page_size = page_size
        self.throttle = throttle
        self.clock = clock
        self.workers: dict[str, Worker] = {}
        self.grants: dict[str, Grant] = {}
        self.requests: list[Seen] = []
        #: Where next links point when set (a proxy rewriting hosts wrongly); else the
        #: request's own address.
        self.link_base: str | None = None
        self._failures: list[tuple[int, Mapping[str, str], Any]] = []
        self._window: tuple[float, int] = (float("-inf"), 0)
        self._odata = Router(
            routes=[
                Route("/data/$metadata", self._metadata, methods=["GET"]),
                Route("/data/{segment}", self._collection, methods=["GET"]),
                Route("/data/{segment}", self._patch, methods=["PATCH"]),
            ]
        )
        self.app = Starlette(
            routes=[
                Host(LOGIN_HOST, app=_GrantRecorder(identity.app, self.grants)),
                Host(httpx.URL(self.environment).host, app=_Guard(self, self._odata)),
            ]
        )

    def served_app(self) -> ASGIApp:
        """The fake on one address, as ``python -m tests.fakes serve`` runs it: the identity
        platform under ``/login`` (a ``microsoft`` auth's ``authority``), OData under ``/data``.
        """
        recorder = _GrantRecorder(self.identity.app, self.grants)
        return Starlette(
            routes=[Mount(LOGIN_PATH, app=recorder), Mount("/", app=_Guard(self, self._odata))]
        )

    def hire(self, number: str, first: str, last: str, email: str, **fields: Any) -> Worker:
        """Add a worker (HR's job, never scimgw's)."""
        worker = Worker(number, first, last, email, **fields)
        self.workers[number] = worker
        return worker

    def fail_next(
        self, status: int, headers: Mapping[str, str] | None = None, body: Any = None
    ) -> None:
        """Answer the next ``/data`` request with ``status`` (before auth); ``body`` is JSON."""
        self._failures.append((status, headers or {}, body))

    def written(self) -> dict[str, Worker]:
        """Workers carrying at least one custom value, by personnel number."""
        return {number: w for number, w in self.workers.items() if w.custom}

    # -- what every /data request goes through ---------------------------------------------

    async def admit(self, request: Request) -> Response | None:
        """The canned, throttle or 401 answer a request gets before routing, or None."""
        self.requests.append(
            Seen(
                request.method,
                request.url.path,
                request.url.query,
                dict(request.query_params),
                request.headers,
                await request.body(),
            )
        )
        if self._failures:
            status, headers, body = self._failures.pop(0)
            content = b"" if body is None else orjson.dumps(body)
            return Response(content, status, headers=dict(headers), media_type="application/json")
        if (wait := self._throttled()) is not None:
            return Response(b"", 429, headers={"Retry-After": str(wait)})
        if not await self._authorized(request.headers.get("Authorization", "")):
            return Response(b"", 401, headers={"WWW-Authenticate": "Bearer"})
        return None

    def _throttled(self) -> int | None:
        if self.throttle is None:
            return None
        limit, seconds = self.throttle
        started, count = self._window
        now = self.clock()
        if now - started >= seconds:
            started, count = now, 0
        self._window = (started, count + 1)
        return int(started + seconds - now) + 1 if count >= limit else None

    async def _authorized(self, header: str) -> bool:
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        grant = self.grants.get(token)
        if grant is None or grant.scope != f"{self.environment}/.default":
            return False
        if grant.client_id not in self.registered_clients:
            return False
        # Still valid (not expired, not revoked)? Ask the identity fake's protected resource.
        transport = httpx.ASGITransport(app=self.identity.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            answer = await client.get("/resource", headers={"Authorization": header})
        return answer.status_code == 200

    # -- OData -----------------------------------------------------------------------------

    async def _metadata(self, request: Request) -> Response:
        return Response(self.metadata(), media_type="application/xml")

    def metadata(self) -> str:
        """The CSDL document: Worker, its enabled custom fields, the NoYes enum, the set."""
        props = [f'<Property Name="{name}" Type="Edm.String" />' for name in STANDARD]
        props.append(f'<Property Name="WorkerStatus" Type="{NAMESPACE}.HcmWorkerStatus" />')
        props += [
            f'<Property Name={quoteattr(name)} Type="{kind}" Nullable="false" />'
            for name, kind in self.custom_fields.items()
        ]
        employment = [
            f'<Property Name="{name}" Type="{"Edm.String" if i < 2 else "Edm.DateTimeOffset"}" />'
            for i, name in enumerate(EMPLOYMENT)
        ]
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
            '<edmx:DataServices><Schema Namespace="Microsoft.Dynamics.DataEntities" '
            'xmlns="http://docs.oasis-open.org/odata/ns/edm">'
            '<EntityType Name="Worker"><Key><PropertyRef Name="PersonnelNumber" /></Key>'
            f"{''.join(props)}</EntityType>"
            '<EntityType Name="Employment"><Key><PropertyRef Name="PersonnelNumber" />'
            '<PropertyRef Name="LegalEntityId" /></Key>'
            f"{''.join(employment)}</EntityType>"
            '<EnumType Name="NoYes"><Member Name="No" Value="0" /><Member Name="Yes" Value="1" />'
            '</EnumType><EntityContainer Name="Resources">'
            f'<EntitySet Name="Workers" EntityType="{WORKER_TYPE}" />'
            f'<EntitySet Name="{EMPLOYMENTS}" EntityType="{EMPLOYMENT_TYPE}" />'
            "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
        )

    async def _collection(self, request: Request) -> Response:
        segment = request.path_params["segment"]
        if segment not in ("Workers", EMPLOYMENTS):
            return _not_found(segment)
        query = request.query_params
        every_company = query.get("cross-company", "").lower() == "true"
        workers = [
            w for w in self.workers.values() if every_company or w.company == DEFAULT_COMPANY
        ]
        try:
            if segment == "Workers":
                rows = [self._entity(w) for w in workers if self._matches(w, query)]
                select = _select(query.get("$select"), self._properties(), WORKER_TYPE)
            else:
                if "$filter" in query:
                    raise ODataError(400, "The fake filters no employments.")
                rows = [_employment(w) for w in workers]
                select = _select(query.get("$select"), set(EMPLOYMENT), EMPLOYMENT_TYPE)
        except ODataError as error:
            return error.response()
        rows = rows[: int(query["$top"])] if "$top" in query else rows
        skip = int(query.get("$skiptoken", "0"))
        page = [{k: v for k, v in row.items() if not select or k in select} for row in rows]
        body: dict[str, Any] = {"@odata.context": f"{self.environment}/data/$metadata#{segment}"}
        body["value"] = page[skip : skip + self.page_size]
        if skip + self.page_size < len(page):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(skip + self.page_size)
            # Built from the request's own URL, as a service behind any host name does.
            link = urlencode(rest, quote_via=quote, safe="$',")
            here = str(request.url.replace(query=link))
            base = self.link_base
            body["@odata.nextLink"] = here if base is None else base + here.split("/data/", 1)[1]
        return JSONResponse(body)

    def _properties(self) -> set[str]:
        return {*STANDARD, "WorkerStatus", *self.custom_fields}

    def _entity(self, worker: Worker) -> dict[str, Any]:
        row = {
            "@odata.etag": worker.etag,
            "PersonnelNumber": worker.personnel_number,
            "FirstName": worker.first_name,
            "MiddleName": worker.middle_name,
            "LastName": worker.last_name,
            "Name": f"{worker.first_name} {worker.last_name}",
            "PrimaryContactEmail": worker.email,
            "PrimaryContactPhone": worker.phone,
            "WorkerType": "Employee",
            "WorkerStatus": worker.status,
        }
        for name, kind in self.custom_fields.items():
            row[name] = worker.custom.get(name, _DEFAULTS.get(kind))
        return row

    def _matches(self, worker: Worker, query: Mapping[str, str]) -> bool:
        if "$filter" not in query:
            return True
        match = _FILTER.fullmatch(query["$filter"])
        if not match:
            raise ODataError(400, "The query specified in the URI is not valid: bad $filter.")
        name, literal = match.group(1), match.group(2).replace("''", "'")
        if name not in STANDARD:
            raise _no_property(name, WORKER_TYPE)
        pattern = ".*".join(re.escape(part) for part in literal.split("*"))
        return re.fullmatch(pattern, str(self._entity(worker)[name]), re.IGNORECASE) is not None

    async def _patch(self, request: Request) -> Response:
        match = _KEY.fullmatch(request.path_params["segment"])
        worker = self.workers.get(match.group(1).replace("''", "'")) if match else None
        if worker is None:
            return _not_found(request.path_params["segment"])
        try:
            changes = self._changes(request, worker, await request.body())
        except ODataError as error:
            return error.response()
        worker.custom.update({k: v for k, v in changes.items() if k in self.custom_fields})
        if "PrimaryContactEmail" in changes:
            worker.email = changes["PrimaryContactEmail"]
        worker.version += 1
        return Response(status_code=204)

    def _changes(self, request: Request, worker: Worker, raw: bytes) -> dict[str, Any]:
        media = request.headers.get("Content-Type", "").split(";")[0].strip()
        if media != "application/json":
            raise ODataError(415, f"The request entity's media type '{media}' is not supported.")
        if_match = request.headers.get("If-Match")
        if if_match not in ("*", worker.etag):
            raise ODataError(412, "The If-Match header is missing or does not match the entity.")
        try:
            changes = orjson.loads(raw)
        except orjson.JSONDecodeError:
            changes = None
        if not isinstance(changes, dict):
            raise ODataError(400, "The request body must be a JSON object.")
        for name, value in changes.items():
            self._check_property(worker, name, value)
        return changes

    def _check_property(self, worker: Worker, name: str, value: Any) -> None:
        if name == "PersonnelNumber" and value != worker.personnel_number:
            raise ODataError(400, "The key property 'PersonnelNumber' cannot be modified.")
        if name in STANDARD:
            return
        kind = self.custom_fields.get(name)
        if kind is None:
            raise ODataError(
                400,
                f"The property '{name}' does not exist on type '{WORKER_TYPE}'. Make sure to "
                "only use property names that are defined by the type.",
            )
        if not _fits(value, kind):
            raise ODataError(
                400,
                f"Cannot convert a JSON {type(value).__name__} to the expected type '{kind}' "
                f"of the property '{name}'.",
            )


def _fits(value: Any, kind: str) -> bool:
    """Whether a JSON value fits a non-nullable custom field's type."""
    if kind == "Edm.String":
        return isinstance(value, str)
    if kind in ("Edm.Int32", "Edm.Int64"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "Edm.Decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == NO_YES:
        return value in ("Yes", "No")
    if kind == "Edm.DateTimeOffset" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            return False
    return False


class ODataError(Exception):
    """An OData error answer: F&O puts the detail in ``innererror`` [A]."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def response(self) -> Response:
        inner = {"message": self.message, "type": "Microsoft.OData.ODataException"}
        error = {"code": "", "message": "An error has occurred.", "innererror": inner}
        return JSONResponse({"error": error}, self.status)


def _no_property(name: str, entity_type: str) -> ODataError:
    return ODataError(400, f"Could not find a property named '{name}' on type '{entity_type}'.")


def _select(select: str | None, known: set[str], entity_type: str) -> set[str]:
    """The properties ``$select`` names (none: all); an unknown one is a 400."""
    names = {name.strip() for name in select.split(",")} if select else set()
    unknown = sorted(names - known)
    if unknown:
        raise _no_property(unknown[0], entity_type)
    return names | {"@odata.etag"} if names else names


def _employment(worker: Worker) -> dict[str, Any]:
    """The worker's employment row: F&O's empty and "never" dates where no day is set [A]."""
    start = f"{worker.started}T00:00:00Z" if worker.started else _DEFAULTS["Edm.DateTimeOffset"]
    end = f"{worker.ended}T00:00:00Z" if worker.ended else NEVER
    return {
        "@odata.etag": worker.etag,
        "PersonnelNumber": worker.personnel_number,
        "LegalEntityId": worker.company,
        "EmploymentStartDate": start,
        "EmploymentEndDate": end,
    }


def _not_found(segment: str) -> Response:
    body = {"error": {"code": "", "message": f"Resource not found for the segment '{segment}'."}}
    return JSONResponse(body, 404)


class _Guard:
    """Puts :meth:`Dynamics365Hr.admit` in front of the OData routes."""

    def __init__(self, hr: Dynamics365Hr, app: ASGIApp) -> None:
        self.hr, self.app = hr, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        refusal = await self.hr.admit(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = await request.body()  # consumed by admit: hand it on again

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class _GrantRecorder:
    """Passes token requests to the identity fake; notes who each issued token is for."""

    def __init__(self, app: ASGIApp, grants: dict[str, Grant]) -> None:
        self.app, self.grants = app, grants

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        answer: dict[str, Any] = {"status": 0, "chunks": []}

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["chunks"].append(message.get("body", b""))
            await send(message)

        await self.app(scope, replay, capture)
        if answer["status"] == 200:
            token = orjson.loads(b"".join(answer["chunks"]))["access_token"]
            form = dict(parse_qsl(body.decode()))
            self.grants[token] = Grant(form.get("client_id"), form.get("scope"))


#: What :func:`serve` seeds: the app registration and the custom fields of the S1 seed.
SERVED_TENANT = "contoso-tenant"
SERVED_CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"
SERVED_SECRET = "local-d365-secret"
SERVED_CUSTOM = {
    "Team_Custom": "Edm.String",
    "EloopsPoints_Custom": "Edm.Decimal",
    "EloopsCoins_Custom": "Edm.Int32",
}
TEAMS = ("Sales", "Support", "R&D")


def serve(people: int) -> Served:
    """Workers 000001.. (emails in mixed case, as HR types them), HR's throttle, one path."""
    identity = OAuthServer(
        client_id=SERVED_CLIENT, client_secret=SERVED_SECRET, tenant_id=SERVED_TENANT
    )
    hr = Dynamics365Hr(identity, custom_fields=SERVED_CUSTOM, page_size=100, throttle=(500, 300))
    for n in range(1, people + 1):
        team = {"Team_Custom": TEAMS[n % len(TEAMS)]}
        hr.hire(
            f"{n:06d}", f"First{n}", f"Last{n}", f"First{n}.Last{n}@Contoso.example", custom=team
        )
    return Served(
        app=hr.served_app(),
        base_path="/data",
        notes=[
            f"auth: type microsoft, authority <this address>{LOGIN_PATH}, "
            f"tenant_id {SERVED_TENANT}, client_id {SERVED_CLIENT}, "
            f"client_secret {SERVED_SECRET!r}, resource {ENVIRONMENT}",
            f"{people} workers, personnel numbers 000001 to {people:06d}, all employed",
            f"custom fields: {', '.join(f'{k} ({v})' for k, v in SERVED_CUSTOM.items())}",
            "employments: options.employment_entity_set: Employments",
        ],
    )
