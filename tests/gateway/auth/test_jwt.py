"""JWT bearer access tokens, verified against a JWKS served through httpx.MockTransport."""

import asyncio
import base64
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from scim2_models import UnauthorizedException

from gateway.auth.jwt import JWKSCache, JWTSettings, JWTVerifier

ISSUER = "https://login.example.com/tenant-1/v2.0"
AUDIENCE = "api://scimgw"
JWKS_URL = "https://login.example.com/tenant-1/discovery/v2.0/keys"
NOW = 1_700_000_000

RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})
ROTATED_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-2", "use": "sig"})


class FakeIssuer:
    """The issuer's JWKS endpoint: counts fetches and can be told to fail."""

    def __init__(self, keys: list[Key]) -> None:
        self.keys = keys
        self.fetches = 0
        self.failure: httpx.Response | Exception | None = None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        # Yield to the event loop so that concurrent verifications pile up behind the fetch.
        await asyncio.sleep(0.01)
        if isinstance(self.failure, Exception):
            raise self.failure
        if self.failure is not None:
            return self.failure
        return httpx.Response(200, json=KeySet(self.keys).as_dict(private=False))


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer([RSA_KEY, EC_KEY])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(issuer: FakeIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle)) as client:
        yield client


@pytest.fixture
def verifier(client: httpx.AsyncClient, clock: FakeClock) -> JWTVerifier:
    return make_verifier(client, clock)


def make_verifier(client: httpx.AsyncClient, clock: FakeClock, **settings: Any) -> JWTVerifier:
    keys = JWKSCache(JWKS_URL, client, clock=clock)
    return JWTVerifier(
        JWTSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=JWKS_URL, **settings),
        keys,
        clock=lambda: NOW,
    )


def sign(key: Key, alg: str = "RS256", kid: str | None = None, **claims: Any) -> str:
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client-1", "iat": NOW, "exp": NOW + 3600}
    payload.update(claims)
    header = {"alg": alg, "kid": kid or key.kid}
    return jwt.encode(header, payload, key, algorithms=[alg])


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


async def assert_refused(verifier: JWTVerifier, token: str, detail: str) -> None:
    with pytest.raises(UnauthorizedException) as info:
        await verifier.verify(token)
    assert detail in info.value.detail
    assert not token or token not in info.value.detail


async def test_rsa_token_yields_subject_and_entra_scp_scopes(verifier: JWTVerifier) -> None:
    verified = await verifier.verify(sign(RSA_KEY, scp="scim.read scim.write"))

    assert verified.subject == "client-1"
    assert verified.scopes == {"scim.read", "scim.write"}
    assert verified.claims["iss"] == ISSUER


async def test_es256_token_reads_okta_space_separated_scope_claim(verifier: JWTVerifier) -> None:
    verified = await verifier.verify(sign(EC_KEY, alg="ES256", scope="scim:users scim:groups"))

    assert verified.scopes == {"scim:users", "scim:groups"}


async def test_entra_app_only_token_reads_roles_list_as_scopes(verifier: JWTVerifier) -> None:
    """Entra ID client-credentials tokens carry application permissions in "roles"."""
    verified = await verifier.verify(sign(RSA_KEY, roles=["SCIM.ReadWrite.All"]))

    assert verified.scopes == {"SCIM.ReadWrite.All"}


async def test_configured_scopes_claim_replaces_the_defaults(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    verifier = make_verifier(client, clock, scopes_claim="permissions")

    verified = await verifier.verify(sign(RSA_KEY, scp="ignored", permissions=["users:write"]))

    assert verified.scopes == {"users:write"}


async def test_audience_list_containing_ours_is_accepted(verifier: JWTVerifier) -> None:
    """RFC 7519 §4.1.3: "aud" may be a list; ours must be one of its members."""
    verified = await verifier.verify(sign(RSA_KEY, aud=["https://other.example", AUDIENCE]))

    assert verified.subject == "client-1"


async def test_expired_token_is_refused(verifier: JWTVerifier) -> None:
    await assert_refused(verifier, sign(RSA_KEY, exp=NOW - 61), "token has expired")


async def test_token_expired_within_the_leeway_is_accepted(verifier: JWTVerifier) -> None:
    verified = await verifier.verify(sign(RSA_KEY, exp=NOW - 30))

    assert verified.subject == "client-1"


async def test_not_yet_valid_token_is_refused(verifier: JWTVerifier) -> None:
    await assert_refused(verifier, sign(RSA_KEY, nbf=NOW + 120), "not yet valid")


async def test_token_without_expiry_is_refused(verifier: JWTVerifier) -> None:
    await assert_refused(verifier, sign(RSA_KEY, exp=None), "lacks claims: exp")


async def test_wrong_issuer_is_refused(verifier: JWTVerifier) -> None:
    token = sign(RSA_KEY, iss="https://login.example.com/tenant-2/v2.0")

    await assert_refused(verifier, token, "issuer is not trusted")


async def test_wrong_audience_is_refused(verifier: JWTVerifier) -> None:
    await assert_refused(verifier, sign(RSA_KEY, aud="api://another-app"), "audience")


async def test_tampered_signature_is_refused(verifier: JWTVerifier) -> None:
    header, payload, signature = sign(RSA_KEY).split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    token = f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"

    await assert_refused(verifier, token, "signature is invalid")


async def test_payload_swapped_under_a_valid_signature_is_refused(verifier: JWTVerifier) -> None:
    header, _, signature = sign(RSA_KEY).split(".")
    forged = b64({"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "exp": NOW + 3600})

    await assert_refused(verifier, f"{header}.{forged}.{signature}", "signature is invalid")


async def test_alg_none_is_refused_without_fetching_keys(
    verifier: JWTVerifier, issuer: FakeIssuer
) -> None:
    """RFC 8725 §3.1: an unsecured JWT must never be accepted."""
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client-1", "exp": NOW + 3600}
    token = f"{b64({'alg': 'none', 'kid': 'rsa-1'})}.{b64(claims)}."

    await assert_refused(verifier, token, "algorithm is not one of RS256, ES256")
    assert issuer.fetches == 0


async def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    verifier: JWTVerifier, issuer: FakeIssuer
) -> None:
    """RFC 8725 §2.1: algorithm confusion, the published RSA key used as an HMAC secret."""
    # joserfc refuses a PEM public key as an HMAC secret, so forge the token by hand.
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client-1", "exp": NOW + 3600}
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'rsa-1'})}.{b64(claims)}"
    mac = hmac.digest(RSA_KEY.as_pem(private=False), signing_input.encode(), "sha256")
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    await assert_refused(verifier, token, "algorithm is not one of")
    assert issuer.fetches == 0


