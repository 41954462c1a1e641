"""Where resources live: the SCIM base URL of ``meta.location`` and ``Location`` headers."""

from starlette.requests import Request
from starlette.types import Scope


class BaseUrls:
    """The SCIM base URL of a request: the configured public URL, or the request's own.

    Starlette builds and parses a URL object for ``request.base_url`` on every request
    (8 % of a ``GET /Users/{id}``). The result depends only on the scheme, the Host
    header, the server address and the root path, so it is computed by starlette once
    per combination of those and kept. Clients choose Host headers: the memo is bounded.
    """

    MAX_ENTRIES = 1024

    def __init__(self, public_url: str = "") -> None:
        self.public = f"{public_url.rstrip('/')}/scim/v2" if public_url else ""
        self._memo: dict[tuple[object, ...], str] = {}

    def __call__(self, request: Request) -> str:
        if self.public:
            return self.public
        key = _inputs(request.scope)
        url = self._memo.get(key)
        if url is None:
            url = f"{str(request.base_url).rstrip('/')}/scim/v2"
            if len(self._memo) >= self.MAX_ENTRIES:
                self._memo.clear()
            self._memo[key] = url
        return url


def _inputs(scope: Scope) -> tuple[object, ...]:
    """What starlette's ``base_url`` reads from the scope."""
    host = None
    for key, value in scope["headers"]:
        if key == b"host":
            host = value
            break
    root = scope.get("app_root_path", scope.get("root_path", ""))
    return (scope.get("scheme"), host, scope.get("server"), root)
