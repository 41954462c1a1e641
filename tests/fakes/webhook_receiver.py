"""Contract fake of a webhook receiver, doing what docs/connectors/webhook.md asks of vendors.

It verifies every request with :func:`provisioning.connectors.webhook.verify_signature`
(401 and a JSON error when the signature is wrong or the timestamp stale), dedupes by event
id (a retried event is answered 200 and not applied twice: delivery is at least once),
records the events, and keeps a per-resource account view. Tests can make the next
requests fail with any status, headers and body (429 with ``Retry-After``, 500, 400...).

Use it through ``httpx.ASGITransport(app=receiver.app)``.
"""

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from provisioning.connectors.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify_signature,
)
from tests.fakes.catalog import Served


@dataclass
class Account:
    """What the receiver knows of one resource."""

    active: bool
    data: dict[str, Any]


@dataclass
class Failure:
    """A canned answer for the next request(s)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    #: Apply the event first: the answer is lost after the receiver committed.
    after_apply: bool = False


class WebhookReceiver:
    """A receiver that verifies, dedupes and applies scimgw's webhook events.

    Args:
        secret: the shared signing key.
        path: where events are posted.
        tolerance: accepted clock distance, in seconds.
        clock: the receiver's current unix time.
        assign_ids: answer ``user.created`` with ``{"id": "acct-<n>"}`` (a receiver that
            keeps its own ids) instead of an empty 200.
    """

    def __init__(
        self,
        secret: str,
        *,
        path: str = "/hooks/scimgw",
        tolerance: float = 300,
        clock: Callable[[], float] = time.time,
        assign_ids: bool = False,
    ) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.clock = clock
        self.assign_ids = assign_ids
        self.events: list[dict[str, Any]] = []
        self.accounts: dict[str, Account] = {}
        self.requests = 0
        #: ``X-Scimgw-Event-Id`` of every request, failed ones included, in arrival order.
        self.sent_ids: list[str] = []
        self._failures: list[Failure] = []
        #: While set, every request is answered with this status (the receiver is down).
        self.down: int | None = None
        self._seen: set[str] = set()
        self.app = Starlette(routes=[Route(path, self._receive, methods=["POST"])])

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (before any verification)."""
        self._failures.extend([Failure(status, headers or {}, body)] * times)

    def go_down(self, status: int = 503) -> None:
        """Answer every request with ``status`` until :meth:`come_back`."""
        self.down = status

    def come_back(self) -> None:
        """Verify and apply requests again, and forget any canned failure still queued."""
        self.down = None
        self._failures.clear()

    def lose_next_answer(self, status: int = 504) -> None:
        """Apply the next event, then answer ``status``: to scimgw the answer is lost (a
        gateway timeout after the receiver committed), so it sends the event again."""
        self._failures.append(Failure(status, after_apply=True))

    def event_ids(self) -> list[str]:
        """Ids of the events applied, in order (each once)."""
        return [event["id"] for event in self.events]

    async def _receive(self, request: Request) -> Response:
        self.requests += 1
        self.sent_ids.append(request.headers.get(EVENT_ID_HEADER, ""))
        if self.down is not None:
            return Response("", self.down)
        lost = None
        if self._failures:
            failure = self._failures.pop(0)
            if not failure.after_apply:
                return _canned(failure)
            lost = failure
        answer = await self._verify_and_apply(request)
        return answer if lost is None or answer.status_code >= 300 else _canned(lost)

    async def _verify_and_apply(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify_signature(
                self.secret,
                request.headers.get(TIMESTAMP_HEADER, ""),
                body,
                request.headers.get(SIGNATURE_HEADER, ""),
                now=self.clock(),
                tolerance=self.tolerance,
            )
        except SignatureError as exc:
            return JSONResponse({"error": "invalid_signature", "message": str(exc)}, 401)
        event = json.loads(body)
        if request.headers.get(EVENT_ID_HEADER) != event["id"]:
            return JSONResponse({"error": "bad_request", "message": "event id mismatch"}, 400)
        if event["id"] in self._seen:
            return JSONResponse({"duplicate": True})
        return JSONResponse(self._apply(event))

    def _apply(self, event: dict[str, Any]) -> dict[str, Any]:
        self._seen.add(event["id"])
        self.events.append(event)
        kind, resource, data = event["type"], event["resource"], event["data"]
        if kind == "ping":
            return {}
        key = resource["remote_id"] if "remote_id" in resource else resource["id"]
        if kind == "user.created":
            key = f"acct-{len(self.accounts) + 1}" if self.assign_ids else resource["id"]
            self.accounts[key] = Account(active=data.get("active", True), data=data)
            return {"id": key} if self.assign_ids else {}
        if kind == "user.deleted":
            self.accounts.pop(key, None)
            return {}
        account = self.accounts.setdefault(key, Account(active=True, data={}))
        if kind == "user.updated":
            account.data = data
        account.active = data.get("active", account.active)
        return {}


def _canned(failure: Failure) -> Response:
    if failure.body is None or isinstance(failure.body, str):
        return Response(failure.body or "", failure.status, headers=dict(failure.headers))
    return JSONResponse(failure.body, failure.status, headers=dict(failure.headers))


#: The signing secret of the served receiver (a connection's ``options.secret``).
SERVED_SECRET = "webhook-secret-for-local-tries-0123"
SERVED_PATH = "/hooks/scimgw"


def serve(people: int) -> Served:
    """A receiver for ``python -m tests.fakes serve webhook`` (``people`` is unused: a
    receiver starts empty)."""
    receiver = WebhookReceiver(SERVED_SECRET, path=SERVED_PATH)
    return Served(
        app=receiver.app,
        notes=[
            f"options: {{secret: {SERVED_SECRET!r}, path: {SERVED_PATH}}}",
            "every request must carry scimgw's signature (else 401); events are deduped by id",
        ],
    )
