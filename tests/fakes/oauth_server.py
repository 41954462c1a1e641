"""Contract fake of an OAuth2 authorization server and a resource it protects.

Routes (reach them through ``httpx.ASGITransport(app=server.app)``):

``POST /oauth2/token``
    A generic client-credentials token endpoint (RFC 6749 §4.4). It requires a form body,
    ``grant_type=client_credentials``, and exactly one client authentication method
    (§2.3): ``client_secret_basic`` or ``client_secret_post``. A bad client gets an RFC 6749
    §5.2 error: 401 with ``WWW-Authenticate`` when it used the Authorization header, 400
    ``invalid_client`` otherwise.
``POST /{tenant}/oauth2/v2.0/token``
    Microsoft's v2.0 endpoint: the tenant must be the server's, ``scope`` must end with
    ``/.default``, and the client proves itself with ``client_secret`` in the form or a
    client assertion (RFC 7523) whose signature verifies against the registered
    certificate's public key, with ``x5t#S256`` equal to that certificate's thumbprint,
    ``aud`` equal to the URL posted to, ``iss`` = ``sub`` = client id, a ``jti`` not seen
    before, and a current ``nbf``/``exp``. Errors look like Entra's (``AADSTS`` codes).
``GET|POST /resource``
    A protected API: 200 with a current token issued here (RFC 6750), else 401
    ``invalid_token``.

Tokens carry ``expires_in`` and expire on ``clock`` (share one with the client under test).
The server records each token request and counts issued tokens.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Clock skew tolerated on an assertion's nbf (Entra allows a few minutes).
SKEW_SECONDS = 300


class FakeClock:
    """Monotonic seconds that move only when a test says so; share it with the client."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(
        self, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.headers = headers or {}


@dataclass
class TokenRequest:
    """A token request as the server saw it (recorded whether or not it succeeded)."""

    path: str
    form: dict[str, str]
    client_auth: str | None = None
    assertion_header: dict[str, Any] | None = None
    assertion_claims: dict[str, Any] | None = None


