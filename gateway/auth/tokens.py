"""Static bearer tokens: random, shown once, stored as a SHA-256 hash, revocable.

The tokens carry 256 bits of randomness, so a fast hash is enough: there is nothing to
brute-force, and the lookup stays one indexed query per request.
"""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.errors import UnauthorizedException
from gateway.store.database import reader, writer
from gateway.store.tables import ApiToken, Tenant

tokens = ApiToken.__table__  # type: ignore[attr-defined]
tenants = Tenant.__table__  # type: ignore[attr-defined]

PREFIX = "scimgw_"
KNOWN_SCOPES = frozenset({"scim:read", "scim:write", "scim:sensitive"})
DEFAULT_SCOPES = ("scim:read", "scim:write")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant decides every query, the scopes what is allowed."""

    tenant: str
    name: str
    scopes: frozenset[str]
    user_id: str | None = None

    def can(self, scope: str) -> bool:
        # Write access implies read access: an IdP provisioning users also reads them.
        return scope in self.scopes or (scope == "scim:read" and "scim:write" in self.scopes)


@dataclass(frozen=True)
class TokenInfo:
    id: str
    tenant: str
    name: str
    scopes: str
    hint: str
    created: datetime
    revoked: datetime | None


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_tenant(engine: Engine, tenant: str, display_name: str = "") -> None:
    """Create the tenant row if it does not exist yet."""
    with writer(engine).begin() as connection:
        exists = connection.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant)).first()
        if not exists:
            connection.execute(
                sa.insert(tenants).values(
                    id=tenant, display_name=display_name or tenant, created=datetime.now(UTC)
                )
            )


def create_token(
    engine: Engine,
    tenant: str,
    name: str,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    user_id: str | None = None,
) -> str:
    """Create a token and return its secret, which is never stored nor shown again."""
    unknown = set(scopes) - KNOWN_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    ensure_tenant(engine, tenant)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "name": name,
        "scopes": " ".join(scopes),
        "token_hash": hash_token(secret),
        "hint": secret[: len(PREFIX) + 4],
        "user_id": user_id,
        "created": datetime.now(UTC),
    }
    try:
        with writer(engine).begin() as connection:
            connection.execute(sa.insert(tokens).values(**row))
    except sa.exc.IntegrityError:
        raise ValueError(f"tenant {tenant} already has a token named {name}") from None
    return secret


def revoke_token(engine: Engine, tenant: str, name: str) -> bool:
    """Revoke a token by name; False when there is no live token of that name."""
    with writer(engine).begin() as connection:
        result = connection.execute(
            sa.update(tokens)
            .where(tokens.c.tenant_id == tenant, tokens.c.name == name, tokens.c.revoked.is_(None))
            .values(revoked=datetime.now(UTC))
        )
    return bool(result.rowcount)


def list_tokens(engine: Engine, tenant: str | None = None) -> list[TokenInfo]:
    query = sa.select(tokens).order_by(tokens.c.tenant_id, tokens.c.name)
    if tenant:
        query = query.where(tokens.c.tenant_id == tenant)
    with engine.connect() as connection:
        return [
            TokenInfo(r.id, r.tenant_id, r.name, r.scopes, r.hint, r.created, r.revoked)
            for r in connection.execute(query)
        ]


def has_live_token(engine: Engine, tenant: str) -> bool:
    with engine.connect() as connection:
        query = sa.select(tokens.c.id).where(
            tokens.c.tenant_id == tenant, tokens.c.revoked.is_(None)
        )
        return connection.execute(query.limit(1)).first() is not None


#: Built once; the lookup runs for every request whose token is not cached.
BY_HASH = sa.select(
    tokens.c.token_hash,
    tokens.c.tenant_id,
    tokens.c.name,
    tokens.c.scopes,
    tokens.c.user_id,
    tokens.c.revoked,
).where(tokens.c.token_hash == sa.bindparam("digest"))


def authenticate(engine: Engine, secret: str) -> Principal:
    """The principal of a live token; 401 for an unknown or revoked one."""
    digest = hash_token(secret)
    with reader(engine).connect() as connection:
        row = connection.execute(BY_HASH, {"digest": digest}).first()
    # The index lookup already matched the digest; the constant-time comparison keeps
    # the check itself from leaking timing should the lookup ever become a prefix scan.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked:
        raise UnauthorizedException(detail="invalid or revoked bearer token")
    return Principal(row.tenant_id, row.name, frozenset(row.scopes.split()), row.user_id)
