"""The retry policy: what is retried, when it is due, and when a row is dead-lettered."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from provisioning.engine.retry import DeadLetter, Retry, RetryPolicy, describe
from provisioning.errors import (
    AuthError,
    ConflictError,
    DeliveryError,
    MappingError,
    PermanentError,
    RateLimited,
    TargetConfigError,
    TransientError,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _top() -> float:
    """A jitter source that always draws the ceiling, so delays are the backoff's bound."""
    return 1.0


def _seconds(decision: Retry | DeadLetter) -> float:
    assert isinstance(decision, Retry), decision
    return (decision.due_at - NOW).total_seconds()


@pytest.mark.parametrize(
    "error",
    [
        ConflictError("two accounts have jane@example.com", status=409),
        MappingError("email is required"),
        PermanentError("Invalid department", status=400),
    ],
)
def test_permanent_errors_dead_letter_at_the_first_attempt(error: PermanentError) -> None:
    decision = RetryPolicy().decide(error, attempts=1, now=NOW)
    assert decision == DeadLetter(describe(error))
    assert error.message in decision.reason


@pytest.mark.parametrize(
    "error",
    [
        TransientError("Service Unavailable", status=503),
        TargetConfigError("custom field cost_center does not exist"),
        RateLimited("Too Many Requests", status=429),
        DeliveryError("unclassified"),
        TimeoutError("read timed out"),
    ],
)
def test_transient_throttled_config_and_unexpected_errors_are_retried(
    error: BaseException,
) -> None:
    decision = RetryPolicy(rng=_top).decide(error, attempts=1, now=NOW)
    assert decision == Retry(NOW + timedelta(seconds=2), describe(error))


def test_backoff_ceiling_doubles_per_attempt_and_stops_at_the_cap() -> None:
    policy = RetryPolicy(max_attempts=20, base_seconds=2, factor=2, cap_seconds=60, rng=_top)
    error = TransientError("Bad Gateway", status=502)
    delays = [_seconds(policy.decide(error, n, NOW)) for n in range(1, 9)]
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60]


def test_backoff_of_a_huge_attempt_count_is_the_cap_not_an_overflow() -> None:
    policy = RetryPolicy(max_attempts=10_000, rng=_top)
    assert _seconds(policy.decide(TransientError("down"), 5_000, NOW)) == 3600


def test_full_jitter_stays_between_zero_and_the_ceiling_and_spreads() -> None:
    policy = RetryPolicy(max_attempts=20, cap_seconds=3600, rng=random.Random(7).random)
    error = TransientError("Gateway Timeout", status=504)
    for attempts in range(1, 15):
        ceiling = min(3600, 2 * 2 ** (attempts - 1))
        draws = [_seconds(policy.decide(error, attempts, NOW)) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in draws)
        # Full jitter: the draws cover the interval, not just its top (as "base + jitter" would).
        assert min(draws) < ceiling * 0.1 and max(draws) > ceiling * 0.9


def test_same_seed_gives_the_same_due_times() -> None:
    error = TransientError("down")
    first = RetryPolicy(rng=random.Random(3).random)
    second = RetryPolicy(rng=random.Random(3).random)
    assert [first.decide(error, n, NOW) for n in range(1, 6)] == [
        second.decide(error, n, NOW) for n in range(1, 6)
    ]


def test_retry_after_overrides_a_shorter_backoff() -> None:
    error = RateLimited("Too Many Requests", status=429, retry_after=120)
    assert _seconds(RetryPolicy(rng=_top).decide(error, 1, NOW)) == 120


def test_retry_after_overrides_a_longer_backoff() -> None:
    """The target knows when it will take calls again; Retry-After is not a minimum to pad."""
    error = TransientError("Service Unavailable", status=503, retry_after=5)
    assert _seconds(RetryPolicy(rng=_top).decide(error, 7, NOW)) == 5


def test_absurd_retry_after_is_capped_at_a_day() -> None:
    error = RateLimited("quota exhausted", status=429, retry_after=30 * 86400)
    assert _seconds(RetryPolicy().decide(error, 1, NOW)) == 86400


def test_transient_error_dead_letters_when_max_attempts_are_exhausted() -> None:
    policy = RetryPolicy(max_attempts=8)
    error = TransientError("Service Unavailable", status=503)
    assert isinstance(policy.decide(error, 7, NOW), Retry)
    decision = policy.decide(error, 8, NOW)
    assert decision == DeadLetter(
        "gave up after 8 attempts: TransientError (503): Service Unavailable"
    )


def test_a_single_attempt_budget_retries_nothing() -> None:
    decision = RetryPolicy(max_attempts=1).decide(TransientError("down"), 1, NOW)
    assert isinstance(decision, DeadLetter)


def test_throttles_get_three_times_the_attempt_budget() -> None:
    policy = RetryPolicy(max_attempts=8, throttle_budget=3)
    throttle = RateLimited("Too Many Requests", status=429)
    assert all(isinstance(policy.decide(throttle, n, NOW), Retry) for n in range(1, 24))
    assert policy.decide(throttle, 24, NOW) == DeadLetter(
        "gave up after 24 attempts: RateLimited (429): Too Many Requests"
    )


def test_failures_after_throttles_are_charged_only_for_themselves_when_throttles_are_counted() -> (
    None
):
    policy = RetryPolicy(max_attempts=8)
    error = TransientError("Service Unavailable", status=503)
    # 12 attempts, 10 of them throttled: this is the 2nd real failure.
    assert isinstance(policy.decide(error, 12, NOW, throttled=10), Retry)
    # Without the throttle count the same failure exhausts the budget.
    assert isinstance(policy.decide(error, 12, NOW), DeadLetter)


def test_auth_errors_are_retried_a_few_times_after_a_rotation_delay_then_dead_lettered() -> None:
    policy = RetryPolicy(auth_attempts=3, auth_delay_seconds=300, rng=lambda: 0.0)
    error = AuthError("invalid_client", status=401)
    assert _seconds(policy.decide(error, 1, NOW)) == 300
    assert _seconds(policy.decide(error, 2, NOW)) == 300
    assert policy.decide(error, 3, NOW) == DeadLetter(
        "gave up after 3 attempts: AuthError (401): invalid_client"
    )


def test_auth_retries_are_jittered_above_the_rotation_delay() -> None:
    policy = RetryPolicy(auth_delay_seconds=300, rng=_top)
    assert _seconds(policy.decide(AuthError("expired", status=401), 2, NOW)) == 304


def test_unexpected_exception_reason_names_the_type_and_truncates_its_text() -> None:
    error = ValueError("x" * 5000)
    decision = RetryPolicy().decide(error, 1, NOW)
    assert isinstance(decision, Retry)
    assert decision.reason == "unexpected ValueError: " + "x" * 200


def test_unexpected_exception_dead_letters_after_max_attempts_with_its_type() -> None:
    decision = RetryPolicy(max_attempts=2).decide(KeyError("department"), 2, NOW)
    assert decision == DeadLetter("gave up after 2 attempts: unexpected KeyError: 'department'")


def test_immediate_policy_makes_every_retry_due_now_but_still_dead_letters() -> None:
    policy = RetryPolicy(immediate=True, max_attempts=3)
    throttled = RateLimited("slow down", status=429, retry_after=60)
    assert policy.decide(throttled, 1, NOW) == Retry(NOW, describe(throttled))
    assert _seconds(policy.decide(TransientError("down"), 2, NOW)) == 0
    assert isinstance(policy.decide(TransientError("down"), 3, NOW), DeadLetter)
    assert isinstance(policy.decide(MappingError("no email"), 1, NOW), DeadLetter)
