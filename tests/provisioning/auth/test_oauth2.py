"""OAuth2 client credentials against the contract fake of a token endpoint.

The token is fetched once, reused, refreshed ``leeway_seconds`` before it expires (one
refresh however many requests wait), refetched once when the target answers 401, and a
token endpoint that refuses or fails becomes a typed delivery error.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gateway.config import OAuth2ClientCredentials
from provisioning.auth import client_credentials_auth
from provisioning.errors import AuthError, RateLimited, TransientError
from provisioning.responses import raise_for_status
from tests.fakes.oauth_server import FakeClock, OAuthServer

ISSUER = "https://auth.example.com"
TOKEN_URL = f"{ISSUER}/oauth2/token"
SECRET = "client-s3cret-value"


def oauth2_settings(**fields: Any) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials.model_validate(
        {
            "type": "oauth2_client_credentials",
            "token_url": TOKEN_URL,
            "client_id": "scimgw",
            "client_secret": SecretStr(SECRET),
            **fields,
        }
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> OAuthServer:
    return OAuthServer(client_id="scimgw", client_secret=SECRET, clock=clock)


Connect = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def connect(server: OAuthServer, clock: FakeClock) -> AsyncIterator[Connect]:
    """Build an API client whose auth gets tokens from the fake (both through ASGI)."""
    clients: list[httpx.AsyncClient] = []

    def make(
        settings: OAuth2ClientCredentials | None = None,
        *,
        token_transport: httpx.AsyncBaseTransport | None = None,
        api_transport: httpx.AsyncBaseTransport | None = None,
    ) -> httpx.AsyncClient:
        token_client = httpx.AsyncClient(
            transport=token_transport or httpx.ASGITransport(app=server.app)
        )
        auth = client_credentials_auth(
            settings or oauth2_settings(), token_client=token_client, clock=clock
        )
        api = httpx.AsyncClient(
            transport=api_transport or httpx.ASGITransport(app=server.app),
            base_url=ISSUER,
            auth=auth,
        )
        clients.extend([token_client, api])
        return api

    yield make
    for client in clients:
        await client.aclose()


# -- getting and using a token ----------------------------------------------------------


async def test_client_secret_basic_token_is_fetched_once_and_sent_as_bearer(
    connect: Connect, server: OAuthServer
) -> None:
    api = connect()
    statuses = [(await api.get("/resource")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert server.tokens_issued == 1
    (request,) = server.token_requests
    assert request.client_auth == "client_secret_basic"
    assert "client_secret" not in request.form
    assert all(header and header.startswith("Bearer ") for header in server.resource_requests)


async def test_client_secret_post_sends_the_credentials_in_the_form(
    connect: Connect, server: OAuthServer
) -> None:
    api = connect(oauth2_settings(client_auth="client_secret_post"))
    assert (await api.get("/resource")).status_code == 200
    (request,) = server.token_requests
    assert request.client_auth == "client_secret_post"
    assert request.form["client_id"] == "scimgw"


async def test_scope_and_audience_are_requested_when_configured(
    connect: Connect, server: OAuthServer
) -> None:
    api = connect(oauth2_settings(scope="users:write groups:write", audience="https://api.x"))
    await api.get("/resource")
    form = server.token_requests[0].form
    assert form["scope"] == "users:write groups:write"
    assert form["audience"] == "https://api.x"


async def test_scope_and_audience_are_left_out_when_not_configured(
    connect: Connect, server: OAuthServer
) -> None:
    await connect().get("/resource")
    assert server.token_requests[0].form == {"grant_type": "client_credentials"}


# -- expiry and refresh -----------------------------------------------------------------


async def test_token_is_refreshed_leeway_seconds_before_it_expires(
    connect: Connect, server: OAuthServer, clock: FakeClock
) -> None:
    api = connect(oauth2_settings(leeway_seconds=60))  # the fake's tokens last 3600 s
    await api.get("/resource")
    clock.advance(3539)
    await api.get("/resource")
    assert server.tokens_issued == 1
    clock.advance(2)  # 59 s left: inside the leeway
    assert (await api.get("/resource")).status_code == 200
    assert server.tokens_issued == 2


async def test_an_expired_token_is_never_sent(
    connect: Connect, server: OAuthServer, clock: FakeClock
) -> None:
    api = connect()
    await api.get("/resource")
    clock.advance(7200)
    assert (await api.get("/resource")).status_code == 200
    # No 401 then retry: the second call went out once, with the new token.
    assert len(server.resource_requests) == 2


async def test_fifty_concurrent_requests_on_an_expired_token_make_one_token_request(
    connect: Connect, server: OAuthServer, clock: FakeClock
) -> None:
    api = connect()
    await api.get("/resource")
    clock.advance(3600)
    responses = await asyncio.gather(*(api.get("/resource") for _ in range(50)))
    assert {response.status_code for response in responses} == {200}
    assert server.tokens_issued == 2


async def test_fifty_concurrent_first_requests_share_one_token_request(
    connect: Connect, server: OAuthServer
) -> None:
    api = connect()
    responses = await asyncio.gather(*(api.get("/resource") for _ in range(50)))
    assert {response.status_code for response in responses} == {200}
    assert len(server.token_requests) == 1


# -- a 401 from the target --------------------------------------------------------------


async def test_target_401_drops_the_token_and_retries_once_with_a_new_one(
    connect: Connect, server: OAuthServer
) -> None:
    api = connect()
    await api.get("/resource")
    server.revoke_all()  # e.g. the vendor rotated its signing key
    assert (await api.get("/resource")).status_code == 200
    assert server.tokens_issued == 2
    assert len(server.resource_requests) == 3


async def test_target_that_keeps_refusing_gets_one_retry_then_the_401(
    connect: Connect, server: OAuthServer
) -> None:
    server.accept_tokens = False
    api = connect()
    response = await api.get("/resource")
    assert response.status_code == 401
    assert len(server.resource_requests) == 2
    assert server.tokens_issued == 2
    with pytest.raises(AuthError):
        raise_for_status(response)


async def test_concurrent_401s_on_the_same_token_refetch_it_once(
    connect: Connect, server: OAuthServer
) -> None:
    api = connect()
    await api.get("/resource")
    server.revoke_all()
    responses = await asyncio.gather(*(api.get("/resource") for _ in range(20)))
    assert {response.status_code for response in responses} == {200}
    assert server.tokens_issued == 2


async def test_retried_request_carries_the_same_body(connect: Connect) -> None:
    bodies: list[Any] = []

    def api_handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(401 if len(bodies) == 1 else 201)

    api = connect(api_transport=httpx.MockTransport(api_handler))
    response = await api.post("/users", json={"userName": "jane"})
    assert response.status_code == 201
    assert bodies == [{"userName": "jane"}, {"userName": "jane"}]


# -- a token endpoint that refuses or fails ---------------------------------------------


@pytest.mark.parametrize(
    ("client_auth", "status"), [("client_secret_basic", 401), ("client_secret_post", 400)]
)
async def test_rejected_credentials_raise_auth_error_with_the_endpoint_error(
    connect: Connect, server: OAuthServer, client_auth: str, status: int
) -> None:
    """RFC 6749 §5.2: 401 when the client used the Authorization header, else 400."""
    server.client_secret = "rotated-secret"
    api = connect(oauth2_settings(client_auth=client_auth))
    with pytest.raises(AuthError) as caught:
        await api.get("/resource")
    assert caught.value.status == status
    assert "invalid_client" in caught.value.message
    assert "client authentication failed" in caught.value.message
    assert SECRET not in str(caught.value)


async def test_token_endpoint_5xx_is_transient_and_the_next_request_recovers(
    connect: Connect, server: OAuthServer
) -> None:
    server.fail_next(503)
    api = connect()
    with pytest.raises(TransientError) as caught:
        await api.get("/resource")
    assert caught.value.status == 503
    assert (await api.get("/resource")).status_code == 200


async def test_waiters_share_the_failure_of_the_token_request_they_waited_for(
    connect: Connect, server: OAuthServer
) -> None:
    """50 queued requests must not each retry a token endpoint that just failed."""
    server.fail_next(503)
    api = connect()
    results = await asyncio.gather(
        *(api.get("/resource") for _ in range(50)), return_exceptions=True
    )
    assert all(isinstance(result, TransientError) for result in results)
    assert len(server.token_requests) == 1
    assert (await api.get("/resource")).status_code == 200


async def test_token_endpoint_timeout_is_transient(connect: Connect) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    api = connect(token_transport=httpx.MockTransport(timeout))
    with pytest.raises(TransientError, match="timed out"):
        await api.get("/resource")


async def test_token_endpoint_throttling_is_rate_limited_with_retry_after(
    connect: Connect,
) -> None:
    throttled = httpx.MockTransport(
        lambda request: httpx.Response(429, headers={"Retry-After": "7"})
    )
    api = connect(token_transport=throttled)
    with pytest.raises(RateLimited) as caught:
        await api.get("/resource")
    assert caught.value.retry_after == 7


async def test_a_web_page_instead_of_a_token_is_an_auth_error(connect: Connect) -> None:
    """A token_url pointing at a login page answers 200 with HTML."""
    page = httpx.MockTransport(lambda request: httpx.Response(200, html="<html>Sign in</html>"))
    api = connect(token_transport=page)
    with pytest.raises(AuthError, match="without an access_token"):
        await api.get("/resource")


async def test_a_token_without_expires_in_is_kept_until_the_target_refuses_it(
    connect: Connect, clock: FakeClock
) -> None:
    issued: list[str] = []
    accepted = {"token-0"}

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        issued.append(f"token-{len(issued)}")
        return httpx.Response(200, json={"access_token": issued[-1], "token_type": "Bearer"})

    def api_handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        return httpx.Response(200 if token in accepted else 401)

    api = connect(
        token_transport=httpx.MockTransport(token_endpoint),
        api_transport=httpx.MockTransport(api_handler),
    )
    await api.get("/users")
    clock.advance(10**6)
    await api.get("/users")
    assert issued == ["token-0"]
    accepted.symmetric_difference_update({"token-0", "token-1"})  # the vendor rotates
    assert (await api.get("/users")).status_code == 200
    assert issued == ["token-0", "token-1"]


async def test_a_sync_client_is_refused_rather_than_blocking(connect: Connect) -> None:
    auth = connect().auth
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(transport=transport) as client, pytest.raises(RuntimeError, match="Async"):
        client.get("https://api.example.com", auth=auth)
