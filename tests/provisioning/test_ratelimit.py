"""Rate and concurrency limits, run on a virtual clock: no test waits for real time."""

import asyncio
import heapq
import itertools
import random
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable

import pytest

from gateway.config import TargetConnection
from provisioning.targets.ratelimit import RateLimiter, Throttle

NS = 1_000_000_000


class VirtualClock:
    """A monotonic clock and ``sleep`` whose time moves only when :meth:`run` moves it.

    Time is whole nanoseconds, like a real clock's finite resolution; every sleep lasts at
    least one, so a waiter that asks for a sub-nanosecond delay still makes progress.
    """

    def __init__(self) -> None:
        self.now_ns = 0
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now_ns / NS

    async def sleep(self, delay: float) -> None:
        deadline = self.now_ns + max(1, round(delay * NS))
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future

    async def run(self, seconds: float) -> None:
        """Let every task run while time moves ``seconds`` forward, waking sleepers in order."""
        end = self.now_ns + round(seconds * NS)
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now_ns = deadline
            if not future.cancelled():
                future.set_result(None)
            await _settle()
        self.now_ns = end


async def _settle() -> None:
    """Give woken tasks enough loop turns to run until they block again."""
    for _ in range(50):
        await asyncio.sleep(0)


def _limiter(clock: VirtualClock, requests: int, per_seconds: float, burst: int = 1) -> RateLimiter:
    return RateLimiter(requests, per_seconds, burst=burst, clock=clock, sleep=clock.sleep)


def _start(
    clock: VirtualClock, acquire: Callable[[], Awaitable[object]], starts: list[int]
) -> "asyncio.Task[None]":
    async def call() -> None:
        await acquire()
        starts.append(clock.now_ns)

    return asyncio.create_task(call())


def _most_in_any_window(starts: Iterable[int], window_ns: int) -> int:
    """Most starts in a half-open window ``[t, t + window)``; a busiest window opens at a start."""
    ordered = sorted(starts)
    return max(bisect_left(ordered, s + window_ns) - i for i, s in enumerate(ordered))


async def test_fifty_per_minute_admits_fifty_in_any_minute_and_the_51st_waits() -> None:
    clock = VirtualClock()
    limiter = _limiter(clock, 50, 60)
    starts: list[int] = []
    tasks = [_start(clock, limiter.acquire, starts) for _ in range(120)]
    await clock.run(59.999)
    assert len(starts) == 50
    await clock.run(200)
    assert starts[50] == 60 * NS
    assert _most_in_any_window(starts, 60 * NS) == 50
    assert starts == [round(n * 1.2 * NS) for n in range(120)]  # an even pace, no burst
    await asyncio.gather(*tasks)


async def test_an_idle_limiter_admits_the_first_call_at_once() -> None:
    clock = VirtualClock()
    clock.now_ns = 1234 * NS
    starts: list[int] = []
    await asyncio.wait_for(_start(clock, _limiter(clock, 50, 60).acquire, starts), 1)
    assert starts == [1234 * NS]


@pytest.mark.parametrize(
    ("requests", "per_seconds", "burst"),
    [(200, 5, 1), (200, 5, 10), (300, 60, 1), (300, 60, 20)],
    ids=["talentlms", "talentlms-burst", "tribal-habits", "tribal-habits-burst"],
)
async def test_vendor_sliding_window_is_never_exceeded_even_with_a_burst(
    requests: int, per_seconds: float, burst: int
) -> None:
    """TalentLMS allows 200 calls / 5 s, Tribal Habits 300 / min, counted over a sliding window."""
    clock = VirtualClock()
    limiter = _limiter(clock, requests, per_seconds, burst)
    starts: list[int] = []
    tasks = [_start(clock, limiter.acquire, starts) for _ in range(2 * requests)]
    await clock.run(3 * per_seconds)
    assert len(starts) == 2 * requests
    assert starts[:burst] == [0] * burst
    assert _most_in_any_window(starts, round(per_seconds * NS)) == requests
    await asyncio.gather(*tasks)


async def test_a_burst_after_an_idle_spell_is_bounded() -> None:
    clock = VirtualClock()
    limiter = _limiter(clock, 200, 5, burst=10)
    starts: list[int] = []
    tasks = [_start(clock, limiter.acquire, starts) for _ in range(30)]
    await clock.run(0)
    assert starts == [0] * 10
    await clock.run(60)
    await asyncio.gather(*tasks)
    later = [_start(clock, limiter.acquire, starts) for _ in range(30)]
    await clock.run(0)
    assert starts[30:] == [60 * NS] * 10
    await clock.run(60)
    await asyncio.gather(*later)