@pytest.mark.parametrize("algorithms", [("RS256", "HS256"), ("none",), ()])
def test_settings_refuse_symmetric_or_no_algorithms(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        JWTSettings(ISSUER, AUDIENCE, JWKS_URL, algorithms=algorithms)


async def test_key_published_for_another_algorithm_is_refused(
    verifier: JWTVerifier, issuer: FakeIssuer
) -> None:
    """RFC 7517 §4.4: a JWK's "alg" restricts what it may verify."""
    ps_key = RSAKey.import_key(RSA_KEY.as_dict(private=True), parameters={"alg": "PS256"})
    issuer.keys = [ps_key]

    await assert_refused(verifier, sign(RSA_KEY), "does not match its signing key")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "a.b.c",
        f"{b64('alg')}.{b64({})}.AA",
        f"{b64({'alg': 'RS256', 'kid': 7})}.{b64({})}.AA",
    ],
    ids=["empty", "one-segment", "not-base64-json", "header-not-object", "kid-not-string"],
)
async def test_malformed_token_is_refused(verifier: JWTVerifier, token: str) -> None:
    await assert_refused(verifier, token, "not a well-formed JWT")


async def test_rotated_key_triggers_one_refetch_then_verifies(
    verifier: JWTVerifier, issuer: FakeIssuer, clock: FakeClock
) -> None:
    await verifier.verify(sign(RSA_KEY))
    issuer.keys = [ROTATED_KEY, RSA_KEY]
    clock.advance(31)

    verified = await verifier.verify(sign(ROTATED_KEY))

    assert verified.subject == "client-1"
    assert issuer.fetches == 2


async def test_concurrent_tokens_with_a_new_kid_share_one_fetch(
    verifier: JWTVerifier, issuer: FakeIssuer, clock: FakeClock
) -> None:
    await verifier.verify(sign(RSA_KEY))
    issuer.keys = [ROTATED_KEY]
    clock.advance(31)

    token = sign(ROTATED_KEY)
    results = await asyncio.gather(*(verifier.verify(token) for _ in range(50)))

    assert {result.subject for result in results} == {"client-1"}
    assert issuer.fetches == 2


async def test_concurrent_tokens_with_an_unknown_kid_cause_exactly_one_fetch(
    verifier: JWTVerifier, issuer: FakeIssuer
) -> None:
    token = sign(ROTATED_KEY)

    results = await asyncio.gather(
        *(verifier.verify(token) for _ in range(50)), return_exceptions=True
    )

    assert all(isinstance(result, UnauthorizedException) for result in results)
    assert issuer.fetches == 1


async def test_unknown_kid_within_min_refresh_interval_does_not_refetch(
    verifier: JWTVerifier, issuer: FakeIssuer, clock: FakeClock
) -> None:
    """An attacker choosing kids must not turn the gateway into a JWKS load generator."""
    await verifier.verify(sign(RSA_KEY))
    clock.advance(31)
    await assert_refused(verifier, sign(ROTATED_KEY), "matches the token's kid")
    assert issuer.fetches == 2

    clock.advance(10)
    await assert_refused(verifier, sign(ROTATED_KEY), "matches the token's kid")
    assert issuer.fetches == 2

    clock.advance(21)
    await assert_refused(verifier, sign(ROTATED_KEY), "matches the token's kid")
    assert issuer.fetches == 3


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500),
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, json={"keys": [{"kty": "RSA"}]}),
        httpx.ConnectError("connection refused"),
    ],
    ids=["http-500", "not-json", "invalid-key", "connect-error"],
)
async def test_jwks_fetch_failure_is_unauthorized(
    verifier: JWTVerifier, issuer: FakeIssuer, failure: httpx.Response | Exception
) -> None:
    issuer.failure = failure

    await assert_refused(verifier, sign(RSA_KEY), "signing keys could not be fetched")


async def test_jwks_is_refetched_after_max_age(
    verifier: JWTVerifier, issuer: FakeIssuer, clock: FakeClock
) -> None:
    await verifier.verify(sign(RSA_KEY))
    clock.advance(3599)
    await verifier.verify(sign(RSA_KEY))
    assert issuer.fetches == 1

    clock.advance(1)
    await verifier.verify(sign(RSA_KEY))
    assert issuer.fetches == 2


async def test_keys_past_max_age_are_not_used_when_the_refetch_fails(
    verifier: JWTVerifier, issuer: FakeIssuer, clock: FakeClock
) -> None:
    """A key the issuer has revoked must not outlive max_age because its endpoint is down."""
    await verifier.verify(sign(RSA_KEY))
    clock.advance(3600)
    issuer.failure = httpx.Response(503)

    await assert_refused(verifier, sign(RSA_KEY), "could not be fetched")
    await assert_refused(verifier, sign(RSA_KEY), "signing keys are unavailable")
    assert issuer.fetches == 2
