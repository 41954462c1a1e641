"""OAuth2 JWT bearer access tokens: verify them against the issuer's published keys.

An inbound SCIM client (Entra ID, Okta) may present a JWT access token instead of a
static bearer token. :class:`JWTVerifier` checks its signature against the issuer's
JWKS (cached by :class:`JWKSCache`) and its ``iss``, ``aud``, ``exp`` and ``nbf``
claims (RFC 7519 §4.1). Every failure is an :class:`UnauthorizedException` whose
detail says what was wrong and never echoes the token.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, KeySet
from scim2_models import UnauthorizedException

__all__ = ["JWKSCache", "JWTSettings", "JWTVerifier", "VerifiedToken"]

log = structlog.get_logger("gateway.auth.jwt")

# A JWKS publishes public keys, so only asymmetric algorithms can be verified against
# it. "none" or an HMAC algorithm here is a misconfiguration that would open the door
# to unsigned or algorithm-confusion tokens (RFC 8725 §2.1, §3.1).
_ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

# Claims whose rejection deserves a more specific detail than "claim 'x' is invalid".
_CLAIM_DETAILS = {
    "iss": "token issuer is not trusted for this tenant",
    "aud": "token audience is not this gateway",
    "nbf": "token is not yet valid",
    "iat": "token was issued in the future",
}


@dataclass(frozen=True)
class JWTSettings:
    """How one tenant's JWT access tokens are verified."""

    issuer: str
    """Expected ``iss`` claim, compared exactly (RFC 7519 §4.1.1)."""
    audience: str
    """Expected ``aud`` claim, or one member of it when it is a list (RFC 7519 §4.1.3)."""
    jwks_url: str
    """Where the issuer publishes its signing keys (RFC 7517 §5)."""
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    """Accepted ``alg`` header values; asymmetric algorithms only."""
    leeway_seconds: int = 60
    """Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""
    scopes_claim: str | None = None
    """Claim holding the granted scopes. ``None`` reads ``scp``, else ``scope``, plus
    Entra ID's ``roles``."""

    def __post_init__(self) -> None:
        refused = set(self.algorithms) - _ASYMMETRIC_ALGORITHMS
        if refused or not self.algorithms:
            raise ValueError(f"JWT algorithms must be asymmetric, got {sorted(refused)}")


@dataclass(frozen=True)
class VerifiedToken:
    """What a verified access token says about its bearer."""

    subject: str
    """The ``sub`` claim: the client or user the token was issued to."""
    scopes: frozenset[str]
    """Scopes and app roles granted by the token."""
    claims: dict[str, Any]
    """Every claim of the token, for callers with tenant-specific rules."""


class JWKSCache:
    """Fetches a JWKS over HTTP and caches it.

    The set is refetched when it is older than ``max_age`` and when a token names an
    unknown ``kid`` (the issuer rotated its keys). Fetches are coalesced under a lock,
    and at most one is attempted per ``min_refresh_interval``: the ``kid`` comes from
    an unauthenticated token, so without that limit anyone could make the gateway
    hammer the issuer.

    Args:
        url: The JWKS URL.
        client: The HTTP client; its timeouts bound each fetch.
        max_age: Seconds after which a fetched key set is no longer trusted.
        min_refresh_interval: Minimum seconds between two fetch attempts.
        clock: Monotonic time source, injectable for tests.
    """

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        max_age: float = 3600,
        min_refresh_interval: float = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._client = client
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None

    async def key_for(self, kid: str | None) -> Key:
        """Return the signing key named ``kid``, fetching the JWKS if needed.

        A ``kid`` of ``None`` matches only a key set holding a single key.

        Raises:
            UnauthorizedException: The JWKS could not be fetched, or has no such key.
        """
        if (key := self._cached(kid)) is not None:
            return key
        async with self._lock:
            # While this task queued, another may have fetched the key it needs.
            if (key := self._cached(kid)) is not None:
                return key
            if self._may_fetch():
                await self._fetch()
            if (key := self._cached(kid)) is not None:
                return key
        if self._keys is None or not self._fresh():
            raise UnauthorizedException(detail="the issuer's signing keys are unavailable")
        raise UnauthorizedException(detail="no signing key of the issuer matches the token's kid")

    def _fresh(self) -> bool:
        return self._clock() - self._fetched_at < self._max_age

    def _may_fetch(self) -> bool:
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self._min_refresh_interval
        )

    def _cached(self, kid: str | None) -> Key | None:
        if self._keys is None or not self._fresh():
            return None
        try:
            return self._keys.get_by_kid(kid, {"use": "sig"})
        except InvalidKeyIdError:
            return None

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, JoseError, ValueError, KeyError, TypeError) as exc:
            log.warning("jwks_fetch_failed", url=self._url, error=repr(exc))
            raise UnauthorizedException(
                detail="the issuer's signing keys could not be fetched"
            ) from None
        self._keys, self._fetched_at = keys, self._attempted_at