async def test_a_late_call_earns_no_credit_for_the_next_one() -> None:
    """A caller that arrives after its slot restarts the pace from itself: an idle spell
    is no credit. (A caller that was waiting and woke late keeps the pace: below.)"""
    clock = VirtualClock()
    limiter = _limiter(clock, 50, 60)
    starts: list[int] = []
    await _start(clock, limiter.acquire, starts)
    await clock.run(1.5)  # the next slot was 1.2 s; nobody took it
    tasks = [_start(clock, limiter.acquire, starts) for _ in range(2)]
    await clock.run(10)
    assert starts == [0, round(1.5 * NS), round(2.7 * NS)]
    await asyncio.gather(*tasks)


async def test_after_a_longer_idle_spell_the_pace_restarts_from_the_late_call() -> None:
    clock = VirtualClock()
    limiter = _limiter(clock, 50, 60)
    starts: list[int] = []
    await _start(clock, limiter.acquire, starts)
    await clock.run(3.0)  # two slots nobody took
    tasks = [_start(clock, limiter.acquire, starts) for _ in range(2)]
    await clock.run(10)
    assert starts == [0, round(3.0 * NS), round(4.2 * NS)]
    await asyncio.gather(*tasks)


@pytest.mark.parametrize(("requests", "per_seconds"), [(20, 1), (50, 60), (200, 5)])
async def test_late_wakeups_neither_break_the_window_nor_slow_the_rate(
    requests: int, per_seconds: float
) -> None:
    """Every sleep ends up to 20 % of an interval late, as on a loaded event loop: no
    window holds more than ``requests`` starts, and the stream loses at most one lag per
    window (before, it lost one on every call)."""
    clock = VirtualClock()
    interval = per_seconds / requests
    lag = random.Random(7)
    most_lag = 0.2 * interval

    async def late_sleep(delay: float) -> None:
        await clock.sleep(delay + lag.uniform(0, most_lag))

    limiter = RateLimiter(requests, per_seconds, clock=clock, sleep=late_sleep)
    starts: list[int] = []
    calls = 10 * requests
    tasks = [_start(clock, limiter.acquire, starts) for _ in range(calls)]
    await clock.run(20 * per_seconds)
    await asyncio.gather(*tasks)
    assert _most_in_any_window(starts, round(per_seconds * NS)) == requests
    elapsed = (starts[-1] - starts[0]) / NS
    windows = calls // requests
    assert (calls - 1) * interval <= elapsed <= (calls - 1) * interval + windows * most_lag


async def test_pause_holds_everyone_including_a_waiter_already_asleep() -> None:
    clock = VirtualClock()
    limiter = _limiter(clock, 50, 60)
    starts: list[int] = []
    tasks = [_start(clock, limiter.acquire, starts) for _ in range(4)]
    await clock.run(0.5)
    assert starts == [0]  # the next waiter sleeps until 1.2 s
    limiter.pause(30)
    await clock.run(29.999)
    assert starts == [0]
    await clock.run(60)
    # Resumed at 30.5 s, then paced again: the pause does not release a burst.
    assert starts == [0, round(30.5 * NS), round(31.7 * NS), round(32.9 * NS)]
    await asyncio.gather(*tasks)


async def test_pause_holds_calls_of_an_unlimited_limiter() -> None:
    clock = VirtualClock()
    limiter = RateLimiter.unlimited(clock=clock, sleep=clock.sleep)
    starts: list[int] = []
    limiter.pause(30)
    tasks = [_start(clock, limiter.acquire, starts) for _ in range(3)]
    await clock.run(40)
    assert starts == [30 * NS] * 3
    await asyncio.gather(*tasks)


async def test_a_shorter_pause_does_not_cut_a_longer_one() -> None:
    clock = VirtualClock()
    limiter = _limiter(clock, 50, 60)
    limiter.pause(60)
    limiter.pause(5)
    starts: list[int] = []
    task = _start(clock, limiter.acquire, starts)
    await clock.run(120)
    assert starts == [60 * NS]
    await task


async def test_waiters_are_served_in_arrival_order() -> None:
    clock = VirtualClock()
    limiter = _limiter(clock, 50, 60)
    order: list[str] = []

    async def call(name: str) -> None:
        await limiter.acquire()
        order.append(name)

    tasks = [asyncio.create_task(call(f"early-{n}")) for n in range(5)]
    await clock.run(2)
    tasks.append(asyncio.create_task(call("late")))
    await clock.run(60)
    assert order == [f"early-{n}" for n in range(5)] + ["late"]
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    clock = VirtualClock()
    limiter = _limiter(clock, 50, 60)
    starts: list[int] = []
    first, second, third = (_start(clock, limiter.acquire, starts) for _ in range(3))
    await clock.run(0.5)
    second.cancel()  # asleep at the head of the queue, due at 1.2 s
    await clock.run(10)
    assert starts == [0, round(1.2 * NS)]
    assert second.cancelled()
    await asyncio.gather(first, third)


