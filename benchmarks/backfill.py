"""Backfill benchmark (issue 12): ``python -m benchmarks.backfill``.

N users (10,000) exist before a webhook connection is added. One target run
(provisioning.accounts.TargetRunner, what ``scimgw sync`` and a schedule start) enqueues
their load events (priority 3) while ONE worker, in the same process as the embedded
worker runs, delivers to a sink in its own process (benchmarks/slow_target.py, real
sockets, answers after 20 ms) at the connection's rate limit. Meanwhile a live PATCH of a
random user arrives every 0.5 s through ``ResourceService`` (as a SCIM request would).

Reported: the run's time to enqueue, the time until the last load is delivered and the
rate the sink saw during the backfill (against the configured limit), and the latency of
the live changes, from their commit (the outbox row's ``created``) to their settlement
(its ``finished``): p50, p95, max.

SQLite by default; ``--postgres`` uses 127.0.0.1:5432.
"""

import argparse
import asyncio
import contextlib
import gc
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.delivery import _database, _seed, _sink
from gateway import logs
from gateway.config.file import parse_config
from gateway.scim.dialects import POLICY
from gateway.scim.kinds import USER
from gateway.service import ResourceService
from gateway.store.database import create_engine
from gateway.store.migrations import upgrade
from gateway.store.tables import OutboxEvent, UserRow
from provisioning.accounts import TargetRunner
from provisioning.engine import Worker
from provisioning.records import runs
from provisioning.targets import build_targets

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
users = UserRow.__table__  # type: ignore[attr-defined]
LOADS = 3


def _config(url: str, rate: str, concurrency: int) -> dict[str, Any]:
    connection = {
        "type": "webhook",
        "base_url": url,
        "options": {"secret": "${BENCH_HOOK_SECRET}", "path": "/hooks"},
        "concurrency": concurrency,
        "rate_limit": rate,
    }
    return {"tenants": {"bench": {"connections": {"sink": connection}}}}


async def _live_changes(
    service: ResourceService, ids: list[str], every: float, stop: asyncio.Event
) -> int:
    """A PATCH of a random user every ``every`` seconds until stopped; returns the count."""
    count = 0
    while not stop.is_set():
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "name.givenName", "value": f"Live{count}"}],
        }
        await asyncio.to_thread(service.patch, "bench", USER, random.choice(ids), body)
        count += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return count


def _loads_left(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).where(
                    outbox.c.priority == LOADS, outbox.c.status.in_(("pending", "inflight"))
                )
            ).scalar_one()
        )


def _live_latencies(engine: sa.Engine) -> list[float]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(outbox.c.created, outbox.c.finished).where(outbox.c.priority < LOADS)
        ).all()
    return [(finished - created).total_seconds() for created, finished in rows if finished]


async def _backfill(
    database_url: str, raw: dict[str, Any], every: float, sink_url: str
) -> dict[str, Any]:
    engine = create_engine(database_url)
    config = parse_config(raw)
    with engine.connect() as connection:
        ids = list(connection.execute(sa.select(users.c.id)).scalars())
    targets = build_targets(config, engine.dialect.name)
    worker = Worker(engine, targets, poll_interval=0.05)
    service = ResourceService(engine, config, policy=POLICY)
    stop, live_stop = asyncio.Event(), asyncio.Event()
    arrivals_before = len(httpx.get(f"{sink_url}/arrivals").json())
    delivering = asyncio.create_task(worker.run(stop))
    live = asyncio.create_task(_live_changes(service, ids, every, live_stop))
    started = time.perf_counter()
    request = runs.RunRequest("bench", "sink", trigger="manual")
    outcome = await TargetRunner(engine, config)(request)
    enqueued = time.perf_counter() - started
    while await asyncio.to_thread(_loads_left, engine):
        await asyncio.sleep(0.2)
    finished = time.perf_counter() - started
    live_stop.set()
    changes = await live
    await asyncio.sleep(2)  # the last live change's delivery
    stop.set()
    await delivering
    for target in targets:
        await target.aclose()
    arrivals = httpx.get(f"{sink_url}/arrivals").json()[arrivals_before:]
    latencies = sorted(_live_latencies(engine))
    engine.dispose()
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0
    return {
        "outcome": outcome,
        "enqueued_s": enqueued,
        "finished_s": finished,
        "requests": len(arrivals),
        "observed_rate": (len(arrivals) - 1) / span if span else float("inf"),
        "live_changes": changes,
        "latencies": latencies,
    }


