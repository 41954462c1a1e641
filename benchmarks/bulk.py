"""Bulk benchmark, in process: ``python -m benchmarks.bulk [--postgres] [--profile]``.

One Bulk request of 1,000 independent creates (each user's manager an existing user) and
one chain of 1,000 (each user's manager the previous operation's ``bulkId``), sent through
the ASGI app (no sockets: the figure is the server's own work) on a fresh SQLite file or
PostgreSQL database (127.0.0.1:5432). Reported per request: wall seconds, CPU seconds of
this process (``time.process_time``, steadier than wall time on a shared machine) and
operations per second; ``--rounds`` rounds, medians.

Issue 11's goal 6: the independent creates at least at the rate of POST at 32
connections (wrk's figure for the same engine in ``benchmarks/results/latest.json``, the
last ``benchmarks.run`` of this sitting), and the chain at most 1.5 times the independent
creates' time. For a comparison within this run, the same documents are also POSTed one
by one, 32 in flight, straight into the same app: without uvicorn's share of a request,
that rate is higher than wrk's, so that comparison is stricter than the goal.
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
import orjson
import sqlalchemy as sa

from benchmarks.limits import CORE, bulk_creates
from benchmarks.report import VERDICTS, find
from benchmarks.writes import client as asgi_client
from gateway.app import create_app
from gateway.auth.tokens import create_token
from gateway.config.file import parse_config
from gateway.settings import Settings
from gateway.store.database import create_engine
from gateway.store.migrations import upgrade

SCIM = "application/scim+json"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OPERATIONS = 1000
#: Goal 6: the chain's time over the independent creates' time, at most.
CHAIN_GOAL = 1.5
#: Where benchmarks.run writes its results.
LATEST_RUN = Path(__file__).parent / "results" / "latest.json"
#: Single POSTs in flight at once, as wrk's 32 connections.
POST_WIDTH = 32


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
        post_rate = await _post_rate(app, token, operations, manager)
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
    result: dict[str, Any] = {label: _summary(s, operations) for label, s in samples.items()}
    result["post_per_s_32"] = round(post_rate)
    return result


async def _post_rate(app: Any, token: str, requests: int, manager: str) -> float:
    """Single POSTs per second, ``POST_WIDTH`` in flight, on the same app and database,
    of the documents the independent Bulk creates."""
    call = asgi_client(app, token)
    documents = [o["data"] for o in bulk_creates(requests, manager)["Operations"]]
    lanes = [documents[i::POST_WIDTH] for i in range(POST_WIDTH)]

    async def lane(bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            status, answer = await call("POST", "/scim/v2/Users", orjson.dumps(body))
            assert status == 201, answer

    started = time.perf_counter()
    await asyncio.gather(*(lane(bodies) for bodies in lanes))
    return len(documents) / (time.perf_counter() - started)


def _summary(samples: list[tuple[float, float]], operations: int) -> dict[str, float]:
    wall = statistics.median(w for w, _ in samples)
    cpu = statistics.median(c for _, c in samples)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "ops_per_s": round(operations / wall),
        "ops_per_cpu_s": round(operations / cpu),
    }


def _wrk_post_rate(engine: str) -> tuple[float, str] | None:
    """POST's req/s at 32 connections on ``engine`` in the last ``benchmarks.run``."""
    try:
        run = json.loads(LATEST_RUN.read_text())
    except (OSError, ValueError):
        return None
    post = find(run.get("scenarios", []), "post", engine)
    if post is None or post["failure"]:
        return None
    return float(post["rps"]), str(run.get("started"))


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
    independent, chain = result["independent"]["ops_per_s"], result["chain_ratio_wall"]
    wrk = _wrk_post_rate(result["engine"])
    if wrk is None:
        print(f"goal 11.6, POST at 32 connections: {VERDICTS[None]} (run benchmarks.run first)")
    else:
        rate, started = wrk
        print(
            f"goal 11.6, {args.operations:,} independent creates at >= the rate of POST at 32 "
            f"connections (wrk, run of {started}): {independent:,} against {rate:,.0f} ops/s, "
            f"{VERDICTS[independent >= rate]}"
        )
    posts = result["post_per_s_32"]
    print(
        f"  within this run, in process (stricter): {independent:,} against {posts:,} single "
        f"POSTs/s of the same documents, {independent / posts:.0%}"
    )
    print(
        f"goal 11.6, the chain <= {CHAIN_GOAL}x the independent creates: {chain}x, "
        f"{VERDICTS[chain <= CHAIN_GOAL]}"
    )


if __name__ == "__main__":
    main()
