"""Signed webhook target: every change is POSTed as a JSON event to the receiver's URL.

The receiver cannot be queried, so ``find`` finds nothing and the remote id is the SCIM id
(or the ``id`` the receiver answers on creation). Each event is signed with HMAC-SHA256 over
``"{timestamp}.{body}"``; :func:`verify_signature` is the receiver-side check, documented
for vendors in ``docs/connectors/webhook.md``.

Delivery is at least once: the engine retries on transient errors with the same event id,
so a receiver must dedupe by ``X-Scimgw-Event-Id``. Every distinct event therefore needs an
id of its own (:func:`event_id`).
"""

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from gateway.config import Secret
from provisioning.connectors.base import ConnectorSetup, DeliveryContext, RemoteAccount
from provisioning.responses import call

EVENT_ID_HEADER = "X-Scimgw-Event-Id"
TIMESTAMP_HEADER = "X-Scimgw-Timestamp"
SIGNATURE_HEADER = "X-Scimgw-Signature"
#: Version prefix of the signature scheme, so that a future scheme can be sent beside it.
SIGNATURE_SCHEME = "v1"
#: Default window, in seconds, within which a receiver accepts a timestamp.
DEFAULT_TOLERANCE = 300
#: The event type each engine operation sends first; other types one delivery sends (a
#: reactivation's ``updated``) are further events of the same change.
_PRIMARY_VERB = {
    "create": "created",
    "update": "updated",
    "reactivate": "reactivated",
    "deactivate": "deactivated",
    "delete": "deleted",
}


class WebhookOptions(BaseModel):
    """The ``options:`` of a ``webhook`` connection.

    Attributes:
        secret: the shared signing key, as a reference (``${ENV}`` or ``file:/path``).
        path: appended to the connection's ``base_url`` (empty: post to ``base_url``).
    """

    # hide_input_in_errors: a secret pasted as a literal must not be echoed by the error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    secret: Secret
    path: str = ""


