"""StoreCaller: SQLite inline on the loop, PostgreSQL in bounded threads."""

import asyncio
import threading
import time

import pytest

from gateway.store.calls import StoreCaller
from gateway.store.database import create_engine

POSTGRES = "postgresql://postgres@127.0.0.1:5432/unused"  # never connected to here


def _thread() -> int:
    return threading.get_ident()


async def test_sqlite_calls_run_on_the_event_loop_thread() -> None:
    caller = StoreCaller(create_engine("sqlite://"))
    assert await caller(_thread) == threading.get_ident()


async def test_postgresql_calls_run_in_another_thread_and_return_or_raise() -> None:
    caller = StoreCaller(create_engine(POSTGRES))
    assert await caller(_thread) != threading.get_ident()
    assert await caller(divmod, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        await caller(divmod, 1, 0)


async def test_a_cancelled_caller_waits_for_the_running_call_to_end() -> None:
    """A client that goes away mid-write: the transaction ends before the task does."""
    caller = StoreCaller(create_engine(POSTGRES))
    started, ended = threading.Event(), threading.Event()

    def write() -> None:
        started.set()
        time.sleep(0.2)
        ended.set()

    task = asyncio.create_task(caller(write))
    while not started.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended.is_set()


async def test_a_caller_with_its_own_threads_runs_no_more_calls_at_once() -> None:
    """The worker's 4 threads: a burst of deliveries never takes the requests' threads."""
    caller = StoreCaller(create_engine(POSTGRES), threads=4)
    lock, running, most = threading.Lock(), [0], [0]
    release = threading.Event()

    def call() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1

    calls = [asyncio.create_task(caller(call)) for _ in range(8)]
    while most[0] < 4:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # a fifth call, were it allowed, would have started by now
    release.set()
    await asyncio.gather(*calls)
    assert most[0] == 4