async def _enqueue_only(database_url: str, raw: dict[str, Any]) -> tuple[float, float, Any]:
    """The run alone (no worker, no live changes): wall and CPU seconds of this process
    (SQLite works in-process, so its CPU is counted; PostgreSQL's server is not)."""
    engine = create_engine(database_url)
    config = parse_config(raw)
    gc.freeze()  # as scimgw serve's lifespan does: what exists at start is never walked
    lags: list[float] = []
    ticker = asyncio.create_task(_ticker(lags))
    started, cpu = time.perf_counter(), time.process_time()
    outcome = await TargetRunner(engine, config)(runs.RunRequest("bench", "sink"))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    ticker.cancel()
    engine.dispose()
    lags.sort()
    print(
        f"event loop lag during the run (1 ms ticker): p99 {_percentile(lags, 0.99) * 1000:.1f}"
        f" ms, max {max(lags, default=0) * 1000:.1f} ms"
    )
    return elapsed, cpu, outcome


async def _ticker(lags: list[float]) -> None:
    """How late a 1 ms sleep wakes up: what the run costs the loop it shares."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - before - 0.001)


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(share * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", default="200/s", help="the connection's rate limit")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--live-every", type=float, default=0.5, help="seconds between PATCHes")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--enqueue-only", action="store_true", help="time the run alone: CPU per user"
    )
    args = parser.parse_args()
    os.environ.setdefault("BENCH_HOOK_SECRET", "bench-secret")
    logs.configure("warning")
    directory = Path(tempfile.mkdtemp(prefix="scimgw-backfill-"))
    sink, url = _sink(args.delay_ms)
    try:
        database = _database(args.postgres, directory, "backfill")
        upgrade(database)
        seeded = time.perf_counter()
        _seed(database, {"tenants": {"bench": {}}}, args.users)  # before the connection
        print(f"seeded {args.users} users in {time.perf_counter() - seeded:.1f} s")
        raw = _config(url, args.rate, args.concurrency)
        if args.enqueue_only:
            elapsed, cpu, outcome = asyncio.run(_enqueue_only(database, raw))
            print(f"run: {outcome.status}, {dict(outcome.counts)}; {outcome.message}")
            print(
                f"run alone: {elapsed:.2f} s wall, {cpu:.2f} s CPU = "
                f"{cpu / args.users * 1e6:.0f} µs CPU per user"
            )
            return
        result = asyncio.run(_backfill(database, raw, args.live_every, url))
    finally:
        sink.terminate()
        sink.wait()
    _print(args, result)


def _print(args: argparse.Namespace, result: dict[str, Any]) -> None:
    outcome, latencies = result["outcome"], result["latencies"]
    print(f"run: {outcome.status}, {dict(outcome.counts)}; {outcome.message}")
    print(
        f"enqueued in {result['enqueued_s']:.1f} s; last load delivered after "
        f"{result['finished_s']:.1f} s; {result['requests']} requests at "
        f"{result['observed_rate']:.1f}/s observed at the target (limit {args.rate})"
    )
    print(
        f"live changes: {result['live_changes']} PATCHes, {len(latencies)} delivered; latency "
        f"p50 {_percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p95 {_percentile(latencies, 0.95) * 1000:.0f} ms, "
        f"max {max(latencies, default=float('nan')) * 1000:.0f} ms; "
        f"mean {statistics.fmean(latencies) * 1000 if latencies else float('nan'):.0f} ms"
    )


if __name__ == "__main__":
    main()
