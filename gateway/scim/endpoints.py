"""The SCIM resource endpoints: Users, Groups, /Me and ``.search``.

Handlers are thin: authenticate, read the request, call the ResourceService (in a worker
thread, since the store is synchronous), render. Exceptions are left to the app's single
exception handler.
"""

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.tokens import Principal
from gateway.errors import ForbiddenException, InvalidValueException, NotFoundException
from gateway.runtime import Runtime, runtime
from gateway.scim import dialects, limits
from gateway.scim.etags import check_if_none_match, etag
from gateway.scim.http import header, read_json, scim_response
from gateway.scim.kinds import GROUP, USER, Kind
from gateway.scim.listing import (
    ListQuery,
    cursor_offset,
    list_response,
    parse_list_query,
)
from gateway.scim.offload import off_loop
from gateway.scim.representation import Projection, parse_attribute_list, render
from gateway.scim.router import Handler, ResourceRouter, RouteKey
from gateway.scim.visibility import check_patch_filters
from gateway.service import Listing

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
T = TypeVar("T")


def base_url(request: Request) -> str:
    """The SCIM base URL, for ``meta.location`` and ``Location``."""
    return runtime(request).base_urls(request)


async def principal(request: Request, scope: str) -> Principal:
    """Authenticate the request and require a scope (403 when the token lacks it)."""
    authenticator = runtime(request).authenticator
    authorization = header(request, b"authorization")
    caller = authenticator.recent(authorization) or await authenticator.authenticate(authorization)
    if not caller.can(scope):
        raise ForbiddenException(detail=f"this token lacks the {scope} scope")
    return caller


def recent_caller(request: Request, scope: str) -> Principal | None:
    """The caller, when its token was validated moments ago and has ``scope``; else None,
    and :func:`principal` decides. The busiest handlers try this first: it needs no
    coroutine (each await level cost about 3 % of a filtered GET under load)."""
    caller = runtime(request).authenticator.recent(header(request, b"authorization"))
    return caller if caller is not None and caller.can(scope) else None


def tenant_kinds(request: Request, caller: Principal, *, as_read: bool = False) -> dict[str, Kind]:
    """The caller's tenant's kinds (its User model carries its declared custom fields).

    ``as_read``: with the User model the caller's /Schemas publishes, which decides what
    its filters and sorts may name (gateway.scim.visibility).
    """
    return runtime(request).kinds(caller.tenant, as_read and caller.can("scim:sensitive"))


def kind_of(request: Request, caller: Principal, *, as_read: bool = False) -> Kind:
    # The scope's path, not request.url: building a URL object costs more than this.
    path: str = request.scope["path"]
    endpoint = path.rstrip("/").split("/scim/v2/", 1)[1].split("/")[0].lower()
    return tenant_kinds(request, caller, as_read=as_read)[endpoint]


#: The projection of a request without query parameters, by ``scim:sensitive``.
DEFAULT_PROJECTIONS = {False: Projection(), True: Projection(privileged=True)}


def projection_of(request: Request, caller: Principal) -> Projection:
    if not request.scope.get("query_string"):  # the usual GET: skip parsing nothing
        return DEFAULT_PROJECTIONS[caller.can("scim:sensitive")]
    attributes = parse_attribute_list(request.query_params.get("attributes"))
    excluded = parse_attribute_list(request.query_params.get("excludedAttributes"))
    limits.check_projection(attributes, excluded, limits.Limits.of(runtime(request).config.server))
    if attributes and excluded:
        raise InvalidValueException(detail="attributes and excludedAttributes are exclusive")
    return Projection(attributes, excluded, caller.can("scim:sensitive"))


async def resource_response(
    request: Request, kind: Kind, listing: Listing, projection: Projection, status: int = 200
) -> Response:
    stored = listing.page.resources[0]
    arguments = (kind, stored.doc, listing.related.get(stored.id), base_url(request), projection)
    # A projection goes through scim2-models' serializer, whose cost grows with values
    # times names (gateway/scim/representation.py), ~7 ms for the largest user: off the loop.
    body = render(*arguments) if projection.is_default else await off_loop(render, *arguments)
    headers = {"ETag": etag(stored.version)}
    if status == 201:
        headers["Location"] = body.get("meta", {}).get("location") or (
            f"{base_url(request)}{kind.endpoint}/{stored.id}"
        )
    return scim_response(body, status, headers)


# -- collection endpoints ---------------------------------------------------------------


#: Query strings and filters longer than this are parsed off the event loop: parsing costs
#: about 60 µs a filter clause, so a 1,000-clause filter (the limit's default) held the
#: loop 60 ms; the usual ``userName eq "..."`` lookup stays inline (a thread hand-off
#: would cost more than the parse).
LONG_QUERY = 2048


