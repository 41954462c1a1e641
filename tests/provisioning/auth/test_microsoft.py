"""Microsoft identity platform client credentials, with a secret or a certificate.

The contract fake plays Entra ID's v2.0 token endpoint: it checks the tenant in the path,
the ``/.default`` scope, and for certificates verifies the client assertion's signature
against the registered certificate, its ``x5t#S256``, ``aud``, ``iss``/``sub``, ``jti`` and
lifetime (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
"""

import functools
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from gateway.config import MicrosoftIdentity
from provisioning.auth import load_certificate, microsoft_identity_auth
from provisioning.auth.microsoft import ASSERTION_LIFETIME_SECONDS
from provisioning.errors import AuthError
from tests.fakes.oauth_server import FakeClock, OAuthServer, thumbprint

AUTHORITY = "https://login.microsoftonline.com"
TENANT = "contoso-tenant"
TOKEN_URL = f"{AUTHORITY}/{TENANT}/oauth2/v2.0/token"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "entra~secret.value_123"
RESOURCE = "https://contoso.operations.dynamics.com/"


@dataclass
class CertificateFiles:
    certificate: x509.Certificate
    certificate_path: Path
    key_path: Path


@functools.cache
def _rsa_key(name: str) -> rsa.RSAPrivateKey:
    # One key per name per test process: generating 2048-bit keys is the slow part.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_certificate(
    directory: Path, *, name: str = "app", password: bytes | None = None
) -> CertificateFiles:
    """A self-signed certificate and its RSA key, written as PEM files."""
    key = _rsa_key(name)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"scimgw-test-{name}")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    certificate_path = directory / f"{name}.crt.pem"
    key_path = directory / f"{name}.key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return CertificateFiles(certificate, certificate_path, key_path)


@pytest.fixture
def cert(tmp_path: Path) -> CertificateFiles:
    return make_certificate(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock, cert: CertificateFiles) -> OAuthServer:
    return OAuthServer(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        certificate=cert.certificate,
        tenant_id=TENANT,
        clock=clock,
    )


def secret_settings(**fields: Any) -> MicrosoftIdentity:
    return MicrosoftIdentity.model_validate(
        {
            "type": "microsoft",
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "resource": RESOURCE,
            "client_secret": SecretStr(SECRET),
            **fields,
        }
    )


def certificate_settings(files: CertificateFiles, **fields: Any) -> MicrosoftIdentity:
    return MicrosoftIdentity.model_validate(
        {
            "type": "microsoft",
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "resource": RESOURCE,
            "certificate_path": str(files.certificate_path),
            "private_key_path": str(files.key_path),
            **fields,
        }
    )


Connect = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def connect(server: OAuthServer, clock: FakeClock) -> AsyncIterator[Connect]:
    """Build a client whose Microsoft auth reaches the fake (and its /resource) through ASGI."""
    clients: list[httpx.AsyncClient] = []

    def make(settings: MicrosoftIdentity, **options: Any) -> httpx.AsyncClient:
        token_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app))
        auth = microsoft_identity_auth(settings, token_client=token_client, clock=clock, **options)
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=server.app), base_url=AUTHORITY, auth=auth
        )
        clients.extend([token_client, api])
        return api

    yield make
    for client in clients:
        await client.aclose()


# -- client secret ----------------------------------------------------------------------


async def test_secret_token_comes_from_the_tenant_endpoint_for_the_default_scope(
    connect: Connect, server: OAuthServer
) -> None:
    api = connect(secret_settings())
    assert (await api.get("/resource")).status_code == 200
    (request,) = server.token_requests
    assert request.path == f"/{TENANT}/oauth2/v2.0/token"
    # The resource's trailing slash is not doubled.
    assert request.form["scope"] == "https://contoso.operations.dynamics.com/.default"
    assert request.client_auth == "client_secret_post"
    assert request.form["client_id"] == CLIENT_ID


async def test_wrong_secret_is_an_auth_error_with_the_aadsts_code_and_no_secret(
    connect: Connect, server: OAuthServer
) -> None:
    server.client_secret = "the-new-secret"
    with pytest.raises(AuthError) as caught:
        await connect(secret_settings()).get("/resource")
    assert caught.value.status == 401
    assert "invalid_client" in caught.value.message
    assert "AADSTS7000215" in caught.value.message
    assert SECRET not in caught.value.message


async def test_unknown_tenant_is_an_auth_error(connect: Connect) -> None:
    with pytest.raises(AuthError, match="AADSTS90002"):
        await connect(secret_settings(tenant_id="fabrikam")).get("/resource")