@dataclass
class OAuthServer:
    """An authorization server with one registered client.

    Attributes:
        client_id: the registered client.
        client_secret: its secret, if it has one.
        certificate: the certificate registered for assertions (Microsoft).
        tenant_id: the tenant of the Microsoft route.
        expires_in: lifetime of issued tokens, in seconds of ``clock``.
        clock: when tokens expire (monotonic seconds, like the client's).
        wall_clock: unix time, for assertions' ``nbf``/``exp``.
        accept_tokens: False makes the resource refuse every token (an app the API denies).
        latency: seconds each token request takes; even 0 yields to the event loop, as a
            network round trip would, so concurrent callers really overlap.
    """

    client_id: str
    client_secret: str | None = None
    certificate: x509.Certificate | None = None
    tenant_id: str = "contoso-tenant"
    expires_in: int = 3600
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    accept_tokens: bool = True
    latency: float = 0.0
    tokens_issued: int = 0
    token_requests: list[TokenRequest] = field(default_factory=list)
    resource_requests: list[str | None] = field(default_factory=list)
    _tokens: dict[str, float] = field(default_factory=dict)
    _jtis: set[str] = field(default_factory=set)
    _outage: list[int] = field(default_factory=list)
    app: Starlette = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/oauth2/token", self._generic_token, methods=["POST"]),
                Route("/{tenant}/oauth2/v2.0/token", self._microsoft_token, methods=["POST"]),
                Route("/resource", self._resource, methods=["GET", "POST"]),
            ]
        )

    def revoke_all(self) -> None:
        """Invalidate every token issued so far (a key rotation, an admin's revoke)."""
        self._tokens.clear()

    def fail_next(self, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` token requests with ``status`` before anything else."""
        self._outage.extend([status] * times)

    # -- token endpoints ----------------------------------------------------------------

    async def _generic_token(self, request: Request) -> Response:
        return await self._token(request, self._authenticate_generic)

    async def _microsoft_token(self, request: Request) -> Response:
        return await self._token(request, self._authenticate_microsoft)

    async def _token(self, request: Request, authenticate: Callable[..., None]) -> Response:
        record = TokenRequest(path=request.url.path, form={})
        self.token_requests.append(record)
        await asyncio.sleep(self.latency)
        if self._outage:
            status = self._outage.pop(0)
            return _error(OAuthError(status, "temporarily_unavailable", "try again later"))
        try:
            record.form = await _form(request)
            if record.form.get("grant_type") != "client_credentials":
                raise OAuthError(400, "unsupported_grant_type", "expected client_credentials")
            authenticate(request, record)
        except OAuthError as error:
            return _error(error)
        return JSONResponse(self._issue(), headers={"Cache-Control": "no-store"})

    def _issue(self) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self.clock() + self.expires_in
        self.tokens_issued += 1
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}

    def _authenticate_generic(self, request: Request, record: TokenRequest) -> None:
        header = request.headers.get("Authorization", "")
        in_form = "client_secret" in record.form
        if header and in_form:
            raise OAuthError(400, "invalid_request", "more than one client authentication")
        if header.startswith("Basic "):
            record.client_auth = "client_secret_basic"
            client_id, secret = _basic_credentials(header)
            if not self._secret_matches(client_id, secret):
                challenge = {"WWW-Authenticate": 'Basic realm="token"'}
                raise OAuthError(401, "invalid_client", "client authentication failed", challenge)
            return
        if in_form:
            record.client_auth = "client_secret_post"
            if not self._secret_matches(record.form.get("client_id"), record.form["client_secret"]):
                raise OAuthError(400, "invalid_client", "client authentication failed")
            return
        raise OAuthError(401, "invalid_client", "no client authentication")

    def _authenticate_microsoft(self, request: Request, record: TokenRequest) -> None:
        tenant = request.path_params["tenant"]
        if tenant != self.tenant_id:
            raise OAuthError(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if not record.form.get("scope", "").endswith("/.default"):
            raise OAuthError(
                400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid."
            )
        if "client_assertion" in record.form:
            record.client_auth = "private_key_jwt"
            self._verify_assertion(str(request.url.replace(query=None)), record)
            return
        record.client_auth = "client_secret_post"
        if not self._secret_matches(record.form.get("client_id"), record.form.get("client_secret")):
            raise OAuthError(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )

    def _secret_matches(self, client_id: str | None, secret: str | None) -> bool:
        if self.client_secret is None or client_id != self.client_id or secret is None:
            return False
        return hmac.compare_digest(secret.encode(), self.client_secret.encode())

    # -- client assertions (RFC 7523) ---------------------------------------------------

    def _verify_assertion(self, token_url: str, record: TokenRequest) -> None:
        if record.form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _invalid_client("AADSTS50027: client_assertion_type is not jwt-bearer.")
        if self.certificate is None:
            raise _invalid_client("AADSTS700027: No certificate is registered for the client.")
        header, claims = self._verified_parts(record.form["client_assertion"])
        record.assertion_header, record.assertion_claims = header, claims
        if header.get("x5t#S256") != thumbprint(self.certificate, hashlib.sha256):
            raise _invalid_client("AADSTS700027: The certificate thumbprint does not match.")
        self._check_claims(claims, token_url, record.form.get("client_id"))

    def _verified_parts(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        assert self.certificate is not None
        key = RSAKey.import_key(self.certificate.public_key())
        try:
            compact = jws.deserialize_compact(assertion, key, algorithms=["RS256", "PS256"])
        except (JoseError, ValueError):
            raise _invalid_client("AADSTS700027: The assertion signature is invalid.") from None
        return dict(compact.protected), json.loads(compact.payload)

    def _check_claims(self, claims: dict[str, Any], token_url: str, client_id: str | None) -> None:
        now = self.wall_clock()
        problems = {
            "aud is not the token endpoint": claims.get("aud") != token_url,
            "iss and sub must be the client id": not (
                claims.get("iss") == claims.get("sub") == self.client_id
            ),
            "client_id differs from the assertion": client_id not in (None, self.client_id),
            "the assertion has expired": not now < claims.get("exp", 0),
            "the assertion is not yet valid": claims.get("nbf", 0) > now + SKEW_SECONDS,
            "jti is missing or was used before": not claims.get("jti")
            or claims["jti"] in self._jtis,
        }
        failed = [problem for problem, bad in problems.items() if bad]
        if failed:
            raise _invalid_client(f"AADSTS700027: {'; '.join(failed)}.")
        self._jtis.add(claims["jti"])

    # -- the protected resource (RFC 6750) ----------------------------------------------

    async def _resource(self, request: Request) -> Response:
        header = request.headers.get("Authorization")
        self.resource_requests.append(header)
        token = header.removeprefix("Bearer ") if header else ""
        expires_at = self._tokens.get(token)
        if not self.accept_tokens or expires_at is None or self.clock() >= expires_at:
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            return JSONResponse({"error": "invalid_token"}, 401, headers=challenge)
        return JSONResponse({"ok": True})


def thumbprint(certificate: x509.Certificate, digest: Callable[..., Any]) -> str:
    """base64url of a digest (hashlib.sha1, hashlib.sha256) of the DER certificate."""
    der = certificate.public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(digest(der).digest()).rstrip(b"=").decode()


async def _form(request: Request) -> dict[str, str]:
    """The form body; RFC 6749 §3.2: form-encoded, no parameter twice."""
    if request.headers.get("Content-Type") != "application/x-www-form-urlencoded":
        raise OAuthError(400, "invalid_request", "expected application/x-www-form-urlencoded")
    pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    form = dict(pairs)
    if len(form) != len(pairs):
        raise OAuthError(400, "invalid_request", "a parameter is repeated")
    return form


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    try:
        decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
    except ValueError:
        return None, None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else (None, None)


def _invalid_client(description: str) -> OAuthError:
    return OAuthError(401, "invalid_client", description)


def _error(error: OAuthError) -> Response:
    body = {"error": error.error, "error_description": error.description}
    return JSONResponse(body, error.status, headers=error.headers)
