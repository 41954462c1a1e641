"""ApiProfile and ApiClient: one vendor's HTTP rules declared once, applied on every call.

The server is an httpx.MockTransport handler that records what it received and answers
as the test says, so each test sees the request the profile shaped and the error it chose.
"""

from collections.abc import Callable
from datetime import date

import httpx
import pytest

from provisioning.connectors.base import RemoteAccount
from provisioning.connectors.profile import ApiClient, ApiProfile, json_encoder
from provisioning.errors import ConflictError, PermanentError, RateLimited

Answer = Callable[[httpx.Request], httpx.Response]


def _client(profile: ApiProfile, answer: Answer, seen: list[httpx.Request]) -> ApiClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return ApiClient(http, "https://api.example.test/v1/", profile)


async def test_profile_headers_body_type_and_encoder_shape_every_request() -> None:
    profile = ApiProfile(
        vendor="Acme",
        headers={"Accept": "application/json"},
        body_type="application/scim+json",
        encode_body=json_encoder(lambda value: value.isoformat()),
    )
    seen: list[httpx.Request] = []
    api = _client(profile, lambda r: httpx.Response(200, json={"ok": True}), seen)

    response = await api.call("PUT", "/users/7", {"start": date(2026, 1, 2)})

    assert api.json(response) == {"ok": True}
    request = seen[0]
    assert str(request.url) == "https://api.example.test/v1/users/7"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/scim+json"
    assert request.content == b'{"start": "2026-01-02"}'


async def test_profile_without_body_sends_no_content_type() -> None:
    seen: list[httpx.Request] = []
    profile = ApiProfile(vendor="Acme", body_type="application/scim+json")
    await _client(profile, lambda r: httpx.Response(200), seen).call("GET", "/users")
    assert "Content-Type" not in seen[0].headers


async def test_profile_throttle_status_and_default_wait_make_a_rate_limit() -> None:
    profile = ApiProfile(vendor="Acme", throttle_statuses=(429, 503), default_wait=60.0)
    api = _client(profile, lambda r: httpx.Response(503, text="slow down"), [])

    with pytest.raises(RateLimited) as caught:
        await api.call("GET", "/users")

    assert caught.value.retry_after == 60.0
    assert caught.value.message == "HTTP 503: slow down"


async def test_profile_conflict_test_and_message_reader_name_a_taken_email() -> None:
    def taken(response: httpx.Response) -> bool:
        return response.status_code == 422 and "taken" in response.text

    profile = ApiProfile(
        vendor="Acme", is_conflict=taken, read_message=lambda r: r.json()["why"].upper()
    )
    api = _client(profile, lambda r: httpx.Response(422, json={"why": "email taken"}), [])

    with pytest.raises(ConflictError) as caught:
        await api.call("POST", "/users", {"email": "a@example.com"})

    assert caught.value.message == "HTTP 422: EMAIL TAKEN"


async def test_profile_gone_names_the_account_on_a_404() -> None:
    profile = ApiProfile(vendor="Acme", gone="the Acme user {id} at {path}")
    api = _client(profile, lambda r: httpx.Response(404), [])

    with pytest.raises(PermanentError) as caught:
        await api.call("PUT", "/users/7", {}, gone=RemoteAccount(id="7"))

    assert caught.value.status == 404
    assert "the Acme user 7 at /users/7 no longer exists (HTTP 404 on PUT)" in str(
        caught.value.message
    )
    missing = await api.call("DELETE", "/users/7", missing_ok=True)
    assert missing.status_code == 404


async def test_profile_json_names_the_vendor_and_hint_when_the_body_is_not_json() -> None:
    profile = ApiProfile(vendor="Acme", json_hint="(is base_url the API root?)")
    api = _client(profile, lambda r: httpx.Response(200, text="<html>login</html>"), [])

    with pytest.raises(PermanentError, match=r"Acme answered 200 without a JSON body \(is"):
        api.json(await api.call("GET", "/users"))


async def test_call_headers_add_to_the_profile_and_a_whole_url_is_sent_as_is() -> None:
    profile = ApiProfile(vendor="Acme", headers={"Accept": "application/json", "V": "4"})
    seen: list[httpx.Request] = []
    api = _client(profile, lambda r: httpx.Response(200), seen)

    await api.call("GET", "/$metadata", headers={"Accept": "application/xml"})
    await api.call("GET", "https://api.example.test/v1/users?$skiptoken=2")

    assert seen[0].headers["Accept"] == "application/xml"
    assert seen[0].headers["V"] == "4"
    assert str(seen[0].url) == "https://api.example.test/v1/$metadata"
    assert str(seen[1].url) == "https://api.example.test/v1/users?$skiptoken=2"


async def test_a_throttle_naming_no_wait_goes_to_the_clients_hook_one_naming_it_does_not() -> None:
    """TalentLMS v1 sends no Retry-After: its connector asks ``/ratelimit`` how long."""
    asked: list[RateLimited] = []

    async def ask_the_vendor(exc: RateLimited) -> RateLimited:
        asked.append(exc)
        return RateLimited(f"{exc.message} (quota spent)", status=exc.status, retry_after=42.0)

    answers = iter([httpx.Response(429), httpx.Response(429, headers={"Retry-After": "3"})])
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: next(answers)))
    api = ApiClient(
        http, "https://api.example.test", ApiProfile("Acme"), on_throttle=ask_the_vendor
    )

    with pytest.raises(RateLimited, match="quota spent") as caught:
        await api.call("GET", "/users")
    assert caught.value.retry_after == 42.0
    with pytest.raises(RateLimited) as told:
        await api.call("GET", "/users")
    assert told.value.retry_after == 3.0 and len(asked) == 1
