"""The resource router in front of starlette's: the same handler for every path it takes,
and everything else left to starlette (gateway/scim/router.py)."""

import httpx
import pytest
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import GatewayApp
from gateway.config import ServerConfig
from gateway.scim import endpoints
from gateway.scim.listing import ListQueries


def _scope(method: str, path: str, root_path: str = "") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


def _starlette(method: str, path: str) -> object:
    """The endpoint starlette's routes give a request, or None."""
    for route in endpoints.routes():
        assert isinstance(route, Route)
        match, child = route.matches(_scope(method, path))
        if match is Match.FULL:
            return route.endpoint, child["path_params"]
    return None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (method, f"/scim/v2/{collection}{suffix}")
        for collection in ("Users", "Groups")
        for method, suffix in [
            ("GET", "/2819c223-7f76"),
            ("GET", ""),
            ("POST", ""),
            ("PATCH", "/2819c223-7f76"),
            ("PUT", "/a%20b"),
            ("DELETE", "/x"),
            ("GET", "/.search"),
            ("GET", "/"),  # a trailing slash, as IdPs send it
            ("POST", "/"),
            ("PATCH", "/2819c223-7f76/"),
        ]
    ],
)
def test_the_router_picks_the_handler_starlette_would(method: str, path: str) -> None:
    found = endpoints.router().match(_scope(method, path))
    assert found is not None and found == _starlette(method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/scim/v2/Users/.search"),  # starlette's: search_resources
        ("POST", "/scim/v2/.search"),
        ("GET", "/scim/v2/Me"),
        ("GET", "/scim/v2/Users/x/y"),
        ("POST", "/scim/v2/Users/x"),  # 405 comes from starlette
        ("HEAD", "/scim/v2/Users/x"),
        ("GET", "/scim/v2/Schemas"),
        ("GET", "/scim/v2/users/x"),  # paths are case-sensitive, as starlette's
        ("GET", "/healthz"),
    ],
)
def test_the_router_leaves_other_requests_to_starlette(method: str, path: str) -> None:
    assert endpoints.router().match(_scope(method, path)) is None


def test_the_router_matches_below_the_root_path() -> None:
    found = endpoints.router().match(_scope("GET", "/gw/scim/v2/Users/x", root_path="/gw"))
    assert found == (endpoints.get_resource, {"id": "x"})
    assert endpoints.router().match(_scope("GET", "/gwx/scim/v2/Users/x", "/gw")) is None


def test_list_queries_are_kept_apart_by_privilege() -> None:
    queries = ListQueries(ServerConfig())
    assert queries(b"filter=userName%20eq%20%22a%22", True).projection.privileged
    assert not queries(b"filter=userName%20eq%20%22a%22", False).projection.privileged
    assert queries(b"count=5&count=7", False).count == 7  # the last value, as before


async def test_a_failure_in_a_handler_is_a_scim_500_not_a_crash(
    app: GatewayApp, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.runtime.service, "get", broken)
    response = await client.get("/Users/some-id")
    assert response.status_code == 500
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert "disk on fire" not in response.text


async def test_middleware_added_to_the_app_sees_resource_requests(
    app: GatewayApp, client: httpx.AsyncClient
) -> None:
    seen: list[str] = []

    class Recorder:
        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope.get("path", ""))
            await self.inner(scope, receive, send)

    app.add_middleware(Recorder)
    response = await client.get("/Users", params={"filter": 'userName eq "nobody"'})
    assert response.status_code == 200 and response.json()["totalResults"] == 0
    assert "/scim/v2/Users" in seen


async def test_trailing_slash_is_served_through_starlette_too(
    app: GatewayApp, client: httpx.AsyncClient
) -> None:
    """An app with middleware routes through starlette, which would redirect (307)."""

    class Passthrough:
        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await self.inner(scope, receive, send)

    app.add_middleware(Passthrough)
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "kim"}
    created = await client.post("/Users/", json=body)
    assert created.status_code == 201, created.text
    assert (await client.get("/Users/")).json()["totalResults"] == 1
    assert (await client.get(f"/Users/{created.json()['id']}/")).status_code == 200
