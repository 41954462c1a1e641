"""build_client: a connection's HTTP client, and the outbound log that never carries secrets."""

import json
from importlib.metadata import version
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from gateway.config import TargetConnection
from provisioning.targets.client import build_client, redact_url
from tests.fakes.oauth_server import OAuthServer

BASE_URL = "https://api.example.com/v1"
SECRET = "client-s3cret-value"


def connection(**fields: Any) -> TargetConnection:
    return TargetConnection.model_validate({"type": "test", "base_url": BASE_URL, **fields})


Recorded = tuple[list[httpx.Request], httpx.MockTransport]


@pytest.fixture
def recorded() -> Recorded:
    """A transport that answers 200 (or the status in ``?status=``) and keeps the requests."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(int(request.url.params.get("status", 200)), json={"id": "42"})

    return requests, httpx.MockTransport(handler)


async def test_requests_go_to_the_base_url_with_a_scimgw_user_agent(recorded: Recorded) -> None:
    requests, transport = recorded
    async with build_client(connection(), transport=transport) as client:
        await client.get("/users", params={"page": 2})
    assert str(requests[0].url) == "https://api.example.com/v1/users?page=2"
    assert requests[0].headers["User-Agent"] == f"scimgw/{version('scimgw')}"


async def test_the_connection_auth_signs_every_request(recorded: Recorded) -> None:
    requests, transport = recorded
    auth = {"type": "api_key", "key": SecretStr("k-123"), "template": "lucca application={key}"}
    async with build_client(connection(auth=auth), transport=transport) as client:
        await client.get("/users")
    assert requests[0].headers["Authorization"] == "lucca application=k-123"


async def test_timeouts_follow_the_connection_with_a_shorter_connect() -> None:
    async with build_client(connection(timeout_seconds=30)) as client:
        assert client.timeout == httpx.Timeout(30, connect=5)
    async with build_client(connection(timeout_seconds=2)) as client:
        assert client.timeout == httpx.Timeout(2)


async def test_the_connection_pool_is_as_large_as_the_connection_concurrency() -> None:
    async with build_client(connection(concurrency=12)) as client:
        # The network transport (aiohttp's connector behind httpx) caps parallel calls.
        transport = client._transport  # type: ignore[attr-defined]
        assert transport.limits.max_connections == 12


# -- the outbound log -------------------------------------------------------------------


async def test_each_exchange_is_logged_with_method_url_status_and_time(
    recorded: Recorded,
) -> None:
    _, transport = recorded
    with capture_logs() as logs:
        async with build_client(connection(), transport=transport) as client:
            await client.post("/users", json={"userName": "jane"})
    (entry,) = logs
    assert entry["event"] == "outbound_request"
    assert entry["log_level"] == "debug"  # the delivery row is the record; this is detail
    assert entry["method"] == "POST"
    assert entry["url"] == "https://api.example.com/v1/users"
    assert entry["status"] == 200
    assert isinstance(entry["elapsed_ms"], float) and entry["elapsed_ms"] >= 0


async def test_error_responses_are_logged_as_warnings(recorded: Recorded) -> None:
    _, transport = recorded
    with capture_logs() as logs:
        async with build_client(connection(), transport=transport) as client:
            await client.get("/users", params={"status": 503})
    assert [(entry["log_level"], entry["status"]) for entry in logs] == [("warning", 503)]


async def test_query_string_secrets_are_redacted_in_the_log_line(recorded: Recorded) -> None:
    requests, transport = recorded
    with capture_logs() as logs:
        async with build_client(connection(), transport=transport) as client:
            await client.get("/users", params={"apikey": "qs-secret", "page": "2"})
    assert logs[0]["url"] == "https://api.example.com/v1/users?apikey=[redacted]&page=2"
    assert requests[0].url.params["apikey"] == "qs-secret"  # only the log is redacted


async def test_logs_never_carry_credentials_tokens_or_bodies() -> None:
    """OAuth2 end to end: token request and API call both logged, no secret in any line."""
    server = OAuthServer(client_id="scimgw", client_secret=SECRET)
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": "https://api.example.com/oauth2/token",
        "client_id": "scimgw",
        "client_secret": SecretStr(SECRET),
        "client_auth": "client_secret_post",
    }
    target = connection(base_url="https://api.example.com", auth=auth)
    with capture_logs() as logs:
        async with build_client(target, transport=httpx.ASGITransport(app=server.app)) as client:
            response = await client.post("/resource", json={"dateOfBirth": "1990-01-01"})
    assert response.status_code == 200
    assert [entry["url"] for entry in logs] == [
        "https://api.example.com/oauth2/token",  # through the connection's own client
        "https://api.example.com/resource",
    ]
    access_token = server.resource_requests[0].removeprefix("Bearer ")  # type: ignore[union-attr]
    text = json.dumps(logs)
    for secret in (SECRET, access_token, "Bearer", "1990-01-01"):
        assert secret not in text


async def test_a_dedicated_token_client_is_used_when_given() -> None:
    server = OAuthServer(client_id="scimgw", client_secret=SECRET)
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": "https://login.example.com/oauth2/token",
        "client_id": "scimgw",
        "client_secret": SecretStr(SECRET),
    }
    target = connection(base_url="https://api.example.com", auth=auth)
    asgi = httpx.ASGITransport(app=server.app)
    with capture_logs() as logs:
        async with (
            httpx.AsyncClient(transport=asgi) as token_client,
            build_client(target, transport=asgi, token_client=token_client) as client,
        ):
            assert (await client.get("/resource")).status_code == 200
    assert server.tokens_issued == 1
    assert [entry["url"] for entry in logs] == ["https://api.example.com/resource"]


# -- redact_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("https://h/users", "https://h/users"),
        ("https://h/u?page=2&count=10", "https://h/u?page=2&count=10"),
        ("https://h/u?api_key=a&page=2", "https://h/u?api_key=[redacted]&page=2"),
        ("https://h/u?Access_Token=a%20b", "https://h/u?Access_Token=[redacted]"),
        (
            "https://h/u?client_secret=s&password=p",
            "https://h/u?client_secret=[redacted]&password=[redacted]",
        ),
        (
            "https://h/b?X-Amz-Signature=s&X-Amz-Credential=c",
            "https://h/b?X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]",
        ),
        ("https://h/u?api%5Fkey=a", "https://h/u?api%5Fkey=[redacted]"),
        ("https://user:pass@h/u", "https://h/u"),
        ("https://h/u?flag&token=t#fragment", "https://h/u?flag&token=[redacted]"),
    ],
)
def test_redact_url(url: str, logged: str) -> None:
    assert redact_url(url) == logged


async def test_a_cookie_a_target_sets_is_sent_back_and_none_is_invented() -> None:
    # The client skips httpx's cookie jar for responses without Set-Cookie (a tenth of a
    # delivery's CPU): a target's affinity cookie must still come back on the next call.
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        if request.url.path.endswith("/login"):
            return httpx.Response(200, headers={"Set-Cookie": "affinity=node-2; Path=/"})
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(handler)
    async with build_client(connection(), transport=transport) as client:
        await client.get("/users")
        await client.get("/login")
        await client.get("/users")
        assert dict(client.cookies) == {"affinity": "node-2"}
        client.cookies = {"replaced": "yes"}
        await client.get("/users")
    assert seen == [None, None, "affinity=node-2", "replaced=yes"]
