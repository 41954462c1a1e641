"""The ASGI entry point uvicorn imports: built from the environment, lazily.

Around the app, the lifespan also runs the embedded delivery worker, the scheduler and the
processing of webhook events (unless ``serve --no-worker``), so one ``scimgw serve``
accepts, fans out changes and runs the scheduled connections. ``/hooks/...`` goes to the
webhook endpoint (scimgw/hooks.py), the rest to the SCIM app.
"""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.app import create_app
from gateway.config import load_config
from gateway.settings import Settings
from gateway.store.database import create_engine
from provisioning.engine import embedded_worker
from provisioning.sources import hooks
from scimgw.hooks import WithHooks, hooks_app, processing
from scimgw.syncing import scheduling


def build() -> ASGIApp:
    settings = Settings.from_env()
    engine = create_engine(settings.database_url)
    config = load_config(settings.config_path)
    processor = hooks.HookProcessor(engine, config) if settings.run_worker else None
    wake = processor.wake.set if processor is not None else None
    app = WithHooks(create_app(settings, engine, config), hooks_app(engine, config, wake))
    if not settings.run_worker:
        return app

    @contextlib.asynccontextmanager
    async def background() -> AsyncIterator[None]:
        async with (
            embedded_worker(engine, config),
            scheduling(engine, config),
            processing(engine, config, processor),
        ):
            yield

    return WithBackground(app, background)


class WithBackground:
    """Runs a background context for the lifetime of the app's lifespan."""

    def __init__(self, app: ASGIApp, background: Any) -> None:
        self.app = app
        self.background = background
        self._stack = contextlib.AsyncExitStack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self._stack.enter_async_context(self.background())
            await send(message)

        async def receive_wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self._stack.aclose()
            return message

        await self.app(scope, receive_wrapped, send_wrapped)


class _LazyApp:
    """Builds the app on first use, so importing this module connects to nothing."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = build()
        await self._app(scope, receive, send)


app = _LazyApp()
