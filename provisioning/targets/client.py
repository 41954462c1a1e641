"""The HTTP client of one connection: base URL, timeouts, pool size, auth and redacted logs.

The engine builds one client per connection with :func:`build_client` and hands it to the
connector (``ConnectorSetup.http``); the caller owns it and closes it.

Each exchange is logged on ``scimgw.outbound`` with its method, URL, status and time. The URL
is logged without user info and with the values of credential-like query parameters
(``?apikey=``, ``?access_token=``...) replaced; headers and bodies are never logged.
"""

import logging
import time
from http.cookiejar import CookieJar
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import unquote_plus
from weakref import WeakKeyDictionary

import httpx
import structlog

from gateway.config import TargetConnection
from provisioning.auth import build_auth

#: A refused or black-holed host should fail fast; a slow API gets the full timeout.
CONNECT_TIMEOUT_SECONDS = 5.0
#: Idle keep-alive connections are closed after this long (below most servers' own limit).
KEEPALIVE_EXPIRY_SECONDS = 30.0
#: Query parameters whose name contains one of these (case-insensitively) are redacted.
SENSITIVE_QUERY_WORDS = ("key", "token", "secret", "passw", "pwd", "signature", "auth", "cred")
REDACTED = "[redacted]"


def _user_agent() -> str:
    try:
        return f"scimgw/{version('scimgw')}"
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "scimgw/unknown"


USER_AGENT = _user_agent()


def build_client(
    connection: TargetConnection,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    token_client: httpx.AsyncClient | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` configured for a connection; the caller closes it.

    Args:
        connection: the connection's settings (base URL, auth, concurrency, timeout).
        transport: replaces the network (tests pass ``httpx.MockTransport`` or
            ``httpx.ASGITransport``); the pool limits then do not apply.
        token_client: the client for token endpoints; by default token requests go
            through the returned client itself (without its auth), so they share its
            timeouts and logs and there is nothing more to close.

    Raises:
        ValueError: the auth settings cannot work (see :func:`provisioning.auth.build_auth`).
    """
    exchanges = _ExchangeLog()
    client = TargetClient(
        base_url=connection.base_url,
        headers={"User-Agent": USER_AGENT},
        timeout=client_timeout(connection.timeout_seconds),
        limits=client_limits(connection.concurrency),
        transport=transport or _network(connection),
        event_hooks={"request": [exchanges.on_request], "response": [exchanges.on_response]},
    )
    # Set after construction because, by default, the auth fetches tokens through the client.
    auth = build_auth(connection.auth, token_client=token_client or client)
    if auth is not None:
        client.auth = auth
    return client


#: What httpx takes as cookies.
CookieSource = httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]] | None


class TargetClient(httpx.AsyncClient):
    """httpx's client, reading the cookies of a response only when it sets some.

    httpx wraps every response and its request in urllib adapters for its cookie jar:
    a tenth of the delivery worker's CPU (docs/benchmarks.md), for target APIs that
    almost never set a cookie. One that does (a load balancer's affinity cookie) still
    has it kept and sent back, as httpx does.
    """

    def __init__(self, *, cookies: CookieSource = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cookies = cookies

    @property
    def cookies(self) -> httpx.Cookies:
        return self._kept_cookies

    @cookies.setter
    def cookies(self, cookies: CookieSource) -> None:
        self._kept_cookies = _CookiesWhenSet(cookies)


class _CookiesWhenSet(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


def _network(connection: TargetConnection) -> httpx.AsyncBaseTransport:
    # httpcore's pool scans every connection on each request (has_expired polls the
    # socket): at 100 connections that scan was 35 % of a worker's CPU (docs/benchmarks.md).
    # aiohttp's connector, behind the same httpx API, keeps idle connections in a queue.
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(limits=client_limits(connection.concurrency))


def client_timeout(seconds: float) -> httpx.Timeout:
    """The connection's timeout for reads, writes and pool waits; a shorter connect."""
    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_SECONDS, seconds))


def client_limits(concurrency: int) -> httpx.Limits:
    """A pool of at most ``concurrency`` connections, all of which may be kept alive."""
    return httpx.Limits(
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
    )


def redact_url(url: httpx.URL | str) -> str:
    """The URL without user info or fragment, credential-like query values replaced.

    >>> redact_url("https://u:p@api.example.com/users?apikey=abc&page=2")
    'https://api.example.com/users?apikey=[redacted]&page=2'
    """
    url = httpx.URL(url)
    pairs = [_redact_pair(pair) for pair in url.query.split(b"&")] if url.query else []
    return str(url.copy_with(userinfo=b"", query=b"&".join(pairs) or None, fragment=None))


def _redact_pair(pair: bytes) -> bytes:
    name, sep, _value = pair.partition(b"=")
    lowered = unquote_plus(name.decode("ascii", "replace")).lower()
    if sep and any(word in lowered for word in SENSITIVE_QUERY_WORDS):
        return name + b"=" + REDACTED.encode()
    return pair


class _ExchangeLog:
    """httpx event hooks that log each exchange once its response headers arrive."""

    def __init__(self) -> None:
        # Looked up per client, not at import: a logger bound once would outlive
        # structlog's configuration changes (and structlog.testing.capture_logs).
        self._log = structlog.get_logger("scimgw.outbound")
        self._started: WeakKeyDictionary[httpx.Request, float] = WeakKeyDictionary()

    async def on_request(self, request: httpx.Request) -> None:
        self._started[request] = time.perf_counter()

    async def on_response(self, response: httpx.Response) -> None:
        request = response.request
        started = self._started.pop(request, None)
        elapsed_ms = None if started is None else round((time.perf_counter() - started) * 1000, 1)
        # Every delivery already has its row (provisioning.records.journal); successes are debug
        # detail, failures an operator wants to see as they happen.
        if not response.is_error and not self._log.is_enabled_for(logging.DEBUG):
            return  # not logged: no URL to redact (a tenth of a delivery's CPU)
        emit = self._log.warning if response.is_error else self._log.debug
        emit(
            "outbound_request",
            method=request.method,
            url=redact_url(request.url),
            status=response.status_code,
            elapsed_ms=elapsed_ms,
        )
