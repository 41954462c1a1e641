"""OAuth2 client credentials (RFC 6749 §4.4): an access token cached and refreshed under a lock.

:class:`ClientCredentialsAuth` is the machinery every token strategy shares. It asks the token
endpoint for a token, keeps it until ``leeway`` seconds before it expires, lets one coroutine
refresh it while the others wait, and when the target answers 401 it fetches a new token and
retries that request once. How the client proves itself at the token endpoint is an authlib
``ClientAuth``: ``client_secret_basic``, ``client_secret_post`` here, a signed certificate
assertion in :mod:`provisioning.auth.microsoft`.

authlib's own ``AsyncOAuth2Client`` is an ``httpx2`` client, not an ``httpx.Auth`` we can attach
to the connection's ``httpx.AsyncClient``; so its transport-free parts are used (client
authentication, token request encoding) and the caching follows its design (lock, leeway).
"""

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from gateway.config import OAuth2ClientCredentials
from provisioning.errors import AuthError, DeliveryError, RateLimited, TransientError
from provisioning.responses import MESSAGE_LIMIT, retry_after_seconds, transport_failure

#: Seconds on a monotonic scale; injected so tests can move time.
Clock = Callable[[], float]


class TokenEndpointAuth(Protocol):
    """How the client authenticates at the token endpoint (authlib's ``ClientAuth``)."""

    def prepare(
        self, method: str, uri: str, headers: dict[str, str], body: str
    ) -> tuple[str, dict[str, str], str]:
        """Return the URI, headers and form body of the token request with credentials added."""
        ...


@dataclass(frozen=True)
class AccessToken:
    """An access token and when it expires on the auth's clock (None: never said)."""

    value: str = field(repr=False)
    expires_at: float | None

    def expiring(self, now: float, leeway: float) -> bool:
        """Whether the token is expired or will be within ``leeway`` seconds."""
        return self.expires_at is not None and now >= self.expires_at - leeway


