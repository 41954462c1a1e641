"""How a connection authenticates to its target: the configuration shapes.

Each shape is selected by ``type``. Secrets are references (see :mod:`gateway.config.secrets`).
The strategies that use them live beside this module; they are built by
:func:`provisioning.auth.build_auth`.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.config.secrets import Secret


class _AuthModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class ApiKeyAuth(_AuthModel):
    """A key sent in a header, e.g. ``Authorization: <key>`` or ``X-Api-Key: <key>``.

    ``template`` formats the header value; ``{key}`` is replaced by the secret
    (Lucca: ``lucca application={key}``).
    """

    type: Literal["api_key"]
    key: Secret
    header: str = "Authorization"
    template: str = "{key}"


class BasicAuth(_AuthModel):
    """HTTP basic auth; TalentLMS sends its API key as the username and no password."""

    type: Literal["basic"]
    username: Secret
    password: Secret | None = None


class BearerAuth(_AuthModel):
    """A static bearer token."""

    type: Literal["bearer"]
    token: Secret


class OAuth2ClientCredentials(_AuthModel):
    """OAuth2 client credentials grant (RFC 6749 §4.4) against any token endpoint."""

    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: Secret
    scope: str | None = None
    audience: str | None = None
    #: Refresh this many seconds before the token expires.
    leeway_seconds: int = Field(60, ge=0)
    #: How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
    client_auth: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"


class MicrosoftIdentity(_AuthModel):
    """Microsoft identity platform client credentials, with a secret or a certificate.

    The scope is ``https://<resource>/.default``; with a certificate the client proves
    itself with a signed client assertion (RFC 7523) whose header carries the
    certificate's SHA-256 thumbprint (``x5t#S256``).
    """

    type: Literal["microsoft"]
    tenant_id: str
    client_id: str
    resource: str = Field(description="e.g. https://contoso.operations.dynamics.com")
    client_secret: Secret | None = None
    #: PEM files: the certificate, and its private key (may be the same file).
    certificate_path: str | None = None
    private_key_path: str | None = None
    private_key_password: Secret | None = None
    authority: str = "https://login.microsoftonline.com"
    leeway_seconds: int = Field(300, ge=0)

    @model_validator(mode="after")
    def _one_credential(self) -> "MicrosoftIdentity":
        if (self.client_secret is None) == (self.certificate_path is None):
            raise ValueError("give exactly one of client_secret and certificate_path")
        return self


AuthSettings = Annotated[
    ApiKeyAuth | BasicAuth | BearerAuth | OAuth2ClientCredentials | MicrosoftIdentity,
    Field(discriminator="type"),
]
