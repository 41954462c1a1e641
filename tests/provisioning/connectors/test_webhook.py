"""The signed webhook target, against a contract fake receiver (docs/connectors/webhook.md)."""

import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from pydantic import ValidationError

from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
    TargetConnector,
)
from provisioning.connectors.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    WebhookConnector,
    WebhookOptions,
    sign,
    verify_signature,
)
from provisioning.errors import (
    AuthError,
    PermanentError,
    RateLimited,
    TransientError,
)
from provisioning.mapping import FieldMap
from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = "whsec-test-4f1c9a7e"
SECRET_ENV = "SCIMGW_TEST_WEBHOOK_SECRET"
BASE_URL = "http://receiver.test"
PATH = "/hooks/scimgw"
PAYLOAD = {"userName": "jane@acme.test", "email": "jane@acme.test", "active": True}


def context(action: str = "create", event_id: int = 1) -> DeliveryContext:
    return DeliveryContext(
        tenant="acme",
        connection="hooks",
        resource_type="User",
        resource_id="2819c223",
        event_id=event_id,
        action=action,
    )


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver(SECRET, path=PATH)


@pytest.fixture
async def http(receiver: WebhookReceiver) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app)) as client:
        yield client


def connector(
    http: httpx.AsyncClient, clock: Callable[[], float] = time.time, path: str = PATH
) -> WebhookConnector:
    options = {"secret": f"${{{SECRET_ENV}}}", "path": path}
    setup = ConnectorSetup(name="hooks", base_url=BASE_URL, http=http, options=options)
    return WebhookConnector(setup, clock=clock)


# -- the signature, as a receiver checks it -----------------------------------------------


def test_signature_verifies_and_a_tampered_body_fails() -> None:
    body = b'{"id":"1","type":"user.created"}'
    header = sign(SECRET, 1_700_000_000, body)
    verify_signature(SECRET, "1700000000", body, header, now=1_700_000_010)
    with pytest.raises(SignatureError, match="no valid signature"):
        verify_signature(SECRET, "1700000000", body.replace(b"1", b"2"), header, 1_700_000_010)


def test_signature_with_another_secret_or_timestamp_fails() -> None:
    body = b"{}"
    header = sign(SECRET, 1_700_000_000, body)
    with pytest.raises(SignatureError):
        verify_signature("another-secret", "1700000000", body, header, now=1_700_000_000)
    with pytest.raises(SignatureError):
        verify_signature(SECRET, "1700000001", body, header, now=1_700_000_000)


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamp_outside_the_tolerance_is_rejected_either_way(skew: int) -> None:
    header = sign(SECRET, 1_700_000_000, b"{}")
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(SECRET, "1700000000", b"{}", header, now=1_700_000_000 + skew)


def test_malformed_timestamp_is_rejected() -> None:
    with pytest.raises(SignatureError, match="malformed"):
        verify_signature(SECRET, "soon", b"{}", sign(SECRET, 0, b"{}"), now=0)


def test_any_of_several_signatures_is_enough_during_a_key_rotation() -> None:
    body = b"{}"
    header = f"{sign('old-secret', 100, body)}, {sign(SECRET, 100, body)}"
    verify_signature(SECRET, 100, body, header, now=100)


# -- the requests the connector sends -----------------------------------------------------


async def test_create_signs_the_exact_bytes_sent_with_the_documented_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await connector(http, clock=lambda: 1_700_000_000.7).create(PAYLOAD, context())
    request = seen[0]
    assert str(request.url) == f"{BASE_URL}{PATH}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers[EVENT_ID_HEADER] == "1"
    assert request.headers[TIMESTAMP_HEADER] == "1700000000"
    verify_signature(
        SECRET, "1700000000", request.content, request.headers[SIGNATURE_HEADER], 1_700_000_000
    )


