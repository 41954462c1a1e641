"""Static credentials: an API key header, HTTP basic, a bearer token."""

import base64

import httpx
import pytest
from pydantic import SecretStr

from provisioning.auth import ApiKeyHeaderAuth, BasicCredentialsAuth, BearerTokenAuth


async def _sent_headers(auth: httpx.Auth) -> httpx.Headers:
    """The headers of a request sent through ``auth``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as client:
        await client.get("https://api.example.com/users")
    return seen[0].headers


async def test_api_key_is_formatted_by_the_lucca_template() -> None:
    auth = ApiKeyHeaderAuth(SecretStr("k-123"), template="lucca application={key}")
    headers = await _sent_headers(auth)
    assert headers["Authorization"] == "lucca application=k-123"


async def test_api_key_goes_in_the_configured_header_as_is_by_default() -> None:
    headers = await _sent_headers(ApiKeyHeaderAuth(SecretStr("k-123"), header="X-Api-Key"))
    assert headers["X-Api-Key"] == "k-123"
    assert "Authorization" not in headers


async def test_api_key_template_braces_are_not_format_fields() -> None:
    """The template is configuration, so only ``{key}`` is substituted (no str.format)."""
    auth = ApiKeyHeaderAuth(SecretStr("k-1"), template="{key} {key.__class__} {0}")
    headers = await _sent_headers(auth)
    assert headers["Authorization"] == "k-1 {key.__class__} {0}"


def test_api_key_template_without_key_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\{key\}"):
        ApiKeyHeaderAuth(SecretStr("k-1"), template="Token abc")


async def test_talentlms_basic_sends_the_api_key_as_username_and_an_empty_password() -> None:
    headers = await _sent_headers(BasicCredentialsAuth(SecretStr("talent-key")))
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"talent-key:").decode()


async def test_basic_sends_username_and_password() -> None:
    auth = BasicCredentialsAuth(SecretStr("svc"), SecretStr("p@ss:word"))
    headers = await _sent_headers(auth)
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"svc:p@ss:word").decode()


async def test_bearer_sends_the_static_token() -> None:
    headers = await _sent_headers(BearerTokenAuth(SecretStr("tok-9")))
    assert headers["Authorization"] == "Bearer tok-9"


@pytest.mark.parametrize(
    "auth",
    [
        ApiKeyHeaderAuth(SecretStr("hunter2")),
        BasicCredentialsAuth(SecretStr("hunter2"), SecretStr("hunter2")),
        BearerTokenAuth(SecretStr("hunter2")),
    ],
)
def test_strategies_do_not_show_their_secret_in_a_debug_dump(auth: httpx.Auth) -> None:
    assert "hunter2" not in repr(vars(auth))
