"""Microsoft identity platform (Entra ID) client credentials, with a secret or a certificate.

The token comes from ``{authority}/{tenant}/oauth2/v2.0/token`` for the scope
``{resource}/.default``. With a certificate the client proves itself with a signed JWT
assertion (RFC 7523, Microsoft's "certificate credentials"): header ``alg`` PS256 (RS256 is
still accepted), ``x5t#S256`` and, for older validators, ``x5t`` thumbprints of the DER
certificate; claims ``aud`` = token URL, ``iss`` = ``sub`` = client id, a random ``jti``,
``nbf``/``iat``/``exp`` ten minutes apart.

Caching, refresh and the 401 retry are :class:`provisioning.auth.oauth2.ClientCredentialsAuth`.

See https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
and https://learn.microsoft.com/entra/identity-platform/certificate-credentials.
"""

import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from gateway.config import MicrosoftIdentity
from provisioning.auth.oauth2 import ClientCredentialsAuth, Clock

#: Lifetime of a client assertion: Microsoft advises 5 to 10 minutes after ``nbf``.
ASSERTION_LIFETIME_SECONDS = 600

AssertionAlgorithm = Literal["PS256", "RS256"]


def token_url(authority: str, tenant_id: str) -> str:
    """The v2.0 token endpoint of a tenant."""
    return f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"


def default_scope(resource: str) -> str:
    """The client-credentials scope of a resource: ``https://x.example/.default``."""
    return f"{resource.rstrip('/')}/.default"


@dataclass(frozen=True)
class Certificate:
    """A certificate's private key and the thumbprints that name it in an assertion header."""

    key: RSAKey = field(repr=False)
    #: base64url SHA-1 of the DER certificate (``x5t``).
    sha1_thumbprint: str
    #: base64url SHA-256 of the DER certificate (``x5t#S256``).
    sha256_thumbprint: str

    @property
    def jose_header(self) -> dict[str, str]:
        """The assertion header fields that identify the certificate."""
        return {"typ": "JWT", "x5t": self.sha1_thumbprint, "x5t#S256": self.sha256_thumbprint}


def load_certificate(
    certificate_path: str | Path,
    private_key_path: str | Path | None = None,
    password: SecretStr | None = None,
) -> Certificate:
    """Load a PEM certificate and its RSA private key (the two may share one file).

    Raises:
        ValueError: a file is unreadable or not PEM, the password is wrong or missing, the
            key is not RSA, or the key does not belong to the certificate.
    """
    certificate = _load_certificate(certificate_path)
    key = _load_private_key(private_key_path or certificate_path, password)
    if key.public_key().public_numbers() != _rsa_public_numbers(certificate):
        raise ValueError(f"the private key does not match the certificate {certificate_path}")
    return Certificate(
        key=RSAKey.import_key(key),
        sha1_thumbprint=_b64url(certificate.fingerprint(hashes.SHA1())),
        sha256_thumbprint=_b64url(certificate.fingerprint(hashes.SHA256())),
    )


class CertificateAssertion(PrivateKeyJWT):
    """authlib's ``private_key_jwt`` client auth with Microsoft's header and a short lifetime.

    authlib's default signs a one-hour assertion and reuses a ``claims`` dict given once;
    each token request here gets fresh ``nbf``/``iat``/``exp`` and ``jti``.
    """

    def __init__(self, certificate: Certificate, alg: AssertionAlgorithm = "PS256") -> None:
        super().__init__(headers=certificate.jose_header, alg=alg)

    def sign(self, auth: Any, token_endpoint: str) -> str:
        now = int(time.time())
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            claims={"nbf": now},  # jti is added by authlib, fresh for every call
            header=dict(self.headers),  # authlib writes alg into the dict it is given
            issued_at=now,
            expires_in=ASSERTION_LIFETIME_SECONDS,
        )


def microsoft_identity_auth(
    settings: MicrosoftIdentity,
    *,
    token_client: httpx.AsyncClient,
    clock: Clock = time.monotonic,
    algorithm: AssertionAlgorithm = "PS256",
) -> ClientCredentialsAuth:
    """The auth of a ``microsoft`` connection.

    Raises:
        ValueError: neither or both of ``client_secret`` and ``certificate_path`` are set,
            or the certificate cannot be loaded (see :func:`load_certificate`).
    """
    params = {
        "scope": default_scope(settings.resource),
        # The assertion names the client, but Microsoft's request lists client_id as well.
        "client_id": settings.client_id if settings.certificate_path else None,
    }
    return ClientCredentialsAuth(
        token_client=token_client,
        token_url=token_url(settings.authority, settings.tenant_id),
        client_auth=_client_auth(settings, algorithm),
        params=params,
        leeway_seconds=settings.leeway_seconds,
        clock=clock,
    )


def _client_auth(settings: MicrosoftIdentity, algorithm: AssertionAlgorithm) -> ClientAuth:
    if settings.client_secret is not None and settings.certificate_path is None:
        # Microsoft documents the secret in the form body.
        secret = settings.client_secret.get_secret_value()
        return ClientAuth(settings.client_id, secret, "client_secret_post")
    if settings.certificate_path is not None and settings.client_secret is None:
        certificate = load_certificate(
            settings.certificate_path, settings.private_key_path, settings.private_key_password
        )
        return ClientAuth(
            settings.client_id, certificate.key, CertificateAssertion(certificate, algorithm)
        )
    raise ValueError("microsoft auth needs exactly one of client_secret and certificate_path")


def _load_certificate(path: str | Path) -> x509.Certificate:
    data = _read(path)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ValueError(f"cannot load the certificate {path}: not a PEM certificate") from None


def _load_private_key(path: str | Path, password: SecretStr | None) -> rsa.RSAPrivateKey:
    data = _read(path)
    secret = password.get_secret_value().encode() if password else None
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except (TypeError, ValueError):
        # cryptography's message may quote the PEM; the path and the cause are enough.
        raise ValueError(
            f"cannot load the private key {path}: not PEM, or a wrong or missing password"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"the private key {path} is not RSA (PS256/RS256 need RSA)")
    return key


def _rsa_public_numbers(certificate: x509.Certificate) -> rsa.RSAPublicNumbers | None:
    public_key = certificate.public_key()
    return public_key.public_numbers() if isinstance(public_key, rsa.RSAPublicKey) else None


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


def _b64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