async def test_create_posts_a_user_created_event(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    account = await connector(http).create(PAYLOAD, context(event_id=41))
    assert account == RemoteAccount(id="2819c223", active=True)
    event = receiver.events[0]
    assert {k: event[k] for k in ("id", "type", "tenant", "resource", "data")} == {
        "id": "41",
        "type": "user.created",
        "tenant": "acme",
        "resource": {"type": "User", "id": "2819c223"},
        "data": PAYLOAD,
    }
    assert event["occurred_at"].endswith("+00:00")


async def test_lifecycle_events_drive_the_receivers_account_view(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    target = connector(http)
    account = await target.create(PAYLOAD, context("create", 1))
    await target.update(account, {**PAYLOAD, "email": "jane.doe@acme.test"}, context("update", 2))
    await target.deactivate(account, context("deactivate", 3))
    assert receiver.accounts["2819c223"].active is False
    assert receiver.accounts["2819c223"].data["email"] == "jane.doe@acme.test"
    await target.reactivate(account, context("reactivate", 4))
    assert receiver.accounts["2819c223"].active is True
    await target.delete(account, context("delete", 5))
    assert receiver.accounts == {}
    assert [e["type"] for e in receiver.events] == [
        "user.created",
        "user.updated",
        "user.deactivated",
        "user.reactivated",
        "user.deleted",
    ]


async def test_an_id_returned_on_creation_becomes_the_remote_id_and_is_sent_back() -> None:
    receiver = WebhookReceiver(SECRET, path=PATH, assign_ids=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app)) as client:
        target = connector(client)
        account = await target.create(PAYLOAD, context("create", 1))
        await target.deactivate(account, context("deactivate", 2))
    assert account.id == "acct-1"
    assert receiver.events[1]["resource"] == {
        "type": "User",
        "id": "2819c223",
        "remote_id": "acct-1",
    }
    assert receiver.accounts["acct-1"].active is False


async def test_a_retried_event_is_accepted_once_by_a_deduping_receiver(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    """At-least-once delivery: the engine resends the same event id after a lost answer."""
    target = connector(http)
    await target.create(PAYLOAD, context(event_id=7))
    await target.create(PAYLOAD, context(event_id=7))
    assert receiver.event_ids() == ["7"]
    assert receiver.requests == 2


async def test_check_posts_a_signed_ping(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await connector(http).check()
    assert receiver.events[0]["type"] == "ping"
    assert receiver.events[0]["id"].startswith("ping-")


async def test_find_finds_nothing_and_the_connector_meets_the_protocol(
    http: httpx.AsyncClient,
) -> None:
    target = connector(http)
    assert await target.find("email", "jane@acme.test") == []
    assert WebhookConnector.lookup_keys == ()
    assert isinstance(target, TargetConnector)


def test_the_default_field_map_is_a_valid_field_map() -> None:
    parsed = FieldMap.parse(dict(WebhookConnector.default_field_map))
    assert list(parsed.fields) == [
        "userName",
        "email",
        "given_name",
        "family_name",
        "active",
        "external_id",
    ]


# -- failures become typed errors ---------------------------------------------------------


async def test_wrong_secret_is_answered_401_and_raises_auth_error(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "not-the-shared-secret")
    with pytest.raises(AuthError) as caught:
        await connector(http).check()
    assert caught.value.status == 401
    assert "not-the-shared-secret" not in str(caught.value)


async def test_a_stale_timestamp_is_rejected_by_the_receiver(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    ten_minutes_late = connector(http, clock=lambda: time.time() - 600)
    with pytest.raises(AuthError, match="tolerance"):
        await ten_minutes_late.create(PAYLOAD, context())
    assert receiver.events == []


async def test_429_with_retry_after_raises_rate_limited(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        await connector(http).create(PAYLOAD, context())
    assert caught.value.retry_after == 30.0
    assert receiver.events == []


async def test_500_raises_transient_and_the_retry_is_applied_once(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(500, body="upstream down")
    target = connector(http)
    with pytest.raises(TransientError) as caught:
        await target.create(PAYLOAD, context(event_id=9))
    assert caught.value.status == 500 and not isinstance(caught.value, RateLimited)
    await target.create(PAYLOAD, context(event_id=9))
    assert receiver.event_ids() == ["9"]


async def test_400_raises_permanent_error_carrying_the_receivers_message(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(400, body={"message": "email is required"})
    with pytest.raises(PermanentError) as caught:
        await connector(http).create(PAYLOAD, context())
    assert caught.value.status == 400
    assert "email is required" in caught.value.message


async def test_a_redirect_is_not_mistaken_for_delivery(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(301, headers={"Location": "https://elsewhere.test/hooks"})
    with pytest.raises(PermanentError, match="redirects"):
        await connector(http).create(PAYLOAD, context())


async def test_an_unreachable_receiver_raises_transient_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(TransientError, match="connection failed"):
            await connector(http).create(PAYLOAD, context())


# -- options ------------------------------------------------------------------------------


def test_a_literal_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookOptions.model_validate({"secret": "pasted-literal-secret"})
    assert "pasted-literal-secret" not in str(caught.value)


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ValidationError, match="tolerance_seconds"):
        WebhookOptions.model_validate({"secret": f"${{{SECRET_ENV}}}", "tolerance_seconds": 5})
