"""Worker delivery benchmark: ``python -m benchmarks.delivery``.

1. throughput: N users are seeded through the store (one outbox row each for a webhook
   connection), then ONE worker delivers them to a sink that answers every request after
   50 ms (benchmarks/slow_target.py, its own process, real sockets). Reported: events/s
   from the first claim to the last settlement. With ``--workers N`` (PostgreSQL), N
   worker processes share the outbox, each with the connection's concurrency.
2. yardstick: a bare aiohttp client sends the same number of the very same request (the
   first one the sink received: body and headers) to the same sink at the same
   concurrency. Reported: its events/s, and the worker's as a share of it: what the
   worker's own work costs, whatever the machine (issue 11, goal 3).
3. verdicts of issue 11's goal 3: one worker at >= 60 % of the yardstick on SQLite,
   >= 50 % on PostgreSQL; with ``--workers N``, a one-worker SQLite run follows in the
   same run and N workers on PostgreSQL must reach >= 90 % of it.
4. rate: the same with ``rate_limit`` set; reported: the rate the sink saw arrive.

SQLite by default (the embedded worker's store); ``--postgres`` uses 127.0.0.1:5432.
"""

import argparse
import asyncio
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import sqlalchemy as sa

from benchmarks.report import VERDICTS
from gateway import logs
from gateway.auth.tokens import ensure_tenant
from gateway.config.file import parse_config
from gateway.scim.dialects import POLICY
from gateway.scim.kinds import USER
from gateway.service import ResourceService
from gateway.store.database import create_engine
from gateway.store.migrations import upgrade
from gateway.store.tables import OutboxEvent
from provisioning.engine import Worker
from provisioning.targets import build_targets

#: Issue 11, goal 3: one worker's events/s as a share of the yardstick's, on each engine,
#: and several workers on PostgreSQL as a share of one worker on SQLite.
SQLITE_GOAL, POSTGRES_GOAL, WORKERS_GOAL = 0.6, 0.5, 0.9


def _verdict(goal: str, value: float, threshold: float) -> None:
    print(f"goal 11.3, {goal}: {value:.1%}, {VERDICTS[value >= threshold]}")


def _throughput(
    postgres: bool, directory: Path, url: str, events: int, concurrency: int, workers: int
) -> float:
    """Events per second delivered to the sink at ``url`` from a freshly seeded outbox."""
    database = _database(postgres, directory, f"throughput_{workers}")
    upgrade(database)
    raw = _config(url, concurrency, None)
    _seed(database, raw, events)
    if workers > 1:
        return events / _deliver_in_processes(database, raw, events, workers)
    return events / asyncio.run(_deliver(database, raw, events))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sink(delay_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "benchmarks.slow_target", str(port), str(delay_ms)]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/arrivals")
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("sink did not start")


def _config(url: str, concurrency: int, rate: str | None) -> dict:  # type: ignore[type-arg]
    connection = {
        "type": "webhook",
        "base_url": url,
        "options": {"secret": "${BENCH_HOOK_SECRET}", "path": "/hooks"},
        "concurrency": concurrency,
    }
    if rate:
        connection["rate_limit"] = rate
    return {"tenants": {"bench": {"connections": {"sink": connection}}}}


def _seed(database_url: str, raw: dict, users: int) -> None:  # type: ignore[type-arg]
    engine = create_engine(database_url)
    ensure_tenant(engine, "bench", "")
    service = ResourceService(engine, parse_config(raw), policy=POLICY)
    for n in range(users):
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"user{n}@bench.test",
            "emails": [{"value": f"user{n}@bench.test", "type": "work"}],
            "name": {"givenName": f"U{n}", "familyName": "Bench"},
        }
        service.create("bench", USER, body)
    engine.dispose()


def _done(engine: sa.Engine) -> int:
    outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).where(outbox.c.status == "done")
        return int(connection.execute(query).scalar_one())


async def _deliver(database_url: str, raw: dict, events: int) -> float:  # type: ignore[type-arg]
    engine = create_engine(database_url)
    targets = build_targets(parse_config(raw), engine.dialect.name)
    worker = Worker(engine, targets, poll_interval=0.05)
    stop = asyncio.Event()
    started, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(worker.run(stop))
    while True:
        await asyncio.sleep(0.1)
        if _done(engine) >= events:
            break
    elapsed = time.perf_counter() - started
    # CPU of this process (the worker and its store threads) per event: steadier than
    # events/s on a shared machine.
    print(f"worker CPU: {(time.process_time() - cpu) / events * 1000:.2f} ms per event")
    stop.set()
    await task
    for target in targets:
        await target.aclose()
    engine.dispose()
    return elapsed


