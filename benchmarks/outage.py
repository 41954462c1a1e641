"""Outage benchmark: ``python -m benchmarks.outage [--events 100] [--outage 30] [--no-breaker]``.

N users are seeded (one outbox row each for a webhook connection with the default
settings: concurrency 4, retry policy and circuit breaker), then ONE worker
(``Worker.run``, as ``scimgw worker`` runs it) delivers them to a sink in its own process
(benchmarks/flaky_target.py, real sockets) that answers 503 for ``--outage`` seconds and
then 200. Reported, from the sink's side: requests during the outage, and the time from
the sink's recovery to the last event settled (``done`` in the outbox). ``--no-breaker``
turns the breaker off, for the figures before it.

SQLite by default (the embedded worker's store); ``--postgres`` uses 127.0.0.1:5432.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.delivery import _database, _free_port, _seed
from gateway import logs
from gateway.config.file import parse_config
from gateway.store.database import create_engine
from gateway.store.migrations import upgrade
from gateway.store.tables import OutboxEvent
from provisioning.engine import Worker
from provisioning.targets import build_targets

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]


def _sink() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.flaky_target", str(port)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/stats")
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("sink did not start")


def _config(url: str, breaker: bool) -> dict[str, Any]:
    connection = {
        "type": "webhook",
        "base_url": url,
        "options": {"secret": "${BENCH_HOOK_SECRET}", "path": "/hooks"},
        "breaker": {"enabled": breaker},
    }
    return {"tenants": {"bench": {"connections": {"sink": connection}}}}


def _counts(engine: sa.Engine) -> dict[str, int]:
    query = sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
    with engine.connect() as connection:
        return {status: n for status, n in connection.execute(query)}


def _settled(counts: dict[str, int]) -> int:
    return counts.get("done", 0) + counts.get("dead", 0)


async def _run(
    database_url: str, raw: dict[str, Any], url: str, events: int, outage: float
) -> None:
    engine = create_engine(database_url)
    targets = build_targets(parse_config(raw), engine.dialect.name)
    worker = Worker(engine, targets)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    async with httpx.AsyncClient(base_url=url) as sink:
        await asyncio.sleep(outage)
        await sink.post("/up")
        recovered = time.monotonic()
        while _settled(_counts(engine)) < events:
            await asyncio.sleep(0.1)
        drained = time.monotonic() - recovered
        stats = (await sink.get("/stats")).json()
    stop.set()
    await task
    for target in targets:
        await target.aclose()
    counts = _counts(engine)
    engine.dispose()
    up_at, arrivals = stats["up_at"], stats["arrivals"]
    during = sum(1 for at, _ in arrivals if at < up_at)
    last = max(at for at, status in arrivals if status == 200)
    print(
        f"{events} events, target down {outage:.0f} s: {during} requests during the outage, "
        f"{len(arrivals) - during} after; last delivery {last - up_at:.2f} s after recovery, "
        f"all settled {drained:.2f} s after it; outbox: {counts}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the target is down")
    parser.add_argument("--no-breaker", action="store_true")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("BENCH_HOOK_SECRET", "bench-secret")
    logs.configure("info")  # as `scimgw worker` does
    directory = Path(tempfile.mkdtemp(prefix="scimgw-outage-"))
    sink, url = _sink()
    try:
        database = _database(args.postgres, directory, "outage")
        upgrade(database)
        raw = _config(url, not args.no_breaker)
        _seed(database, raw, args.events)
        asyncio.run(_run(database, raw, url, args.events, args.outage))
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
