"""Routing the SCIM resource requests around starlette's generic layers.

Starlette serves each request through two middlewares that wrap ``send``, a regular
expression per route tried in order, and an exception wrapper built per request. For the
resource endpoints, by far the busiest, those layers cost more than the work: measured
with wrk on one uvicorn worker, ``GET /Users/{id}`` served 14,200 req/s through them and
19,400 req/s around them (docs/benchmarks.md). So the gateway app asks this router first.
It matches ``/scim/v2/<collection>`` and ``/scim/v2/<collection>/<id>`` by splitting the
path; the app then calls the same handler with the same starlette ``Request`` and turns
exceptions into responses in the one place that does it
(:func:`gateway.errors.error_response`). Everything it does not match, including a method
a path does not allow (405), goes on to starlette's router, which holds the same routes.
"""

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

Handler = Callable[[Request], Awaitable[Response]]
#: (HTTP method, collection such as "Users", whether the path names one resource).
RouteKey = tuple[str, str, bool]

PREFIX = "/scim/v2/"


class ResourceRouter:
    """Finds the handler of a resource request without regular expressions."""

    def __init__(self, table: Mapping[RouteKey, Handler]) -> None:
        self.table = dict(table)

    def match(self, scope: Scope) -> tuple[Handler, dict[str, str]] | None:
        """The handler and path parameters of a request, or None for starlette to route."""
        path = route_path(scope)
        if not path.startswith(PREFIX):
            return None
        # IdPs append a slash (``/Users/``): served as without it, not redirected, since
        # a redirected POST or PATCH is not followed by every client.
        rest = path[len(PREFIX) :].removesuffix("/")
        collection, slash, resource_id = rest.partition("/")
        if not slash:
            handler = self.table.get((scope["method"], collection, False))
            return None if handler is None else (handler, {})
        if not resource_id or "/" in resource_id:
            return None  # a deeper path: starlette decides
        handler = self.table.get((scope["method"], collection, True))
        return None if handler is None else (handler, {"id": resource_id})


def route_path(scope: Scope) -> str:
    """The path below the app's mount point, as starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path