class JWTVerifier:
    """Verifies one tenant's JWT access tokens.

    Args:
        settings: The tenant's issuer, audience and accepted algorithms.
        keys: The cache of the issuer's signing keys.
        clock: Wall-clock time source for ``exp`` and ``nbf``, injectable for tests.
    """

    def __init__(
        self, settings: JWTSettings, keys: JWKSCache, clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._clock = clock
        # RFC 7515 §4: header parameters that are not understood are ignored unless
        # listed in "crit" (which joserfc still enforces); joserfc's strict default
        # would refuse tokens from issuers that add their own.
        self._registry = jws.JWSRegistry(
            algorithms=list(settings.algorithms), strict_check_header=False
        )

    async def verify(self, token: str) -> VerifiedToken:
        """Verify ``token`` and return what it grants.

        Raises:
            UnauthorizedException: The token is malformed, badly signed, expired, not
                yet valid, or issued by or for someone else.
        """
        alg, kid = self._read_header(token)
        key = await self._keys.key_for(kid)
        # RFC 7517 §4.4: a key that names its algorithm must not verify any other.
        if key.get("alg") not in (None, alg):
            raise UnauthorizedException(detail="token algorithm does not match its signing key")
        try:
            claims = jwt.decode(token, key, registry=self._registry).claims
        except BadSignatureError:
            raise UnauthorizedException(detail="token signature is invalid") from None
        except JoseError:
            raise UnauthorizedException(detail="token could not be verified") from None
        self._validate_claims(claims)
        return VerifiedToken(claims["sub"], _scopes(claims, self._settings.scopes_claim), claims)

    def _read_header(self, token: str) -> tuple[str, str | None]:
        """Return the ``alg`` and ``kid`` of the token's header, before any key is fetched."""
        malformed = UnauthorizedException(detail="bearer token is not a well-formed JWT")
        try:
            header = jws.extract_compact(token.encode(), registry=self._registry).headers()
        except (JoseError, ValueError):
            raise malformed from None
        # joserfc accepts any JSON value containing "alg", such as the string "alg".
        if not isinstance(header, dict):
            raise malformed
        alg, kid = header["alg"], header.get("kid")
        # Checked before the key lookup, so that "none" or an HMAC algorithm is refused
        # outright and cannot trigger a JWKS fetch.
        if alg not in self._settings.algorithms:
            accepted = ", ".join(self._settings.algorithms)
            raise UnauthorizedException(detail=f"token algorithm is not one of {accepted}")
        if kid is not None and not isinstance(kid, str):
            raise malformed
        return alg, kid

    def _validate_claims(self, claims: dict[str, Any]) -> None:
        settings = self._settings
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=settings.leeway_seconds,
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise UnauthorizedException(detail="token has expired") from None
        except MissingClaimError as exc:
            raise UnauthorizedException(detail=f"token lacks claims: {exc.claim}") from None
        except ClaimError as exc:
            detail = _CLAIM_DETAILS.get(exc.claim, f"token claim '{exc.claim}' is invalid")
            raise UnauthorizedException(detail=detail) from None


def _scopes(claims: dict[str, Any], scopes_claim: str | None) -> frozenset[str]:
    if scopes_claim is not None:
        return _scope_set(claims, scopes_claim)
    # Okta and RFC 9068 §2.2.3 use "scope"; Entra ID puts delegated scopes in "scp" and
    # application permissions (client credentials, as its provisioning service uses) in
    # "roles".
    primary = "scp" if "scp" in claims else "scope"
    return _scope_set(claims, primary) | _scope_set(claims, "roles")


def _scope_set(claims: dict[str, Any], name: str) -> frozenset[str]:
    """Read a claim that is a space-separated string (RFC 8693 §4.2) or a list of strings."""
    value = claims.get(name)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise UnauthorizedException(detail=f"token claim '{name}' is not a list of scopes")
