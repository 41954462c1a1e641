"""The per-tenant token bucket of bulkUpload (Entra's 40 requests/s by default)."""

from gateway.scim.upload_rate import TenantRates


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_one_seconds_requests_passes_and_the_next_waits() -> None:
    clock = Clock()
    rates = TenantRates(clock)
    assert [rates.take("acme", 40) for _ in range(40)] == [None] * 40
    assert rates.take("acme", 40) == 1


def test_the_bucket_refills_at_the_rate() -> None:
    clock = Clock()
    rates = TenantRates(clock)
    assert rates.take("acme", 2) is None and rates.take("acme", 2) is None
    assert rates.take("acme", 2) == 1
    clock.now += 0.5  # one request's worth at 2/s
    assert rates.take("acme", 2) is None
    assert rates.take("acme", 2) is not None


def test_a_slow_rate_says_how_many_seconds_to_wait() -> None:
    clock = Clock()
    rates = TenantRates(clock)
    assert rates.take("acme", 0.1) is None  # one request every 10 s
    assert rates.take("acme", 0.1) == 10


def test_tenants_have_their_own_buckets() -> None:
    rates = TenantRates(Clock())
    assert rates.take("acme", 1) is None and rates.take("acme", 1) == 1
    assert rates.take("globex", 1) is None