async def test_token_is_refreshed_within_the_default_five_minute_leeway(
    connect: Connect, server: OAuthServer, clock: FakeClock
) -> None:
    api = connect(secret_settings())
    await api.get("/resource")
    clock.advance(3600 - 301)
    await api.get("/resource")
    assert server.tokens_issued == 1
    clock.advance(2)
    await api.get("/resource")
    assert server.tokens_issued == 2


# -- certificate ------------------------------------------------------------------------


async def test_certificate_assertion_is_accepted_and_has_microsofts_header_and_claims(
    connect: Connect, server: OAuthServer, cert: CertificateFiles
) -> None:
    api = connect(certificate_settings(cert))
    assert (await api.get("/resource")).status_code == 200
    (request,) = server.token_requests
    assert request.client_auth == "private_key_jwt"
    assert "client_secret" not in request.form
    assert request.form["client_id"] == CLIENT_ID
    header, claims = request.assertion_header, request.assertion_claims
    assert header is not None and claims is not None
    assert header["alg"] == "PS256"
    assert header["x5t#S256"] == thumbprint(cert.certificate, hashlib.sha256)
    assert header["x5t"] == thumbprint(cert.certificate, hashlib.sha1)
    assert claims["aud"] == TOKEN_URL
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME_SECONDS


async def test_every_token_request_signs_a_fresh_assertion(
    connect: Connect, server: OAuthServer, cert: CertificateFiles
) -> None:
    """The fake refuses a replayed jti, as RFC 7523 §3 allows an authorization server to."""
    api = connect(certificate_settings(cert))
    await api.get("/resource")
    server.revoke_all()
    assert (await api.get("/resource")).status_code == 200
    jtis = [request.assertion_claims["jti"] for request in server.token_requests]  # type: ignore[index]
    assert len(set(jtis)) == 2


async def test_rs256_assertions_are_accepted_too(
    connect: Connect, server: OAuthServer, cert: CertificateFiles
) -> None:
    api = connect(certificate_settings(cert), algorithm="RS256")
    assert (await api.get("/resource")).status_code == 200
    assert server.token_requests[0].assertion_header["alg"] == "RS256"  # type: ignore[index]


async def test_a_certificate_the_tenant_does_not_know_is_an_auth_error(
    connect: Connect, tmp_path: Path
) -> None:
    stranger = make_certificate(tmp_path, name="stranger")
    with pytest.raises(AuthError) as caught:
        await connect(certificate_settings(stranger)).get("/resource")
    assert caught.value.status == 401
    assert "AADSTS700027" in caught.value.message


async def test_an_encrypted_private_key_is_opened_with_its_password(
    connect: Connect, server: OAuthServer, tmp_path: Path
) -> None:
    files = make_certificate(tmp_path, name="locked", password=b"pem-pass")
    server.certificate = files.certificate
    settings = certificate_settings(files, private_key_password=SecretStr("pem-pass"))
    assert (await connect(settings).get("/resource")).status_code == 200


async def test_certificate_and_key_may_share_one_file(
    connect: Connect, server: OAuthServer, cert: CertificateFiles, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(cert.key_path.read_bytes() + cert.certificate_path.read_bytes())
    settings = MicrosoftIdentity.model_validate(
        {
            "type": "microsoft",
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "resource": RESOURCE,
            "certificate_path": str(bundle),
        }
    )
    assert (await connect(settings).get("/resource")).status_code == 200


# -- configuration errors, found when the client is built -------------------------------


def test_a_wrong_key_password_is_a_configuration_error_that_hides_the_password(
    tmp_path: Path,
) -> None:
    files = make_certificate(tmp_path, password=b"right-pass")
    with pytest.raises(ValueError, match="wrong or missing password") as caught:
        load_certificate(files.certificate_path, files.key_path, SecretStr("wrong-pass"))
    assert "wrong-pass" not in str(caught.value)


def test_a_missing_key_password_is_a_configuration_error(tmp_path: Path) -> None:
    files = make_certificate(tmp_path, password=b"right-pass")
    with pytest.raises(ValueError, match="wrong or missing password"):
        load_certificate(files.certificate_path, files.key_path)


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    one = make_certificate(tmp_path, name="one")
    other = make_certificate(tmp_path, name="other")
    with pytest.raises(ValueError, match="does not match"):
        load_certificate(one.certificate_path, other.key_path)


def test_a_non_rsa_key_is_refused(cert: CertificateFiles, tmp_path: Path) -> None:
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="not RSA"):
        load_certificate(cert.certificate_path, ec_key)


def test_a_missing_certificate_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_certificate(tmp_path / "absent.pem")


async def test_secret_and_certificate_together_are_ambiguous(cert: CertificateFiles) -> None:
    # Refused when the settings are validated, so `scimgw config check` reports it.
    with pytest.raises(ValueError, match="exactly one"):
        certificate_settings(cert, client_secret=SecretStr(SECRET))
