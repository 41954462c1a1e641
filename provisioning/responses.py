"""Turning a target's HTTP response into success or a typed delivery error.

Every HTTP connector calls :func:`raise_for_status` so that the rules are the same for all:
408, 5xx and transport failures are transient; 429 (and a vendor's declared throttle
statuses) is :class:`RateLimited` with ``Retry-After``; 401/403 are auth errors; any
other 4xx is permanent and keeps the vendor's message.
"""

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
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
) -> httpx.Response:
    """Return the response if it succeeded, else raise the matching :class:`DeliveryError`."""
    status = response.status_code
    if status < 400:
        return response
    message = _message(response, read_message)
    if status in throttle_statuses:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        raise RateLimited(message, status=status, retry_after=wait)
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
    except httpx.TimeoutException as exc:
        raise TransientError(f"timed out: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise TransientError(f"connection failed: {type(exc).__name__}") from None