class SignatureError(ValueError):
    """A webhook request failed verification (bad signature or stale timestamp)."""


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Scimgw-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"{SIGNATURE_SCHEME}={_digest(_key(secret), str(timestamp), body)}"


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes,
    header: str,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Check a received webhook request; raise if it was not sent by scimgw just now.

    Use the raw request body (the exact bytes received, before any JSON parsing). The
    header may carry several comma-separated ``v1=`` signatures (during a key rotation);
    one valid signature is enough. Receivers must also dedupe by event id: a request
    replayed within the tolerance passes this check.

    Args:
        secret: the shared signing key.
        timestamp: the ``X-Scimgw-Timestamp`` header (unix seconds).
        body: the raw request body.
        header: the ``X-Scimgw-Signature`` header.
        now: the receiver's current time (unix seconds), e.g. ``time.time()``.
        tolerance: largest accepted clock distance, in seconds, either way.

    Raises:
        SignatureError: the timestamp is malformed or outside the tolerance, or no
            signature matches.
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        raise SignatureError("malformed timestamp") from None
    if abs(now - sent_at) > tolerance:
        raise SignatureError("timestamp outside the tolerance window")
    expected = _digest(_key(secret), str(sent_at), body)
    candidates = [part.strip() for part in (header or "").split(",")]
    prefix = f"{SIGNATURE_SCHEME}="
    for candidate in candidates:
        given = candidate.removeprefix(prefix)
        if candidate.startswith(prefix) and hmac.compare_digest(given, expected):
            return
    raise SignatureError("no valid signature")


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _digest(key: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def _json_default(value: Any) -> Any:
    # Mapped payloads may hold dates (hire dates): send them as ISO 8601 like SCIM does.
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class WebhookConnector:
    """A :class:`~provisioning.connectors.base.TargetConnector` posting signed events.

    Args:
        setup: the connection's name, URL, HTTP client and ``options`` (see
            :class:`WebhookOptions`).
        clock: current unix time; injected so tests can send stale timestamps.
    """

    # Before ``type``, which shadows the builtin in the class body.
    options_model: ClassVar[type[BaseModel]] = WebhookOptions
    type: ClassVar[str] = "webhook"
    lookup_keys: ClassVar[tuple[str, ...]] = ()
    default_field_map: ClassVar[Mapping[str, Any]] = {
        "userName": "userName",
        "email": 'emails[type eq "work"].value',
        "given_name": "name.givenName",
        "family_name": "name.familyName",
        "active": "active",
        "external_id": "externalId",
    }

    def __init__(self, setup: ConnectorSetup, *, clock: Callable[[], float] = time.time) -> None:
        self._options = WebhookOptions.model_validate(dict(setup.options))
        self._http = setup.http
        self._url = _join(setup.base_url, self._options.path)
        self._clock = clock

    async def check(self) -> None:
        """Post a ``ping`` event; the receiver must answer 2xx (401/403 raise AuthError)."""
        await self._post(f"ping-{uuid.uuid4().hex}", "ping", None, None, {})

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """A webhook cannot look accounts up: always empty (``lookup_keys`` is empty)."""
        return []

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """Send ``user.created``; the remote id is the receiver's ``id`` or the SCIM id."""
        response = await self._emit("created", context, None, dict(payload))
        remote_id = _returned_id(response) or context.resource_id
        return RemoteAccount(id=remote_id, active=_active(payload))

    async def update(
        self, account: RemoteAccount, payload: Mapping[str, Any], context: DeliveryContext
    ) -> RemoteAccount:
        """Send ``user.updated`` with the whole mapped payload (not a diff)."""
        await self._emit("updated", context, account, dict(payload))
        return RemoteAccount(id=account.id, active=_active(payload))

    async def deactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Send ``user.deactivated`` with ``{"active": false}``."""
        await self._emit("deactivated", context, account, {"active": False})

    async def reactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Send ``user.reactivated`` with ``{"active": true}``."""
        await self._emit("reactivated", context, account, {"active": True})

    async def delete(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Send ``user.deleted`` with empty data."""
        await self._emit("deleted", context, account, {})

    async def _emit(
        self,
        verb: str,
        context: DeliveryContext,
        account: RemoteAccount | None,
        data: dict[str, Any],
    ) -> httpx.Response:
        resource: dict[str, Any] = {"type": context.resource_type, "id": context.resource_id}
        if account is not None and account.id != context.resource_id:
            resource["remote_id"] = account.id
        kind = f"{context.resource_type.lower()}.{verb}"
        return await self._post(event_id_for(context, verb), kind, context.tenant, resource, data)

    async def _post(
        self,
        event_id: str,
        kind: str,
        tenant: str | None,
        resource: dict[str, Any] | None,
        data: dict[str, Any],
    ) -> httpx.Response:
        timestamp = int(self._clock())
        event = {
            "id": event_id,
            "type": kind,
            "occurred_at": datetime.fromtimestamp(timestamp, UTC).isoformat(),
            "tenant": tenant,
            "resource": resource,
            "data": data,
        }
        body = json.dumps(event, separators=(",", ":"), default=_json_default).encode("utf-8")
        # Redirects are not followed: call() makes a 3xx (the event not received) permanent.
        headers = self._headers(event_id, timestamp, body)
        return await call(self._http, "POST", self._url, content=body, headers=headers)

    def _headers(self, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        secret = self._options.secret.get_secret_value()
        return {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: event_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }


def event_id_for(context: DeliveryContext, verb: str) -> str:
    """The id of the ``verb`` event one delivery sends: the same on every retry, distinct
    for every other event.

    A delivery may send two events (``user.reactivated`` then ``user.updated``); with one
    id for both, a receiver deduping by id, as it must, dropped the second change. The
    event the operation is named after keeps the plain number (``"4182"``); any other
    gets the type appended (``"4182-updated"``). A retry takes the same path and so
    sends the same ids.
    """
    if _PRIMARY_VERB.get(context.action) == verb:
        return str(context.event_id)
    return f"{context.event_id}-{verb}"


def _join(base_url: str, path: str) -> str:
    if not path:
        return base_url
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


def _returned_id(response: httpx.Response) -> str | None:
    """The ``id`` of a JSON object body, if the receiver assigned its own."""
    try:
        body = response.json()
    except ValueError:
        return None
    remote_id = body.get("id") if isinstance(body, dict) else None
    if isinstance(remote_id, bool) or not isinstance(remote_id, str | int):
        return None
    return str(remote_id) or None


def _active(payload: Mapping[str, Any]) -> bool | None:
    value = payload.get("active")
    return value if isinstance(value, bool) else None