class ClientCredentialsAuth(httpx.Auth):
    """Bearer auth with a client-credentials token, fetched once and shared by all requests.

    Args:
        token_client: the client that reaches the token endpoint (it may be the very client
            this auth is attached to: token requests are sent with ``auth=None``).
        token_url: the token endpoint.
        client_auth: adds the client's credentials to the token request.
        params: extra form fields of the token request (``scope``, ``audience``...); None
            values are left out.
        leeway_seconds: refresh this long before the token expires.
        clock: monotonic seconds, for expiry.

    The flow raises :class:`provisioning.errors.AuthError` when the token endpoint rejects
    the client, and :class:`provisioning.errors.TransientError` (or ``RateLimited``) when it
    is down, slow or throttling. A 401 from the target is returned to the caller after one
    retry with a fresh token.
    """

    # The body must be in memory so that the request can be replayed after a 401.
    requires_request_body = True

    def __init__(
        self,
        *,
        token_client: httpx.AsyncClient,
        token_url: str,
        client_auth: TokenEndpointAuth,
        params: Mapping[str, str | None] | None = None,
        leeway_seconds: float = 60.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._token_client = token_client
        self._token_url = token_url
        self._client_auth = client_auth
        self._params = {name: value for name, value in (params or {}).items() if value}
        self._leeway = leeway_seconds
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self._attempts = 0
        self._failure: DeliveryError | None = None

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.access_token()
        response = yield _authorize(request, token)
        if response.status_code != 401:
            return
        # Free the 401's connection first: the token request may need it from the same pool.
        await response.aread()
        token = await self._replace(token)
        yield _authorize(request, token)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ClientCredentialsAuth needs an httpx.AsyncClient")

    async def access_token(self) -> AccessToken:
        """The cached token, or a new one if there is none or it is about to expire."""
        token = self._token
        if token is None or token.expiring(self._clock(), self._leeway):
            token = await self._replace(token)
        return token

    async def _replace(self, stale: AccessToken | None) -> AccessToken:
        """Fetch a token to replace ``stale``, once however many coroutines ask at once."""
        attempts_seen = self._attempts
        async with self._lock:
            if self._token is not stale and self._token is not None:
                return self._token  # another coroutine refreshed it while we waited
            if self._failure is not None and self._attempts != attempts_seen:
                # The fetch we waited for failed: share its error rather than queueing one
                # more doomed call (50 waiters x a 30 s timeout would stall the worker).
                raise self._failure
            try:
                self._token = await self._fetch()
                self._failure = None
            except DeliveryError as error:
                self._failure = error
                raise
            finally:
                self._attempts += 1
            return self._token

    async def _fetch(self) -> AccessToken:
        body = prepare_token_request("client_credentials", **self._params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        url, headers, body = self._client_auth.prepare("POST", self._token_url, headers, body)
        # Expiry counts from before the request: erring early never sends an expired token.
        asked_at = self._clock()
        response = await _post(self._token_client, url, headers, body)
        if response.is_error:
            raise token_error(response)
        return parse_token(response, asked_at)


def client_credentials_auth(
    settings: OAuth2ClientCredentials,
    *,
    token_client: httpx.AsyncClient,
    clock: Clock = time.monotonic,
) -> ClientCredentialsAuth:
    """The auth of an ``oauth2_client_credentials`` connection."""
    client_auth = ClientAuth(
        settings.client_id, settings.client_secret.get_secret_value(), settings.client_auth
    )
    return ClientCredentialsAuth(
        token_client=token_client,
        token_url=settings.token_url,
        client_auth=client_auth,
        params={"scope": settings.scope, "audience": settings.audience},
        leeway_seconds=settings.leeway_seconds,
        clock=clock,
    )


def parse_token(response: httpx.Response, asked_at: float) -> AccessToken:
    """The token of a successful token response (RFC 6749 §5.1).

    Raises:
        AuthError: the body has no ``access_token`` (e.g. ``token_url`` is a web page).
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise AuthError(
            "token endpoint answered without an access_token", status=response.status_code
        )
    return AccessToken(body["access_token"], _expires_at(body.get("expires_in"), asked_at))


def token_error(response: httpx.Response) -> DeliveryError:
    """The error a failed token response stands for.

    A rejected client (RFC 6749 §5.2: 400 ``invalid_client``, 401...) is an
    :class:`AuthError` carrying the endpoint's ``error`` and ``error_description``;
    408 and 5xx are transient, 429 is :class:`RateLimited`.
    """
    status = response.status_code
    message = f"token endpoint answered HTTP {status}{_oauth_error(response)}"[:MESSAGE_LIMIT]
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if status == 429:
        return RateLimited(message, status=status, retry_after=retry_after)
    if status == 408 or status >= 500:
        return TransientError(message, status=status, retry_after=retry_after)
    return AuthError(message, status=status)


def _authorize(request: httpx.Request, token: AccessToken) -> httpx.Request:
    request.headers["Authorization"] = f"Bearer {token.value}"
    return request


async def _post(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: str
) -> httpx.Response:
    try:
        # auth=None: the token client may be the connection's own client, whose auth is us.
        # request(), as post() would: httpx types post()'s auth without the None it accepts.
        return await client.request("POST", url, content=body, headers=headers, auth=None)
    except httpx.TransportError as exc:
        raise TransientError(f"token endpoint: {transport_failure(exc, httpx.URL(url))}") from None


def _oauth_error(response: httpx.Response) -> str:
    """``": invalid_client: <description>"`` from an RFC 6749 §5.2 body, else nothing.

    Only these two fields are kept: another body (a proxy's error page) might echo the
    request, and with it the client secret.
    """
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [body.get(name) for name in ("error", "error_description")]
    return "".join(f": {part}" for part in parts if isinstance(part, str) and part)


def _expires_at(expires_in: Any, asked_at: float) -> float | None:
    # Some endpoints (Azure AD v1) send expires_in as a string.
    try:
        return asked_at + float(expires_in)
    except (TypeError, ValueError):
        return None
