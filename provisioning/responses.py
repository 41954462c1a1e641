"""Turning a target's HTTP response into success or a typed delivery error.

Every HTTP connector calls :func:`raise_for_status` so that the rules are the same for all:
408, 5xx and transport failures are transient; 429 (and a vendor's declared throttle
statuses) is :class:`RateLimited` with ``Retry-After``; 401/403 are auth errors; any
other 4xx is permanent and keeps the vendor's message.

Connectors send through :func:`call` (which applies those rules and the shared 404
semantics: "missing is fine" or "the account is gone") and parse bodies with
:func:`read_json`, so no connector keeps its own copy of either. A vendor connector does so
through :class:`provisioning.connectors.profile.ApiClient`, which passes its declared
``ApiProfile`` as these keyword arguments.
"""

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from provisioning.errors import (
    AuthError,
    ConflictError,
    DeliveryError,
    PermanentError,
    RateLimited,
    TransientError,
)

#: Longest message kept from a vendor's error body (delivery rows are not a log archive).
MESSAGE_LIMIT = 500

MessageReader = Callable[[httpx.Response], str | None]
#: A test on a failed response (a vendor's conflict, or a failure the caller accepts).
ResponseTest = Callable[[httpx.Response], bool]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def default_message(response: httpx.Response) -> str | None:
    """The message of a JSON error body (``detail``, ``message``, ``error``...) or its text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text or None
    if isinstance(body, dict):
        for key in ("detail", "message", "error_description", "error", "title", "errors"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else str(value)
    return str(body) if body else None


def raise_for_status(
    response: httpx.Response,
    *,
    read_message: MessageReader = default_message,
    throttle_statuses: Collection[int] = (429,),
    conflict_statuses: Collection[int] = (409,),
    is_conflict: ResponseTest | None = None,
    default_wait: float | None = None,
) -> httpx.Response:
    """Return the response if it succeeded, else raise the matching :class:`DeliveryError`.

    ``is_conflict`` recognises a vendor's conflict its status does not say (a 400 or 422
    reporting a taken email): it is a :class:`ConflictError`. ``default_wait`` is the
    ``retry_after`` of a throttled answer without ``Retry-After``.
    """
    status = response.status_code
    if status < 400:
        return response
    message = _message(response, read_message)
    if is_conflict is not None and is_conflict(response):
        raise ConflictError(message, status=status)
    if status in throttle_statuses:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        raise RateLimited(
            message, status=status, retry_after=default_wait if wait is None else wait
        )
    raise error_for_status(status, message, response.headers.get("Retry-After"), conflict_statuses)


def error_for_status(
    status: int,
    message: str,
    retry_after: str | None = None,
    conflict_statuses: Collection[int] = (409,),
) -> DeliveryError:
    """The error a failed status stands for (used directly by non-HTTP-status protocols too)."""
    if status == 408 or status >= 500:
        return TransientError(message, status=status, retry_after=retry_after_seconds(retry_after))
    if status in (401, 403):
        return AuthError(message, status=status)
    if status in conflict_statuses:
        return ConflictError(message, status=status)
    return PermanentError(message, status=status)


def _message(response: httpx.Response, read_message: MessageReader) -> str:
    try:
        text = read_message(response)
    except Exception:  # a malformed error body must not hide the status
        text = None
    reason = f"HTTP {response.status_code}"
    return f"{reason}: {text[:MESSAGE_LIMIT]}" if text else reason


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send a request, turning transport failures (timeouts, refused) into TransientError."""
    try:
        return await client.send(request)
    except httpx.TransportError as exc:
        raise TransientError(transport_failure(exc, request.url)) from None