async def list_resources(request: Request) -> Response:
    caller = recent_caller(request, "scim:read") or await principal(request, "scim:read")
    queries = runtime(request).list_queries
    query_string: bytes = request.scope["query_string"]
    privileged = caller.can("scim:sensitive")
    if len(query_string) > LONG_QUERY:
        query = await off_loop(queries, query_string, privileged)
    else:
        query = queries(query_string, privileged)
    return await _search(request, caller, [kind_of(request, caller, as_read=True)], query)


async def search_resources(request: Request) -> Response:
    caller = await principal(request, "scim:read")
    body = await read_json(request, runtime(request).config.server.max_request_size)
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or SEARCH_REQUEST not in schemas:
        raise InvalidValueException(detail=f"a search request has the schema {SEARCH_REQUEST}")
    server, privileged = runtime(request).config.server, caller.can("scim:sensitive")
    if len(str(body.get("filter") or "")) > LONG_QUERY:
        query = await off_loop(parse_list_query, body, server, privileged)
    else:
        query = parse_list_query(body, server, privileged)
    path = request.url.path.rstrip("/")
    root_search = path.endswith("/scim/v2/.search")
    if root_search:
        kinds = list(tenant_kinds(request, caller, as_read=True).values())
    else:
        kinds = [kind_of(request, caller, as_read=True)]
    return await _search(request, caller, kinds, query)


async def _search(
    request: Request, caller: Principal, kinds: list[Kind], query: ListQuery
) -> Response:
    offset = cursor_offset(query) if query.cursor is not None else query.start_index - 1
    app = runtime(request)
    service, store = app.service, app.store
    root = app.base_urls(request)
    resources: list[dict[str, Any]] = []
    total = 0
    # A root search spans resource types: each type's matches follow the previous ones'.
    for kind in kinds:
        search = query.search(kind, max(0, offset - total), max(0, query.count - len(resources)))
        # SQLite calls run inline (gateway.store.calls): called directly, without a
        # coroutine, on the busiest requests.
        listing = (
            service.search(caller.tenant, kind, search)
            if store.inline
            else await store(service.search, caller.tenant, kind, search)
        )
        total += listing.page.total
        page = partial(_render_page, kind, listing, root, query.projection)
        resources += page() if query.projection.is_default else await off_loop(page)
    return scim_response(list_response(query, resources, total, offset))


def _render_page(
    kind: Kind, listing: Listing, root: str, projection: Projection
) -> list[dict[str, Any]]:
    related = listing.related
    return [
        render(kind, r.doc, related.get(r.id), root, projection) for r in listing.page.resources
    ]


async def create_resource(request: Request) -> Response:
    caller = await principal(request, "scim:write")
    kind = kind_of(request, caller)
    projection = projection_of(request, caller)  # refused before anything is written
    body, nodes = await _checked_body(request, caller, limits.check_resource)
    payload = dialects.resource_payload(kind, body)
    app = runtime(request)
    listing = await _write(app, nodes, app.service.create, caller.tenant, kind, payload)
    return await resource_response(request, kind, listing, projection, 201)


# -- single-resource endpoints ----------------------------------------------------------


async def get_resource(request: Request) -> Response:
    caller = recent_caller(request, "scim:read") or await principal(request, "scim:read")
    kind = kind_of(request, caller)
    app = runtime(request)
    service, store = app.service, app.store
    resource_id = _id(request, caller)
    listing = (
        service.get(caller.tenant, kind, resource_id)
        if store.inline
        else await store(service.get, caller.tenant, kind, resource_id)
    )
    check_if_none_match(header(request, b"if-none-match"), listing.page.resources[0].version)
    return await resource_response(request, kind, listing, projection_of(request, caller))


async def replace_resource(request: Request) -> Response:
    """PUT: full replacement (RFC 7644 §3.5.1)."""
    return await _update(request, "replace", dialects.resource_payload)


async def patch_resource(request: Request) -> Response:
    """PATCH (RFC 7644 §3.5.2). Microsoft's validator expects 200 with the resource,
    which the RFC allows, rather than 204."""
    return await _update(request, "patch", dialects.patch_payload)


async def _update(
    request: Request, method: str, rewrite: Callable[[Kind, dict[str, Any]], dict[str, Any]]
) -> Response:
    caller = await principal(request, "scim:write")
    kind = kind_of(request, caller)
    projection = projection_of(request, caller)  # refused before anything is written
    check = limits.check_patch if method == "patch" else limits.check_resource
    body, nodes = await _checked_body(request, caller, check)
    payload = rewrite(kind, body)
    if method == "patch":  # which values a PATCH's value filter touched is observable
        check_patch_filters(kind_of(request, caller, as_read=True).model, payload)
    app = runtime(request)
    listing = await _write(
        app,
        nodes,
        getattr(app.service, method),
        caller.tenant,
        kind,
        _id(request, caller),
        payload,
        if_match=header(request, b"if-match"),
    )
    return await resource_response(request, kind, listing, projection)