def _deliver_in_processes(database_url: str, raw: dict, events: int, workers: int) -> float:  # type: ignore[type-arg]
    """``workers`` worker processes, started together once each is ready."""
    context = multiprocessing.get_context("fork")  # before any event loop or connection
    ready = [context.Event() for _ in range(workers)]
    go, stop = context.Event(), context.Event()
    processes = [
        context.Process(target=_worker_process, args=(database_url, raw, up, go, stop))
        for up in ready
    ]
    for process in processes:
        process.start()
    for up in ready:
        up.wait(60)
    engine = create_engine(database_url)
    started = time.perf_counter()
    go.set()
    while _done(engine) < events:
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    stop.set()
    for process in processes:
        process.join(60)
    engine.dispose()
    return elapsed


def _worker_process(
    database_url: str,
    raw: dict,  # type: ignore[type-arg]
    ready: ProcessEvent,
    go: ProcessEvent,
    stop: ProcessEvent,
) -> None:
    asyncio.run(_serve(database_url, raw, ready, go, stop))


async def _serve(
    database_url: str,
    raw: dict,  # type: ignore[type-arg]
    ready: ProcessEvent,
    go: ProcessEvent,
    stop: ProcessEvent,
) -> None:
    engine = create_engine(database_url)
    targets = build_targets(parse_config(raw), engine.dialect.name)
    worker = Worker(engine, targets, poll_interval=0.05)
    ready.set()
    while not go.is_set():
        await asyncio.sleep(0.005)
    stopping = asyncio.Event()
    task = asyncio.create_task(worker.run(stopping))
    while not stop.is_set():
        await asyncio.sleep(0.05)
    stopping.set()
    await task
    for target in targets:
        await target.aclose()
    engine.dispose()


async def _yardstick(url: str, sample: dict[str, Any], events: int, concurrency: int) -> float:
    """Seconds a bare aiohttp client takes to send ``events`` copies of the worker's
    request to the sink, ``concurrency`` at a time."""
    body = str(sample["body"]).encode()
    skipped = {"host", "content-length", "connection", "transfer-encoding"}
    headers = {k: v for k, v in sample["headers"].items() if k.lower() not in skipped}
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send() -> None:
            async with limit, session.post(f"{url}/hooks", data=body, headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status

        started = time.perf_counter()
        await asyncio.gather(*(send() for _ in range(events)))
        return time.perf_counter() - started


def _database(postgres: bool, directory: Path, name: str) -> str:
    if not postgres:
        return f"sqlite:///{directory}/{name}.db"
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS bench_{name}")
        connection.exec_driver_sql(f"CREATE DATABASE bench_{name}")
    return f"postgresql://postgres@127.0.0.1:5432/bench_{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--rate", default="20/s", help="rate limit for the second phase")
    parser.add_argument("--rate-events", type=int, default=300)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL)")
    parser.add_argument("--no-rate", action="store_true", help="skip the rate-limit phase")
    args = parser.parse_args()
    if args.workers > 1 and not args.postgres:
        parser.error("several workers share a PostgreSQL outbox only (--postgres)")
    os.environ.setdefault("BENCH_HOOK_SECRET", "bench-secret")
    logs.configure("info")  # as `scimgw worker` does
    directory = Path(tempfile.mkdtemp(prefix="scimgw-delivery-"))
    sink, url = _sink(args.delay_ms)
    try:
        rate = _throughput(
            args.postgres, directory, url, args.events, args.concurrency, args.workers
        )
        print(
            f"throughput: {args.events} events, {rate:,.0f} events/s "
            f"({args.workers} worker(s), target answers in {args.delay_ms:.0f} ms, "
            f"concurrency {args.concurrency})"
        )
        sample = httpx.get(f"{url}/sample").json()
        bare = args.events / asyncio.run(_yardstick(url, sample, args.events, args.concurrency))
        print(
            f"yardstick: bare aiohttp client {bare:,.0f} events/s at concurrency "
            f"{args.concurrency}; worker {rate / bare:.0%} of it"
        )
        if args.workers == 1:
            goal = POSTGRES_GOAL if args.postgres else SQLITE_GOAL
            engine = "PostgreSQL" if args.postgres else "SQLite"
            _verdict(f"one worker on {engine} >= {goal:.0%} of the yardstick", rate / bare, goal)
        else:
            alone = _throughput(False, directory, url, args.events, args.concurrency, 1)
            print(f"one worker on SQLite, same run: {alone:,.0f} events/s")
            _verdict(
                f"{args.workers} workers on PostgreSQL >= {WORKERS_GOAL:.0%} of one on SQLite",
                rate / alone,
                WORKERS_GOAL,
            )
        if args.no_rate:
            return

        arrivals_before = len(httpx.get(f"{url}/arrivals").json())
        database = _database(args.postgres, directory, "rate")
        upgrade(database)
        raw = _config(url, args.concurrency, args.rate)
        _seed(database, raw, args.rate_events)
        asyncio.run(_deliver(database, raw, args.rate_events))
        arrivals = httpx.get(f"{url}/arrivals").json()[arrivals_before:]
        span = arrivals[-1] - arrivals[0]
        observed = (len(arrivals) - 1) / span if span else float("inf")
        print(
            f"rate limit {args.rate}: {len(arrivals)} requests, "
            f"observed {observed:.2f}/s at the target"
        )
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
