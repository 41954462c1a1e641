"""The ASGI entry point uvicorn imports: built from the environment, lazily."""

from starlette.types import Receive, Scope, Send

from gateway.app import create_app
from gateway.config import load_config
from gateway.settings import Settings
from gateway.store.database import create_engine


def build() -> "object":
    settings = Settings.from_env()
    return create_app(
        settings, create_engine(settings.database_url), load_config(settings.config_path)
    )


class _LazyApp:
    """Builds the app on first use, so importing this module connects to nothing."""

    def __init__(self) -> None:
        self._app: object | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = build()
        await self._app(scope, receive, send)  # type: ignore[operator]


app = _LazyApp()