#: What an operator reads for each transport failure; ``{host}`` is the host and port called.
_TRANSPORT_FAILURES: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectTimeout, "timed out connecting to {host}"),
    (httpx.ReadTimeout, "timed out waiting for {host} to answer"),
    (httpx.WriteTimeout, "timed out sending the request to {host}"),
    (httpx.PoolTimeout, "timed out waiting for a free connection to {host}"),
    (httpx.TimeoutException, "timed out calling {host}"),
    (httpx.RemoteProtocolError, "connection failed: {host} closed the connection mid-answer"),
    (httpx.ConnectError, "connection failed: could not connect to {host}{why}"),
    (httpx.TransportError, "connection failed: {host} ({kind})"),
)
#: Words of the OS error behind a ConnectError that are worth repeating, and how.
_CONNECT_REASONS = (
    ("refused", "connection refused"),
    ("connectionrefused", "connection refused"),
    ("name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("temporary failure in name resolution", "host name not resolved"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("certificate", "TLS certificate refused"),
)


def transport_failure(exc: httpx.TransportError, url: httpx.URL) -> str:
    """A plain message for a request that got no HTTP answer: what failed, and where."""
    host = f"{url.host}:{url.port}" if url.port else url.host
    detail = " ".join(f"{type(cause).__name__} {cause}" for cause in _causes(exc)).lower()
    reason = next((words for needle, words in _CONNECT_REASONS if needle in detail), None)
    for kind, message in _TRANSPORT_FAILURES:
        if isinstance(exc, kind):
            why = f" ({reason})" if reason else ""
            return message.format(host=host, why=why, kind=type(exc).__name__)
    return f"connection failed: {host}"  # unreachable: TransportError closes the table


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (the OS error sits a few links down), at most 8."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def account_gone(what: str, method: str) -> PermanentError:
    """The error of an account (or group) gone from the target, e.g. a 404 on its update.

    Its ``status`` is 404: the engine relies on it to re-link or re-create the account.
    """
    return PermanentError(
        f"{what} no longer exists (HTTP 404 on {method}); it must be re-linked or re-created",
        status=404,
    )


async def call(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    content: bytes | None = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    missing_ok: bool = False,
    missing: DeliveryError | None = None,
    tolerate: ResponseTest | None = None,
    read_message: MessageReader = default_message,
    throttle_statuses: Collection[int] = (429,),
    conflict_statuses: Collection[int] = (409,),
    is_conflict: ResponseTest | None = None,
    default_wait: float | None = None,
) -> httpx.Response:
    """Build, send and check one request: the HTTP call every connector makes.

    A 404 is returned as is when ``missing_ok`` (a lookup finding nothing, a delete of an
    account already gone), and raises ``missing`` when given (usually :func:`account_gone`).
    A failure ``tolerate`` accepts is returned too, for the caller to read. A redirect
    (not followed) is a :class:`PermanentError`: the request did not reach the API. Any
    other failure raises what :func:`raise_for_status` maps it to, with the remaining
    keyword arguments; transport failures are :class:`TransientError` (see :func:`send`).
    """
    request = client.build_request(
        method, url, json=json, data=data, content=content, params=params, headers=headers
    )
    response = await send(client, request)
    status = response.status_code
    if status == 404 and missing_ok:
        return response
    if status == 404 and missing is not None:
        raise missing
    if status >= 300 and tolerate is not None and tolerate(response):
        return response
    if 300 <= status < 400:
        raise PermanentError(
            f"HTTP {status}: the configured URL redirects; configure the final URL", status=status
        )
    return raise_for_status(
        response,
        read_message=read_message,
        throttle_statuses=throttle_statuses,
        conflict_statuses=conflict_statuses,
        is_conflict=is_conflict,
        default_wait=default_wait,
    )


def read_json(response: httpx.Response, vendor: str, hint: str = "") -> Any:
    """The JSON body of a response; a :class:`PermanentError` naming ``vendor`` and the
    status if it has none (an HTML login page, XML...). ``hint`` ends the message."""
    try:
        return response.json()
    except ValueError:
        suffix = f" {hint}" if hint else ""
        raise PermanentError(
            f"{vendor} answered {response.status_code} without a JSON body{suffix}",
            status=response.status_code,
        ) from None
