"""The application factory: routes, exception handling, lifespan. No global state."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from gateway.auth.authenticator import Authenticator
from gateway.auth.tokens import ensure_tenant
from gateway.config import GatewayConfig
from gateway.errors import (
    MethodNotAllowed,
    NotFoundException,
    SCIMException,
    error_response,
    handle_exception,
)
from gateway.runtime import Runtime
from gateway.scim import bulk, bulk_upload, discovery, endpoints
from gateway.scim.dialects import POLICY
from gateway.scim.kinds import TenantKinds
from gateway.scim.listing import ListQueries
from gateway.scim.locations import BaseUrls
from gateway.scim.router import ResourceRouter
from gateway.service import ResourceService
from gateway.settings import Settings
from gateway.store.calls import StoreCaller


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 become SCIM errors too."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFoundException(detail=f"no endpoint at {request.url.path}"))
    if exc.status_code == 405:
        detail = f"{request.method} not allowed here"
        allow = {"Allow": _allowed_methods(request)}  # RFC 9110 §15.5.6
        return error_response(MethodNotAllowed(detail=detail), headers=allow)
    return error_response(exc)


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's own ``Allow`` names only
    the first route that matched the path, and the gateway has one route per method."""
    found = [
        route
        for route in request.app.routes
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE
    ]
    # /Users/.search also matches /Users/{id}; the literal path is the endpoint meant.
    literal = [route for route in found if route.path == request.url.path]
    methods = set().union(*(route.methods or set() for route in literal or found))
    return ", ".join(sorted(methods))


class GatewayApp(Starlette):
    """Starlette, with the SCIM resource requests routed first by a leaner router
    (why: gateway/scim/router.py). An app given middleware routes everything through
    starlette, so the middleware sees every request."""

    resource_router: ResourceRouter
    #: What the handlers use (gateway.runtime: why not ``app.state``).
    runtime: Runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lean = scope["type"] == "http" and not self.user_middleware
        found = self.resource_router.match(scope) if lean else None
        if found is None:
            await super().__call__(scope, receive, send)
            return
        handler, path_params = found
        scope["app"] = self
        scope["path_params"] = path_params
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:  # every one becomes a SCIM error (unexpected ones a 500)
            response = error_response(exc)
        await response(scope, receive, send)


async def health(_request: Request) -> Response:
    return Response('{"status":"ok"}', media_type="application/json")


def create_app(
    settings: Settings,
    engine: Engine,
    config: GatewayConfig,
    *,
    http: httpx.AsyncClient | None = None,
) -> GatewayApp:
    """Build the gateway app on an engine whose database is already migrated.

    The configured tenants are created in the database if missing, so a tenant reached
    only through its JWT issuer has its row before its first write.
    """
    owns_http = http is None
    client = http or httpx.AsyncClient(timeout=10.0)
    service = ResourceService(engine, config, policy=POLICY)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # What exists at start (modules, models, schemas) lives as long as the process:
        # out of the collector's full passes, which walk every object holding the GIL
        # (a 300 ms stall of the event loop when a heavy request's thread triggered one).
        gc.freeze()
        yield
        service.close()
        if owns_http:
            await client.aclose()

    app = GatewayApp(
        # Resource routes first: starlette tries routes in order, and they are the busy ones.
        routes=[
            *endpoints.routes(),
            *bulk.routes(),
            *bulk_upload.routes(),
            *discovery.routes(),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={
            SCIMException: handle_exception,
            ValidationError: handle_exception,
            HTTPException: _http_exception,
            Exception: handle_exception,
        },
        lifespan=lifespan,
    )
    for tenant_id, tenant in config.tenants.items():
        ensure_tenant(engine, tenant_id, tenant.display_name)
    app.resource_router = endpoints.router()
    app.runtime = Runtime(
        settings=settings,
        config=config,
        kinds=TenantKinds(config),
        base_urls=BaseUrls(settings.public_url),
        list_queries=ListQueries(config.server),
        service=service,
        store=StoreCaller(engine),
        authenticator=Authenticator(engine, config, client),
    )
    return app
