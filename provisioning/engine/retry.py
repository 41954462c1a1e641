"""The retry policy: what becomes of an outbox row whose delivery failed.

The worker never sleeps on a failure: it stores the row again with a due time, so a retry
survives a restart and the worker moves on to other rows. The policy is therefore one pure
decision, :meth:`RetryPolicy.decide`, returning :class:`Retry` (with ``due_at``) or
:class:`DeadLetter`. Like stamina's ``on=``, it retries only what the error types say is worth
retrying:

=====================================  ===================================================
error                                  decision
=====================================  ===================================================
PermanentError (ConflictError,         dead letter at once
MappingError)
AuthError                              retry after at least ``auth_delay_seconds`` (the
                                       credentials may be being rotated), dead letter once
                                       ``auth_attempts`` have failed
RateLimited                            retry; its budget is ``throttle_budget`` times
                                       ``max_attempts`` (see below)
TransientError, TargetConfigError,     retry with backoff; dead letter after
any other exception (a bug)            ``max_attempts``
=====================================  ===================================================

Delays are exponential with full jitter (uniform between 0 and ``base * factor**(n-1)``,
capped), so rows that failed together do not come back together. A ``retry_after`` on the
error replaces the backoff: the row is never due before the target asked, except that an
absurd ``Retry-After`` is capped at ``max_retry_after_seconds``.

Throttles have a larger budget instead of none. A throttled target is not failing, so a row
must not die after ``max_attempts`` 429s during a large initial load; but a target that
answers 429 forever (a quota of zero, a mis-set plan) should still surface as dead letters an
admin sees rather than rows rescheduled for ever. A multiple of the budget needs no state
beyond the one ``attempts`` counter the outbox keeps. Because that counter includes throttled
attempts, an ordinary failure after many throttles would exhaust ``max_attempts`` early; a
worker that also counts throttles passes ``throttled=`` and only failures are then charged
to ``max_attempts``.

Why not tenacity's or stamina's wait functions: tenacity's ``wait_random_exponential`` is the
same formula, but it reads a ``RetryCallState`` (we would have to fake one per decision) and
draws from the global ``random`` module, so it cannot take the injected random source that
makes tests deterministic; stamina's backoff is private and adds a bounded jitter on top of
the exponential instead of full jitter. The formula is three lines (:meth:`RetryPolicy.backoff`).
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from provisioning.errors import (
    AuthError,
    DeliveryError,
    PermanentError,
    RateLimited,
    TransientError,
)

#: Longest part of an unexpected exception's text kept in a reason (it may quote data).
UNEXPECTED_TEXT_LIMIT = 200

#: Exponents above this already exceed any sane cap; bounding them avoids float overflow.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class Retry:
    """Deliver the row again at ``due_at``; ``reason`` describes the failure."""

    due_at: datetime
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """Stop delivering the row; an admin may replay it. ``reason`` says why."""

    reason: str


Decision = Retry | DeadLetter


def describe(error: BaseException) -> str:
    """A one-line account of a failure, fit for a delivery row.

    Delivery errors carry messages already stripped of secrets (``provisioning.errors``).
    Any other exception is a bug whose text may quote data, so only its type name and
    the first ``UNEXPECTED_TEXT_LIMIT`` characters of its text are kept.
    """
    name = type(error).__name__
    if isinstance(error, DeliveryError):
        status = f" ({error.status})" if error.status is not None else ""
        return f"{name}{status}: {error.message}"
    return f"unexpected {name}: {str(error)[:UNEXPECTED_TEXT_LIMIT]}"


@dataclass(frozen=True)
class RetryPolicy:
    """Decides, after a failed delivery, when to try again or whether to give up.

    Attributes:
        max_attempts: attempts after which an ordinary failure dead-letters
            (``TargetConnection.max_attempts``).
        base_seconds: backoff ceiling of the first retry.
        factor: growth of the ceiling per attempt.
        cap_seconds: largest backoff ceiling.
        max_retry_after_seconds: largest delay a target's ``Retry-After`` can impose.
        throttle_budget: throttled rows dead-letter after this many times ``max_attempts``.
        auth_attempts: attempts after which an auth failure dead-letters.
        auth_delay_seconds: least delay after an auth failure, time for a rotation to land.
        immediate: make every retry due at once (tests); decisions are otherwise unchanged.
        rng: returns a float in [0, 1]; the jitter's source, injected for deterministic tests.
    """

    max_attempts: int = 8
    base_seconds: float = 2.0
    factor: float = 2.0
    cap_seconds: float = 3600.0
    max_retry_after_seconds: float = 86400.0
    throttle_budget: int = 3
    auth_attempts: int = 3
    auth_delay_seconds: float = 300.0
    immediate: bool = False
    rng: Callable[[], float] = random.random

    def decide(
        self, error: BaseException, attempts: int, now: datetime, *, throttled: int = 0
    ) -> Decision:
        """Decide what becomes of a row whose delivery just raised ``error``.

        Args:
            error: what the attempt raised.
            attempts: attempts made so far, this one included.
            now: the time of the failure; ``Retry.due_at`` is relative to it.
            throttled: how many of ``attempts`` ended in ``RateLimited``, if the worker
                counts them; they are then not charged to ``max_attempts``.

        Returns:
            ``Retry`` with the due time, or ``DeadLetter``; both carry :func:`describe`'s
            account of the error.
        """
        reason = describe(error)
        if isinstance(error, PermanentError):
            return DeadLetter(reason)
        if self._exhausted(error, attempts, throttled):
            return DeadLetter(f"gave up after {attempts} attempts: {reason}")
        return Retry(now + timedelta(seconds=self.delay(error, attempts)), reason)

    def delay(self, error: BaseException, attempts: int) -> float:
        """Seconds to wait before the next attempt of a row that will be retried."""
        if self.immediate:
            return 0.0
        if isinstance(error, TransientError) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_retry_after_seconds)
        if isinstance(error, AuthError):
            return self.auth_delay_seconds + self.backoff(attempts)
        return self.backoff(attempts)

    def backoff(self, attempts: int) -> float:
        """Full-jitter exponential backoff: uniform in [0, min(cap, base * factor**(n-1))]."""
        exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
        ceiling = min(self.cap_seconds, self.base_seconds * self.factor**exponent)
        return ceiling * self.rng()

    def _exhausted(self, error: BaseException, attempts: int, throttled: int) -> bool:
        if isinstance(error, RateLimited):
            return attempts >= self.max_attempts * self.throttle_budget
        failures = attempts - throttled
        if isinstance(error, AuthError):
            return failures >= min(self.auth_attempts, self.max_attempts)
        return failures >= self.max_attempts
