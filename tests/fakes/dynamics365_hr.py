"""Contract fake of Dynamics 365 Human Resources' OData API (finance and operations, unified HR).

One ASGI app answers two hosts, as the real services do (reach it through
``httpx.ASGITransport(app=hr.app)``; routing is by the ``Host`` header):

``login.microsoftonline.com``
    The Microsoft identity platform, played by :class:`tests.fakes.oauth_server.OAuthServer`.
    The fake notes the client id and scope each issued token was asked for: what a real
    token's ``appid`` and ``aud`` claims carry.
``<env>.operations.dynamics.com`` (target-apis.md §1a)
    ``GET /data/$metadata``
        CSDL (XML) of the ``Worker`` entity type, with the custom fields enabled for it.
    ``GET /data/Workers``
        ``$filter`` with one ``eq`` on a string property (a quote doubled inside the
        literal; ``*`` is a wildcard, as in F&O; case-insensitive, as SQL Server compares),
        ``$select``, ``$top`` and server-driven paging with ``@odata.nextLink``.
    ``PATCH /data/Workers(PersonnelNumber='...')``
        JSON only (415), ``If-Match`` required (412), a property the type lacks or a value
        of the wrong type is a 400 OData error, the key cannot change; 204 on success.

Every ``/data`` request needs a bearer token issued for ``<env>/.default``, still valid at
the identity fake, to a client registered in F&O ("Microsoft Entra applications"); else
401 with an empty body [A]. Beyond ``throttle`` requests per window the fake answers 429
with ``Retry-After`` [V throttling FAQ]. ``fail_next`` queues canned answers.
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
from starlette.routing import Host, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fakes.oauth_server import OAuthServer

ENVIRONMENT = "https://contoso.operations.dynamics.com"
LOGIN_HOST = "login.microsoftonline.com"
NAMESPACE = "Microsoft.Dynamics.DataEntities"
WORKER_TYPE = f"{NAMESPACE}.Worker"
NO_YES = f"{NAMESPACE}.NoYes"
#: Standard string properties of the entity (hr-dataverse-integration "Worker to Worker").
STANDARD = ("PersonnelNumber", "FirstName", "LastName", "Name", "PrimaryContactEmail")
#: F&O's largest page [V odata.md].
MAX_PAGE = 10_000
_FILTER = re.compile(r"\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*")
_KEY = re.compile(r"Workers\(PersonnelNumber='((?:[^']|'')*)'\)")
_DEFAULTS = {"Edm.String": "", "Edm.Decimal": 0, "Edm.Int32": 0, "Edm.Int64": 0, NO_YES: "No"}
_DEFAULTS["Edm.DateTimeOffset"] = "1900-01-01T00:00:00Z"  # F&O's "empty" date [A]


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
        self._failures: list[tuple[int, Mapping[str, str], Any]] = []
        self._window: tuple[float, int] = (float("-inf"), 0)
        odata = Router(
            routes=[
                Route("/data/$metadata", self._metadata, methods=["GET"]),
                Route("/data/{segment}", self._collection, methods=["GET"]),
                Route("/data/{segment}", self._patch, methods=["PATCH"]),
            ]
        )
        self.app = Starlette(
            routes=[
                Host(LOGIN_HOST, app=_GrantRecorder(identity.app, self.grants)),
                Host(httpx.URL(self.environment).host, app=_Guard(self, odata)),
            ]
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
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
            '<edmx:DataServices><Schema Namespace="Microsoft.Dynamics.DataEntities" '
            'xmlns="http://docs.oasis-open.org/odata/ns/edm">'
            '<EntityType Name="Worker"><Key><PropertyRef Name="PersonnelNumber" /></Key>'
            f"{''.join(props)}</EntityType>"
            '<EnumType Name="NoYes"><Member Name="No" Value="0" /><Member Name="Yes" Value="1" />'
            '</EnumType><EntityContainer Name="Resources">'
            f'<EntitySet Name="Workers" EntityType="{WORKER_TYPE}" />'
            "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
        )

    async def _collection(self, request: Request) -> Response:
        if request.path_params["segment"] != "Workers":
            return _not_found(request.path_params["segment"])
        query = request.query_params
        try:
            rows = [self._entity(w) for w in self.workers.values() if self._matches(w, query)]
            select = self._select(query.get("$select"))
        except ODataError as error:
            return error.response()
        rows = rows[: int(query["$top"])] if "$top" in query else rows
        skip = int(query.get("$skiptoken", "0"))
        page = [{k: v for k, v in row.items() if not select or k in select} for row in rows]
        body: dict[str, Any] = {"@odata.context": f"{self.environment}/data/$metadata#Workers"}
        body["value"] = page[skip : skip + self.page_size]
        if skip + self.page_size < len(page):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(skip + self.page_size)
            link = urlencode(rest, quote_via=quote, safe="$',")
            body["@odata.nextLink"] = f"{self.environment}/data/Workers?{link}"
        return JSONResponse(body)

    def _entity(self, worker: Worker) -> dict[str, Any]:
        row = {
            "@odata.etag": worker.etag,
            "PersonnelNumber": worker.personnel_number,
            "FirstName": worker.first_name,
            "LastName": worker.last_name,
            "Name": f"{worker.first_name} {worker.last_name}",
            "PrimaryContactEmail": worker.email,
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
            raise _no_property(name)
        pattern = ".*".join(re.escape(part) for part in literal.split("*"))
        return re.fullmatch(pattern, str(self._entity(worker)[name]), re.IGNORECASE) is not None

    def _select(self, select: str | None) -> set[str]:
        names = {name.strip() for name in select.split(",")} if select else set()
        known = {*STANDARD, "WorkerStatus", *self.custom_fields}
        unknown = sorted(names - known)
        if unknown:
            raise _no_property(unknown[0])
        return names | {"@odata.etag"} if names else names

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


def _no_property(name: str) -> ODataError:
    return ODataError(400, f"Could not find a property named '{name}' on type '{WORKER_TYPE}'.")


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
