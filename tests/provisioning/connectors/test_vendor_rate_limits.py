"""Vendors' documented call rates become the connection's default ``rate_limit`` (§9)."""

import pytest

from gateway.config.connection import RateLimit, TargetConnection
from gateway.config.file import parse_config
from provisioning.targets.ratelimit import Throttle


@pytest.mark.parametrize(
    ("vendor", "requests", "per_seconds"),
    [
        ("talenthr", 2000, 60),  # [V] 2,000 requests/minute
        ("talentlms", 200, 5),  # [V] 200 calls per 5 seconds
        ("taleez", 100, 60),  # [V] 100 requests/minute (the coming Taleez source)
        ("tribalhabits", 300, 60),  # [V] 300 requests/minute, then a one-minute block
    ],
)
def test_a_connection_without_rate_limit_gets_its_vendors_documented_rate(
    vendor: str, requests: int, per_seconds: float
) -> None:
    connection = TargetConnection(type=vendor)
    assert connection.rate_limit == RateLimit(requests=requests, per_seconds=per_seconds)


def test_the_default_paces_the_connection_below_the_vendors_limit() -> None:
    """At 200 per 5 s the worker starts a TalentLMS call every 25 ms, never 201 in 5 s."""
    throttle = Throttle.for_connection(TargetConnection(type="talentlms"))
    assert throttle.limiter.interval == pytest.approx(0.025)


def test_a_declared_rate_limit_replaces_the_default() -> None:
    connection = TargetConnection(type="talenthr", rate_limit="600/min")
    assert connection.rate_limit == RateLimit(requests=600, per_seconds=60)


def test_an_explicit_null_turns_pacing_off() -> None:
    assert TargetConnection(type="tribalhabits", rate_limit=None).rate_limit is None


def test_a_vendor_without_a_documented_rate_has_no_default() -> None:
    assert TargetConnection(type="scim").rate_limit is None


def test_the_default_applies_to_connections_read_from_the_configuration_file() -> None:
    config = parse_config(
        {"tenants": {"acme": {"connections": {"lms": {"type": "talentlms", "base_url": "x"}}}}}
    )
    rate = config.tenants["acme"].connections["lms"].rate_limit
    assert rate == RateLimit(requests=200, per_seconds=5)
