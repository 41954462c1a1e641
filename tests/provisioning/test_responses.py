"""The shared HTTP call and JSON reading every connector uses (provisioning.responses)."""

import socket
from collections.abc import Callable

import httpx
import pytest

from provisioning.errors import ConflictError, PermanentError, RateLimited, TransientError
from provisioning.responses import account_gone, call, read_json, retry_after_seconds

URL = "https://target.example/api/users/42"


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def answer(status: int, **kwargs: object) -> httpx.AsyncClient:
    return client(lambda request: httpx.Response(status, **kwargs))  # type: ignore[arg-type]


async def test_a_success_is_returned_with_the_request_as_built() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "42"})

    async with client(handler) as http:
        response = await call(
            http, "POST", URL, json={"a": 1}, params={"q": "x"}, headers={"Accept": "x/y"}
        )
    assert response.status_code == 201
    assert seen[0].url.params["q"] == "x"
    assert seen[0].headers["Accept"] == "x/y"
    assert seen[0].content == b'{"a":1}'


async def test_a_404_is_returned_when_missing_is_ok() -> None:
    async with answer(404) as http:
        response = await call(http, "DELETE", URL, missing_ok=True)
    assert response.status_code == 404


async def test_a_404_is_a_permanent_error_with_status_404_otherwise() -> None:
    async with answer(404, json={"detail": "no such user"}) as http:
        with pytest.raises(PermanentError) as caught:
            await call(http, "GET", URL)
    assert caught.value.status == 404
    assert "no such user" in caught.value.message


async def test_an_account_gone_raises_the_given_error_with_status_404() -> None:
    async with answer(404) as http:
        with pytest.raises(PermanentError, match="user 42 no longer exists") as caught:
            await call(http, "PUT", URL, missing=account_gone("the user 42", "PUT"))
    assert caught.value.status == 404  # the engine re-links or re-creates on it


async def test_a_429_is_rate_limited_with_retry_after() -> None:
    async with answer(429, headers={"Retry-After": "30"}) as http:
        with pytest.raises(RateLimited) as caught:
            await call(http, "GET", URL)
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662", "soon", "-5"])
def test_a_retry_after_that_is_neither_seconds_nor_a_date_is_no_wait(value: str) -> None:
    assert retry_after_seconds(value) is None


async def test_a_vendor_throttle_status_and_default_wait() -> None:
    async with answer(503) as http:
        with pytest.raises(RateLimited) as caught:
            await call(http, "GET", URL, throttle_statuses=(503,), default_wait=60.0)
    assert caught.value.retry_after == 60.0


async def test_a_vendor_conflict_and_a_tolerated_failure() -> None:
    async with answer(422, text="email taken") as http:
        with pytest.raises(ConflictError, match="email taken"):
            await call(http, "POST", URL, is_conflict=lambda r: "taken" in r.text)
        response = await call(http, "POST", URL, tolerate=lambda r: r.status_code == 422)
    assert response.status_code == 422


async def test_a_redirect_is_permanent() -> None:
    async with answer(301, headers={"Location": "https://elsewhere.example/"}) as http:
        with pytest.raises(PermanentError, match="redirects") as caught:
            await call(http, "POST", URL)
    assert caught.value.status == 301


async def test_a_transport_failure_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with client(refuse) as http:
        with pytest.raises(TransientError):
            await call(http, "GET", URL)


async def test_a_refused_connection_names_the_host_and_says_refused() -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    async with httpx.AsyncClient() as http:
        with pytest.raises(TransientError) as caught:
            await call(http, "GET", f"http://127.0.0.1:{port}/people")
    assert str(caught.value) == (
        f"connection failed: could not connect to 127.0.0.1:{port} (connection refused)"
    )


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ConnectTimeout("timed out"), "timed out connecting to hr.example.com"),
        (httpx.ReadTimeout("timed out"), "timed out waiting for hr.example.com to answer"),
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "connection failed: could not connect to hr.example.com (host name not found)",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "connection failed: hr.example.com closed the connection mid-answer",
        ),
    ],
)
async def test_a_transport_failure_says_what_failed_and_where(
    failure: httpx.TransportError, message: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    async with client(fail) as http:
        with pytest.raises(TransientError) as caught:
            await call(http, "GET", "https://hr.example.com/people")
    assert str(caught.value) == message


def test_read_json_returns_the_body() -> None:
    assert read_json(httpx.Response(200, json=[1, 2]), "Acme") == [1, 2]


def test_read_json_names_the_vendor_and_status_of_a_body_that_is_not_json() -> None:
    with pytest.raises(PermanentError, match=r"Acme answered 200 without a JSON body \(XML\?\)"):
        read_json(httpx.Response(200, text="<html>Sign in</html>"), "Acme", "(XML?)")
    with pytest.raises(PermanentError) as caught:
        read_json(httpx.Response(502, text="Bad gateway"), "Acme")
    assert caught.value.status == 502
