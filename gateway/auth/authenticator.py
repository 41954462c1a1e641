"""Turn an ``Authorization`` header into a :class:`Principal`, whichever scheme it uses.

Static tokens (``scimgw_...``) are looked up by hash. Anything shaped like a JWT is
matched to the tenant whose configured issuer signed it, then verified against that
issuer's JWKS. The token, not the URL, decides the tenant.
"""

import base64
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from sqlalchemy.engine import Engine

from gateway.auth.jwt import JWKSCache, JWTSettings, JWTVerifier
from gateway.auth.tokens import KNOWN_SCOPES, Principal, authenticate
from gateway.config import GatewayConfig
from gateway.errors import UnauthorizedException
from gateway.store.calls import StoreCaller


class Authenticator:
    """Authenticates requests for every tenant of one configuration."""

    def __init__(
        self,
        engine: Engine,
        config: GatewayConfig,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.cache = TokenCache(config.server.token_cache_seconds, clock)
        self.store = StoreCaller(engine)
        self.verifiers: dict[str, tuple[str, JWTVerifier, frozenset[str]]] = {}
        for tenant, tenant_config in config.tenants.items():
            jwt = tenant_config.jwt
            if jwt is None:
                continue
            settings = JWTSettings(jwt.issuer, jwt.audience, jwt.jwks_url, tuple(jwt.algorithms))
            verifier = JWTVerifier(settings, JWKSCache(jwt.jwks_url, http))
            self.verifiers[jwt.issuer] = (tenant, verifier, frozenset(jwt.scopes))

    def recent(self, authorization: str | None) -> Principal | None:
        """The caller of a static token validated moments ago: one dictionary lookup."""
        return self.cache.get(authorization) if authorization else None

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller of a request; 401 when the header is missing or invalid."""
        cached = self.recent(authorization)
        if cached is not None:
            return cached
        scheme, _, credentials = (authorization or "").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise UnauthorizedException(detail="a bearer token is required")
        if credentials.count(".") == 2 and self.verifiers:
            return await self._jwt_principal(credentials)
        principal = await self.store(authenticate, self.engine, credentials)
        self.cache.put(authorization or "", principal)
        return principal

    async def _jwt_principal(self, token: str) -> Principal:
        issuer = _unverified_issuer(token)
        entry = self.verifiers.get(issuer or "")
        if entry is None:
            raise UnauthorizedException(detail="token issuer is not configured for any tenant")
        tenant, verifier, granted = entry
        verified = await verifier.verify(token)
        scopes = granted | (verified.scopes & KNOWN_SCOPES)
        return Principal(tenant=tenant, name=f"jwt:{verified.subject}", scopes=frozenset(scopes))


class TokenCache:
    """Principals of recently validated static tokens, keyed by the Authorization header.

    Keyed by the header as received, so that a hit is one dictionary lookup: hashing the
    token first took as long as the rest of authentication (docs/benchmarks.md). The
    secret is thus held in this process's memory for ``ttl`` seconds after the request
    that carried it, never stored nor logged. Only successes are cached; an unknown
    token always reaches the database, which compares hashes. The cache is bounded: when
    full it is emptied, which costs one lookup per live token.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl, self.clock = ttl, clock
        self.entries: dict[str, tuple[Principal, float]] = {}

    def get(self, header: str) -> Principal | None:
        entry = self.entries.get(header)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def put(self, header: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self.entries) >= self.MAX_ENTRIES:
            self.entries.clear()
        self.entries[header] = (principal, self.clock() + self.ttl)


def _unverified_issuer(token: str) -> str | None:
    """Read ``iss`` only to pick the verifier; the verifier then checks everything."""
    try:
        payload = token.split(".")[1]
        claims: dict[str, Any] = orjson.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
    except (ValueError, IndexError, orjson.JSONDecodeError):
        raise UnauthorizedException(detail="malformed bearer token") from None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None
