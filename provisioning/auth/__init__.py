"""Outbound authentication: the strategies a connection's HTTP client uses.

:func:`build_auth` turns a connection's ``auth:`` settings into an ``httpx.Auth``::

    api_key                     ApiKeyHeaderAuth        a key in a header, via a template
    basic                       BasicCredentialsAuth    HTTP basic (TalentLMS: key, no password)
    bearer                      BearerTokenAuth         a static bearer token
    oauth2_client_credentials   ClientCredentialsAuth   cached token, one refresh at a time
    microsoft                   ClientCredentialsAuth   Entra ID, secret or certificate
"""

import httpx

from gateway.config import (
    ApiKeyAuth,
    AuthSettings,
    BasicAuth,
    BearerAuth,
    MicrosoftIdentity,
    OAuth2ClientCredentials,
)
from provisioning.auth.microsoft import (
    Certificate,
    CertificateAssertion,
    load_certificate,
    microsoft_identity_auth,
)
from provisioning.auth.oauth2 import AccessToken, ClientCredentialsAuth, client_credentials_auth
from provisioning.auth.static import ApiKeyHeaderAuth, BasicCredentialsAuth, BearerTokenAuth

__all__ = [
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


def build_auth(
    settings: AuthSettings | None, *, token_client: httpx.AsyncClient
) -> httpx.Auth | None:
    """The ``httpx.Auth`` for a connection's auth settings, or None when it has none.

    Args:
        settings: the connection's ``auth:`` block.
        token_client: the client that reaches token endpoints (OAuth2, Microsoft); the
            static strategies ignore it.

    Raises:
        ValueError: the settings cannot work (an api key template without ``{key}``, a
            Microsoft connection with no or two credentials, an unreadable certificate).
    """
    match settings:
        case None:
            return None
        case ApiKeyAuth():
            return ApiKeyHeaderAuth(
                settings.key, header=settings.header, template=settings.template
            )
        case BasicAuth():
            return BasicCredentialsAuth(settings.username, settings.password)
        case BearerAuth():
            return BearerTokenAuth(settings.token)
        case OAuth2ClientCredentials():
            return client_credentials_auth(settings, token_client=token_client)
        case MicrosoftIdentity():
            return microsoft_identity_auth(settings, token_client=token_client)
    raise TypeError(f"unknown auth settings: {type(settings).__name__}")
