"""Per-connection limits for the asyncio delivery worker: a call rate and calls in flight.

Vendors count calls in a sliding window (TalentLMS: 200 calls per 5 s; Tribal Habits: 300 per
minute). A token bucket whose capacity is the whole allowance would start ``requests`` calls at
once and then refill during the same window, nearly doubling the count a vendor sees. So
:class:`RateLimiter` is a GCRA (the virtual-scheduling form of a leaky bucket): calls start at
least ``interval`` apart, with an optional small ``burst`` after an idle spell, and the
interval is ``per_seconds / (requests - burst + 1)`` so that over *any* window of
``per_seconds`` at most ``requests`` calls start. With the default ``burst=1`` that is an even
pace: 50/min starts a call every 1.2 s. Unlike a sliding-window log it keeps O(1) state and
spreads the load, which vendors with unstated per-second limits prefer.

Theoretical start times are kept on a grid (``origin + n * interval``, computed from ``n``
rather than by repeated addition) so that rounding never lets the ``requests + 1``-th call
of a busy stream creep inside the window.

A waiting caller always wakes a little after its slot (the event loop is busy with the
calls in flight). Restarting the grid at each late start lost that lag on every call: 20/s
ran at 19.1/s in the delivery benchmark. So the grid restarts only for a caller that
*arrived* after its slot (the connection was idle); a caller that waited keeps it, and the
next call may follow sooner. Catching up must not break the window, so the limiter also
remembers the last ``requests`` starts and never starts a call less than ``per_seconds``
after the one ``requests`` calls before it. That costs at most one wake-up lag per
``requests`` calls (a few milliseconds a second at 20/s).
"""

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

from gateway.config import TargetConnection

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """At most ``requests`` call starts in any window of ``per_seconds``; waiters served FIFO.

    Args:
        requests: calls allowed per window.
        per_seconds: the window; 0 means no rate at all (only :meth:`pause` holds calls).
        burst: calls that may start together after an idle spell (1 to ``requests``);
            a larger burst slows the steady pace to keep the window's count.
        clock: monotonic seconds (``time.monotonic``, or a fake in tests).
        sleep: awaits a number of seconds (``asyncio.sleep``, or a fake in tests).
    """

    def __init__(
        self,
        requests: int,
        per_seconds: float,
        *,
        burst: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if requests < 1 or per_seconds < 0 or not 1 <= burst <= requests:
            raise ValueError("need requests >= 1, per_seconds >= 0 and 1 <= burst <= requests")
        self._per = per_seconds
        self._burst = burst
        self._steady = requests - burst + 1  # paced starts per window once the burst is used
        self._clock = clock
        self._sleep = sleep
        # GCRA's theoretical arrival time is _slot(_count); -inf means "never used".
        self._origin = -math.inf
        self._count = 0
        self._paused_until = -math.inf
        self._turn = asyncio.Lock()  # asyncio.Lock wakes its waiters in arrival order
        #: The last ``requests`` starts: the window's own bound (module docstring).
        self._starts: deque[float] = deque(maxlen=requests)

    @classmethod
    def unlimited(
        cls, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> "RateLimiter":
        """A limiter with no rate that still honours :meth:`pause` (a target's Retry-After)."""
        return cls(1, 0.0, clock=clock, sleep=sleep)

    @property
    def interval(self) -> float:
        """Seconds between steady starts."""
        return self._per / self._steady

    async def acquire(self) -> None:
        """Wait until this caller may start a call, after every earlier caller.

        A caller cancelled while waiting gives its turn to the next one.
        """
        arrived = self._clock()
        async with self._turn:
            idle = arrived > self._slot(self._count)
            while (delay := self._ready_at() - self._clock()) > 0:
                await self._sleep(delay)
            # A pause past this call's slot restarts the pace too: no burst after it.
            paused = self._paused_until > self._slot(self._count)
            self._record(self._clock(), idle or paused)

    def pause(self, seconds: float) -> None:
        """Start no call for ``seconds`` from now; a longer pause in force is kept.

        For a target's ``Retry-After`` or a vendor's lock-out after a 429. The waiter at
        the head of the queue re-reads the pause when it wakes, so it holds everyone.
        """
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def eta_seconds(self, backlog: int) -> float:
        """Seconds until ``backlog`` more calls have been admitted at the steady pace.

        At 50/min a backlog of 100,000 takes 120,000 s (2,000 min, 33 h 20 min). A pause in
        force adds what is left of it.
        """
        paused = max(0.0, self._paused_until - self._clock())
        return paused + backlog * self._per / self._steady

    def _slot(self, count: int) -> float:
        return self._origin + self._per * count / self._steady

    def _ready_at(self) -> float:
        # GCRA admits a call ``burst - 1`` intervals before its theoretical arrival time.
        ready = max(self._slot(self._count - self._burst + 1), self._paused_until)
        if self._per and len(self._starts) == self._starts.maxlen:
            ready = max(ready, self._starts[0] + self._per)
        return ready

    def _record(self, start: float, idle: bool) -> None:
        if idle:
            # The caller came after its theoretical arrival time: the grid restarts at it.
            self._origin, self._count = start, 1
        else:
            self._count += 1
        self._starts.append(start)


class Throttle:
    """A connection's rate and concurrency together: ``async with throttle:`` around a call.

    Args:
        limiter: the connection's rate (``RateLimiter.unlimited()`` when it declares none).
        concurrency: calls in flight at most; a plain ``asyncio.Semaphore`` (FIFO) holds it.
    """

    def __init__(self, limiter: RateLimiter, concurrency: int) -> None:
        self.limiter = limiter
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)

    @classmethod
    def for_connection(
        cls,
        connection: TargetConnection,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> "Throttle":
        """The throttle a connection's ``rate_limit`` and ``concurrency`` declare."""
        rate = connection.rate_limit
        if rate is None:
            limiter = RateLimiter.unlimited(clock=clock, sleep=sleep)
        else:
            limiter = RateLimiter(rate.requests, rate.per_seconds, clock=clock, sleep=sleep)
        return cls(limiter, connection.concurrency)

    def pause(self, seconds: float) -> None:
        """Start no call for ``seconds`` (see :meth:`RateLimiter.pause`)."""
        self.limiter.pause(seconds)

    async def __aenter__(self) -> None:
        # Slot first, then token: a token taken while queueing for a slot would let calls
        # admitted seconds apart start together when slots free up, bunching past the rate.
        await self._slots.acquire()
        try:
            await self.limiter.acquire()
        except BaseException:
            self._slots.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._slots.release()
