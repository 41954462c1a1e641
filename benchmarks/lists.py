"""Filters with new strings and unfiltered lists, by tenant size, in process (issue 11).

Serial requests straight into the ASGI app (no sockets, no uvicorn): per request, the
wall-clock latency (p50) and the CPU time of this process (``time.process_time``), which
a busy machine disturbs far less than wrk's throughput. The bare starlette app
(benchmarks.bare) is driven the same way, so ``filter-unique`` can be read as a share
of it: bare CPU per request / scimgw CPU per request.

Scenarios: ``list`` (``GET /Users?count=100``), ``search`` (``POST /Users/.search``
without a filter, count 100), ``filter-unique`` (``userName eq`` with a new string each
time, as benchmarks/lua/filter_unique.lua). The SQLite databases are the cached ones of
``benchmarks.run`` (benchmarks/results/); the PostgreSQL ones are ``scimgw_lists_<n>``,
seeded once and kept until ``--drop``.

    python -m benchmarks.lists --sizes 10000,100000,1000000 --engines sqlite,postgresql
"""

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
import sqlalchemy as sa

from benchmarks import bare, databases
from benchmarks.report import VERDICTS
from benchmarks.run import RESULTS
from benchmarks.seed import count_users, user_name
from benchmarks.servers import CONFIG
from gateway.app import create_app
from gateway.config import load_config
from gateway.settings import Settings
from gateway.store.database import create_engine

#: Issue 11, goal 5: a page's p50 at 1M users at most this many times its p50 at 10k.
FLAT_GOAL = 1.5

SEARCH_BODY = orjson.dumps(
    {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 100}
)
Request = tuple[str, str, bytes, bytes]  # method, path, query string, body


def scramble(text: str) -> str:
    """``text`` with its letters in random case: a filter string never sent before."""
    return "".join(c.upper() if random.random() < 0.5 else c for c in text)


def filter_unique(users: int) -> Request:
    name = scramble(user_name(random.randrange(users)))
    query = "filter=" + quote(f'userName eq "{name}"')
    return ("GET", "/scim/v2/Users", query.encode(), b"")


SCENARIOS: dict[str, Callable[[int], Request]] = {
    "list": lambda _n: ("GET", "/scim/v2/Users", b"count=100", b""),
    "search": lambda _n: ("POST", "/scim/v2/Users/.search", b"", SEARCH_BODY),
    "filter-unique": filter_unique,
}


async def call(app: Any, request: Request, token: str) -> tuple[int, bytes]:
    """One request through the ASGI app; its status and body."""
    method, path, query, body = request
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/scim+json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def measure(
    app: Any, make: Callable[[], Request], token: str, requests: int, check: bytes
) -> dict[str, float]:
    """Serial requests: p50 wall latency (ms) and mean CPU per request (µs)."""
    for _ in range(min(50, requests)):  # warm-up: statements, plans, caches
        await call(app, make(), token)
    walls = []
    cpu = time.process_time()
    for _ in range(requests):
        request = make()
        started = time.perf_counter()
        status, body = await call(app, request, token)
        walls.append(time.perf_counter() - started)
        if status != 200 or check not in body:
            raise RuntimeError(f"{request}: {status} {body[:300]!r}")
    cpu = time.process_time() - cpu
    return {
        "p50_ms": round(statistics.median(walls) * 1000, 3),
        "cpu_us": round(cpu / requests * 1e6, 1),
    }


def postgres_database(users: int, config: Any) -> str:
    """A PostgreSQL database seeded with ``users`` users, reused when it has them."""
    name = f"scimgw_lists_{users}"
    url = databases.POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    admin = create_engine(databases.POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).first()
            if exists:
                engine = create_engine(url)
                try:
                    if count_users(engine, databases.TENANT) == users:
                        return url
                except sa.exc.DBAPIError:
                    pass
                finally:
                    engine.dispose()
                connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    finally:
        admin.dispose()
    engine = databases.prepare(url, config, users)
    with engine.begin() as connection:  # as autovacuum would, before measuring
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return url


def drop_postgres(sizes: list[int]) -> None:
    admin = create_engine(databases.POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for users in sizes:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS scimgw_lists_{users}")
    finally:
        admin.dispose()


def database(engine_name: str, users: int, config: Any) -> str:
    if engine_name == "sqlite":
        url, reused = databases.cached_sqlite(RESULTS, config, users)
        return url
    return postgres_database(users, config)


async def run_size(
    url: str, users: int, scenarios: list[str], requests: int
) -> dict[str, dict[str, float]]:
    config = load_config(CONFIG)
    engine = create_engine(url)
    app = create_app(Settings(database_url=url, run_worker=False), engine, config)
    token = databases.new_token(url)
    results = {}
    try:
        async with app.router.lifespan_context(app):
            for name in scenarios:
                make = SCENARIOS[name]
                check = b'"totalResults":1,' if name == "filter-unique" else b'"itemsPerPage":100'
                results[name] = await measure(app, lambda m=make: m(users), token, requests, check)
                if name != "filter-unique":
                    status, body = await call(app, make(users), token)
                    total = orjson.loads(body)["totalResults"]
                    if total != users:
                        raise RuntimeError(f"totalResults {total}, expected {users}")
    finally:
        engine.dispose()
    return results


async def bare_cpu(requests: int) -> dict[str, float]:
    path = f"/scim/v2/Users/{bare.USER_ID}"
    return await measure(bare.app, lambda: ("GET", path, b"", b""), "", requests, b"userName")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--drop", action="store_true", help="drop the PostgreSQL databases")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.drop:
        drop_postgres(sizes)
        return
    config = load_config(CONFIG)
    scenarios = args.scenarios.split(",")
    base = asyncio.run(bare_cpu(args.requests * 4))
    print(f"bare starlette: {base}", flush=True)
    p50s: dict[tuple[str, str], dict[int, float]] = {}
    for engine_name in args.engines.split(","):
        for users in sizes:
            started = time.perf_counter()
            url = database(engine_name, users, config)
            print(f"{engine_name} {users:,} users ready in {time.perf_counter() - started:.0f}s")
            measured = asyncio.run(run_size(url, users, scenarios, args.requests))
            for name, figures in measured.items():
                p50s.setdefault((engine_name, name), {})[users] = figures["p50_ms"]
                share = f"{base['cpu_us'] / figures['cpu_us']:.0%} of bare CPU"
                print(
                    f"  {name:14} p50 {figures['p50_ms']:7.3f} ms"
                    f"  cpu {figures['cpu_us']:7.1f} µs ({share})",
                    flush=True,
                )
    _verdicts(p50s)


def _verdicts(p50s: dict[tuple[str, str], dict[int, float]]) -> None:
    """Issue 11, goal 5: an unfiltered page's p50 at the largest size measured at most
    1.5 times its p50 at the smallest, on each engine."""
    for (engine_name, name), by_size in p50s.items():
        if name == "filter-unique" or len(by_size) < 2:
            continue
        small, large = min(by_size), max(by_size)
        ratio = by_size[large] / by_size[small]
        verdict = VERDICTS[ratio <= FLAT_GOAL]
        print(
            f"goal 11.5, {engine_name} {name}: p50 at {large:,} / p50 at {small:,} users"
            f" = {ratio:.2f} (<= {FLAT_GOAL}), {verdict}"
        )


if __name__ == "__main__":
    main()