def test_eta_of_a_hundred_thousand_at_fifty_per_minute_is_two_thousand_minutes() -> None:
    limiter = RateLimiter(50, 60, clock=lambda: 0.0)
    assert limiter.eta_seconds(100_000) == 2_000 * 60
    assert limiter.eta_seconds(0) == 0


def test_eta_includes_what_is_left_of_a_pause() -> None:
    clock = VirtualClock()
    limiter = _limiter(clock, 50, 60)
    limiter.pause(30)
    clock.now_ns = 10 * NS
    assert limiter.eta_seconds(50) == 20 + 60


def test_eta_without_a_rate_is_zero() -> None:
    assert RateLimiter.unlimited().eta_seconds(100_000) == 0


@pytest.mark.parametrize(
    ("requests", "per_seconds", "burst"), [(0, 60, 1), (5, -1, 1), (5, 60, 0), (5, 60, 6)]
)
def test_impossible_limits_are_refused(requests: int, per_seconds: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(requests, per_seconds, burst=burst)


async def test_throttle_keeps_calls_in_flight_under_the_concurrency() -> None:
    clock = VirtualClock()
    throttle = Throttle(RateLimiter.unlimited(clock=clock, sleep=clock.sleep), concurrency=3)
    in_flight, peak, finished = 0, 0, []

    async def call() -> None:
        nonlocal in_flight, peak
        async with throttle:
            in_flight += 1
            peak = max(peak, in_flight)
            await clock.sleep(10)
            in_flight -= 1
        finished.append(clock.now_ns)

    tasks = [asyncio.create_task(call()) for _ in range(10)]
    await clock.run(100)
    await asyncio.gather(*tasks)
    assert peak == 3
    assert max(finished) == 40 * NS  # ceil(10 / 3) rounds of 10 s


async def test_throttle_does_not_bunch_calls_that_queued_for_a_slot() -> None:
    """A hung target answers every call at once; the calls that take the freed slots are still
    spaced by the rate (a token taken while queueing for a slot would let them start together).
    """
    clock = VirtualClock()
    throttle = Throttle(_limiter(clock, 2, 60), concurrency=4)
    starts: list[int] = []

    async def call() -> None:
        async with throttle:
            starts.append(clock.now_ns)
            await clock.sleep(max(0.0, 500 - clock()))  # the target answers at 500 s

    tasks = [asyncio.create_task(call()) for _ in range(12)]
    await clock.run(1000)
    await asyncio.gather(*tasks)
    assert len(starts) == 12
    assert _most_in_any_window(starts, 60 * NS) == 2


async def test_throttle_pause_holds_every_caller() -> None:
    clock = VirtualClock()
    throttle = Throttle(_limiter(clock, 50, 60), concurrency=8)
    throttle.pause(30)
    starts: list[int] = []

    async def call() -> None:
        async with throttle:
            starts.append(clock.now_ns)

    tasks = [asyncio.create_task(call()) for _ in range(3)]
    await clock.run(40)
    assert starts == [30 * NS, round(31.2 * NS), round(32.4 * NS)]
    await asyncio.gather(*tasks)


async def test_throttle_frees_the_slot_of_a_caller_cancelled_while_waiting_for_a_token() -> None:
    clock = VirtualClock()
    throttle = Throttle(_limiter(clock, 50, 60), concurrency=1)
    throttle.pause(30)
    waiting = asyncio.create_task(throttle.__aenter__())
    await clock.run(1)
    waiting.cancel()
    await clock.run(1)
    starts: list[int] = []

    async def call() -> None:
        async with throttle:
            starts.append(clock.now_ns)

    task = asyncio.create_task(call())
    await clock.run(40)
    await task
    assert starts == [30 * NS]


def test_throttle_for_connection_reads_rate_and_concurrency() -> None:
    limited = Throttle.for_connection(
        TargetConnection(type="talentlms", rate_limit="50/min", concurrency=2)
    )
    assert limited.limiter.interval == 1.2
    assert limited.concurrency == 2
    assert Throttle.for_connection(TargetConnection(type="scim")).limiter.interval == 0


async def test_real_clock_paces_calls() -> None:
    """The default clock and sleep work together (a few milliseconds of real time)."""
    limiter = RateLimiter(2, 0.02)
    begun = time.monotonic()
    for _ in range(3):
        await limiter.acquire()
    assert time.monotonic() - begun >= 0.02
