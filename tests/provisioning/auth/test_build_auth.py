"""build_auth: from a connection's ``auth:`` block to an httpx.Auth."""

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import TypeAdapter

import provisioning.auth
from gateway.config import AuthSettings
from provisioning.auth import (
    ApiKeyHeaderAuth,
    BasicCredentialsAuth,
    BearerTokenAuth,
    ClientCredentialsAuth,
    build_auth,
)

SETTINGS: TypeAdapter[AuthSettings] = TypeAdapter(AuthSettings)


def test_public_names_are_pinned() -> None:
    assert sorted(provisioning.auth.__all__) == [
        "AccessToken",
        "ApiKeyHeaderAuth",
        "BasicCredentialsAuth",
        "BearerTokenAuth",
        "Certificate",
        "CertificateAssertion",
        "ClientCredentialsAuth",
        "build_auth",
        "client_credentials_auth",
        "load_certificate",
        "microsoft_identity_auth",
    ]


@pytest.fixture
async def token_client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


async def test_no_auth_settings_means_no_auth(token_client: httpx.AsyncClient) -> None:
    assert build_auth(None, token_client=token_client) is None


@pytest.mark.parametrize(
    ("block", "kind"),
    [
        ({"type": "api_key", "key": "${VENDOR_SECRET}"}, ApiKeyHeaderAuth),
        ({"type": "basic", "username": "${VENDOR_SECRET}"}, BasicCredentialsAuth),
        ({"type": "bearer", "token": "${VENDOR_SECRET}"}, BearerTokenAuth),
        (
            {
                "type": "oauth2_client_credentials",
                "token_url": "https://auth.example.com/oauth2/token",
                "client_id": "scimgw",
                "client_secret": "${VENDOR_SECRET}",
            },
            ClientCredentialsAuth,
        ),
        (
            {
                "type": "microsoft",
                "tenant_id": "contoso-tenant",
                "client_id": "app-id",
                "resource": "https://graph.microsoft.com",
                "client_secret": "${VENDOR_SECRET}",
            },
            ClientCredentialsAuth,
        ),
    ],
)
def test_each_auth_type_builds_its_strategy(
    block: dict[str, str],
    kind: type[httpx.Auth],
    token_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VENDOR_SECRET", "s3cret")
    assert isinstance(build_auth(SETTINGS.validate_python(block), token_client=token_client), kind)


async def test_secret_reference_is_resolved_into_the_header(
    token_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TALENTLMS_KEY", "talent-key")
    settings = SETTINGS.validate_python({"type": "basic", "username": "${TALENTLMS_KEY}"})
    auth = build_auth(settings, token_client=token_client)
    request = next(auth.sync_auth_flow(httpx.Request("GET", "https://x.talentlms.com/api")))
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"talent-key:").decode()


def test_microsoft_without_a_credential_is_a_configuration_error(
    token_client: httpx.AsyncClient,
) -> None:
    # Caught when the configuration is loaded, before any client is built.
    with pytest.raises(ValueError, match="exactly one of client_secret and certificate_path"):
        SETTINGS.validate_python(
            {"type": "microsoft", "tenant_id": "t", "client_id": "c", "resource": "https://r"}
        )
