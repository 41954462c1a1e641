"""Bulk benchmark, in process: ``python -m benchmarks.bulk [--postgres] [--profile]``.

One Bulk request of 1,000 independent creates (each user's manager an existing user) and
one chain of 1,000 (each user's manager the previous operation's ``bulkId``), sent through
the ASGI app (no sockets: the figure is the server's own work) on a fresh SQLite file or
PostgreSQL database (127.0.0.1:5432). Reported per request: wall seconds, CPU seconds of
this process (``time.process_time``, steadier than wall time on a shared machine) and
operations per second; ``--rounds`` rounds, medians. The rate of POST at 32 connections
to compare with comes from the wrk run (``benchmarks.run``), on the same machine.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.limits import CORE, bulk_creates
from gateway.app import create_app
from gateway.auth.tokens import create_token
from gateway.config.file import parse_config
from gateway.settings import Settings
from gateway.store.database import create_engine
from gateway.store.migrations import upgrade

SCIM = "application/scim+json"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OPERATIONS = 1000


def _database(postgres: bool, scratch: Path) -> str:
    if not postgres:
        return f"sqlite:///{scratch}/bulk.db"
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS bench_bulk WITH (FORCE)")
        connection.exec_driver_sql("CREATE DATABASE bench_bulk")
    admin.dispose()
    return "postgresql://postgres@127.0.0.1:5432/bench_bulk"


async def _rounds(url: str, rounds: int, operations: int) -> dict[str, Any]:
    engine = create_engine(url)
    settings = {"bulk_max_operations": operations, "bulk_max_depth": operations}
    config = parse_config({"server": settings, "tenants": {"acme": {}}})
    app = create_app(Settings(), engine, config)
    token = create_token(engine, "acme", "bench")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM}
    transport = httpx.ASGITransport(app=app)
    samples: dict[str, list[tuple[float, float]]] = {"independent": [], "chain": []}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench/scim/v2", headers=headers, timeout=600
    ) as client:
        boss = {"schemas": [CORE], "userName": f"boss-{uuid.uuid4().hex[:8]}"}
        manager = (await client.post("/Users", json=boss)).json()["id"]
        for _ in range(rounds):
            for label, samples_of in samples.items():
                payload = bulk_creates(operations, None if label == "chain" else manager)
                wall, cpu = time.perf_counter(), time.process_time()
                response = await client.post("/Bulk", json=payload)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                answer = response.json()
                assert response.status_code == 200, answer
                assert {o["status"] for o in answer["Operations"]} == {"201"}, answer
                samples_of.append((wall, cpu))
    engine.dispose()
    return {label: _summary(s, operations) for label, s in samples.items()}


def _summary(samples: list[tuple[float, float]], operations: int) -> dict[str, float]:
    wall = statistics.median(w for w, _ in samples)
    cpu = statistics.median(c for _, c in samples)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "ops_per_s": round(operations / wall),
        "ops_per_cpu_s": round(operations / cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--operations", type=int, default=OPERATIONS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = _database(args.postgres, Path(scratch))
        upgrade(url)
        result = asyncio.run(_rounds(url, args.rounds, args.operations))
    result["chain_ratio_wall"] = round(
        result["chain"]["wall_s"] / result["independent"]["wall_s"], 2
    )
    result["engine"] = "postgresql" if args.postgres else "sqlite"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