async def delete_resource(request: Request) -> Response:
    caller = await principal(request, "scim:write")
    kind = kind_of(request, caller)
    app = runtime(request)
    await app.store(
        app.service.delete,
        caller.tenant,
        kind,
        _id(request, caller),
        if_match=header(request, b"if-match"),
    )
    return Response(status_code=204)


#: Resource ids are at most 36 characters (a UUID; the id columns' width).
MAX_ID_LENGTH = 36


def _id(request: Request, caller: Principal) -> str:
    if "id" in request.path_params:
        resource_id = str(request.path_params["id"])
        if len(resource_id) > MAX_ID_LENGTH or "\x00" in resource_id:
            # No resource has it; not sent to the store, where PostgreSQL refuses a NUL
            # in text (a 500) and SQLite answers none: both answer 404 here.
            raise NotFoundException(detail=f"no {kind_of(request, caller).name} has this id")
        return resource_id
    if caller.user_id is None:  # /Me
        raise NotFoundException(
            detail="/Me needs a token linked to a user (scimgw token create --user ID)"
        )
    return caller.user_id


async def _body(request: Request) -> dict[str, Any]:
    return await read_json(request, runtime(request).config.server.max_request_size)


async def _checked_body(
    request: Request, caller: Principal, check: Callable[..., int]
) -> tuple[dict[str, Any], int]:
    """The body, refused when over a limit (gateway.scim.limits), and its node count."""
    app = runtime(request)
    body = await _body(request)
    integers = limits.integer_paths(app.config.tenant(caller.tenant).custom_field_spec())
    return body, check(body, limits.Limits.of(app.config.server), integers)


async def _write(
    app: Runtime, nodes: int, function: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """Call the service as the store says (inline on SQLite), except with a heavy body:
    its validation would hold the event loop, so it runs off the loop, one at a time."""
    if nodes > limits.INLINE_NODES:
        return await off_loop(function, *args, **kwargs)
    return await app.store(function, *args, **kwargs)


def _me(handler: Handler) -> Handler:
    """/Me is the token's own User (RFC 7644 §3.11)."""

    async def me(request: Request) -> Response:
        request.scope["path"] = "/scim/v2/Users/me"
        return await handler(request)

    return me


#: The routes of each resource collection: (method, path below the collection, handler).
COLLECTION_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/{id}", get_resource),
    ("GET", "", list_resources),
    ("POST", "", create_resource),
    ("PATCH", "/{id}", patch_resource),
    ("PUT", "/{id}", replace_resource),
    ("DELETE", "/{id}", delete_resource),
    ("POST", "/.search", search_resources),
]


def routes() -> list[Route]:
    """The resource routes, one set per resource kind, plus /Me and root search.

    Starlette tries routes in order, so the most frequent requests come first. A GET of
    ``/Users/.search`` reaches ``get_resource`` either way, and is a 404.
    """
    table: list[Route] = []
    for kind in (USER, GROUP):
        base = f"/scim/v2{kind.endpoint}"
        table += [
            Route(f"{base}{suffix}", handler, methods=[method])
            for method, suffix, handler in COLLECTION_ROUTES
        ]
        # The same with a trailing slash, which IdPs send (gateway/scim/router.py): aliases,
        # left out of the API description.
        table += [
            Route(f"{base}{suffix}/", handler, methods=[method], include_in_schema=False)
            for method, suffix, handler in COLLECTION_ROUTES
            if suffix in ("", "/{id}")
        ]
    table += [
        Route("/scim/v2/.search", search_resources, methods=["POST"]),
        Route("/scim/v2/Me", _me(get_resource), methods=["GET"]),
        Route("/scim/v2/Me", _me(replace_resource), methods=["PUT"]),
        Route("/scim/v2/Me", _me(patch_resource), methods=["PATCH"]),
        Route("/scim/v2/Me", _me(delete_resource), methods=["DELETE"]),
    ]
    return table


def router() -> ResourceRouter:
    """The same collection routes for :class:`ResourceRouter` (``.search`` and /Me stay
    with starlette: they are rare)."""
    table: dict[RouteKey, Handler] = {}
    for kind in (USER, GROUP):
        for method, suffix, handler in COLLECTION_ROUTES:
            if suffix in ("", "/{id}"):
                table[(method, kind.endpoint.strip("/"), suffix == "/{id}")] = handler
    return ResourceRouter(table)
