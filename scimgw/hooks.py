"""Inbound webhooks over HTTP: ``POST /hooks/{tenant}/{connection}``, and their processing.

The endpoint reads a bounded body, hands it to :func:`provisioning.sources.hooks.receive`
(secret, contract, durable record) in a worker thread and answers 202 at once; it never
calls the vendor or a target. The events are applied by a
:class:`provisioning.sources.hooks.HookProcessor` that runs beside the delivery worker
(``scimgw serve`` and ``scimgw worker``), woken by the endpoint of its own process and
polling for the others'. The route sits outside the SCIM app: its callers hold a
webhook secret, not a SCIM token.
"""

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial

import anyio
import structlog
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import GatewayConfig
from provisioning.engine import running
from provisioning.sources import hooks

log = structlog.get_logger("scimgw.hooks")

PREFIX = "/hooks/"


class TooLarge(Exception):
    """The body is longer than :data:`provisioning.sources.hooks.MAX_BODY`."""


def hooks_app(
    engine: Engine, config: GatewayConfig, wake: Callable[[], None] | None = None
) -> Starlette:
    """The webhook endpoint; ``wake`` is called after an event is recorded."""
    limiter = anyio.CapacityLimiter(4)  # store writes in threads: a flood queues here

    async def endpoint(request: Request) -> Response:
        tenant, name = request.path_params["tenant"], request.path_params["connection"]
        try:
            body = await _body(request)
        except TooLarge:
            return _answer(413, f"the body is over {hooks.MAX_BODY} bytes")
        receive = partial(
            hooks.receive, engine, config, tenant, name, body, request.headers, _now()
        )
        try:
            receipt = await anyio.to_thread.run_sync(receive, limiter=limiter)
        except hooks.HookRefused as refused:
            # The address is the caller's: logged bounded (a refused one may be anything).
            shown = {"tenant": tenant[:100], "connection": name[:100]}
            log.info("hook.refused", **shown, status=refused.status)
            return _answer(refused.status, refused.message)
        log.info("hook.received", tenant=tenant, connection=name, outcome=receipt.status)
        if receipt.status == "accepted" and wake is not None:
            wake()
        return JSONResponse({"status": receipt.status, "id": receipt.id}, 202)

    return Starlette(routes=[Route("/hooks/{tenant}/{connection}", endpoint, methods=["POST"])])


async def _body(request: Request) -> bytes:
    """The body, read no further than the limit (a lying Content-Length changes nothing)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > hooks.MAX_BODY:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > hooks.MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _now() -> datetime:
    return datetime.now(UTC)


class WithHooks:
    """Sends ``/hooks/...`` requests to the webhook endpoint, everything else to ``app``."""

    def __init__(self, app: ASGIApp, hooks_endpoint: ASGIApp) -> None:
        self.app = app
        self.hooks = hooks_endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.hooks(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def takes_hooks(config: GatewayConfig) -> bool:
    """Whether any connection of the file is a source that may receive webhooks."""
    return any(
        settings.direction in ("source", "both") and "webhook_secret" in settings.options
        for tenant in config.tenants.values()
        for settings in tenant.connections.values()
    )


@contextlib.asynccontextmanager
async def processing(
    engine: Engine, config: GatewayConfig, processor: hooks.HookProcessor | None = None
) -> AsyncIterator[hooks.HookProcessor | None]:
    """Process recorded webhook events while the context is open (none configured: idle)."""
    if not takes_hooks(config):
        yield None
        return
    processing_events = processor or hooks.HookProcessor(engine, config)
    async with running(processing_events.run, "hook-events"):
        yield processing_events


async def process_due(engine: Engine, config: GatewayConfig) -> int:
    """Process the recorded events due now, once (``scimgw worker --once``); how many."""
    return await hooks.HookProcessor(engine, config).drain()
