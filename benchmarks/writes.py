"""CPU and database work per request, in-process: ``python -m benchmarks.writes``.

wrk on a shared two-core machine is noisy; the CPU time a request costs is not. This drives
the ASGI app directly (no sockets, no uvicorn: their cost is the same for every endpoint)
and reports, per request of each scenario (POST, PATCH active, GET, filter ``userName eq``)
on SQLite and on PostgreSQL (127.0.0.1:5432, when it answers):

- ``cpu_ms``: process CPU time (``time.process_time``) over N sequential requests, after a
  warm-up; the median of ``--rounds`` rounds. On PostgreSQL this includes the driver and
  the thread hand-offs, not the server's own CPU;
- ``wall_ms``: wall time per request, one at a time (on PostgreSQL, the round trips);
- ``statements``: what the database receives per request, BEGIN and COMMIT included
  (SQLite's trace callback; on PostgreSQL libpq's protocol trace, counting each ``Query``
  or ``Sync`` message: one round trip each);
- ``threads``: thread hand-offs (``anyio.to_thread.run_sync`` or a thread pool's
  ``submit``) per request;
- ``connects``: new database connections per request, under 32 concurrent requests (the
  pool's churn: a connection closed on return is opened again by a later request);
- ``rps_32``: requests per second with 32 in flight (wall clock: noisy on a busy machine;
  on PostgreSQL it shows the round trips and thread hand-offs that CPU time does not).

    python -m benchmarks.writes --requests 2000 --rounds 3
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from benchmarks import databases
from benchmarks.seed import user_name
from benchmarks.servers import CONFIG
from gateway.app import create_app
from gateway.config import load_config
from gateway.settings import Settings
from gateway.store.database import create_engine

SEED_USERS = 1000
POSTGRES_DATABASE = "scimgw_writes_bench"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

Call = Callable[[str, str, bytes], Awaitable[tuple[int, bytes]]]


@dataclass
class Counters:
    """What one pass counted; ``statements`` only when tracing was on."""

    statements: int = 0
    threads: int = 0
    connects: int = 0


@dataclass
class Scenario:
    """A request to send N times: method, path and body of request number ``n``."""

    name: str
    method: str
    request: Callable[[int, list[str]], tuple[str, bytes]]
    expect: int = 200
    rows: dict[str, Any] = field(default_factory=dict)


def _post(n: int, _ids: list[str]) -> tuple[str, bytes]:
    name = f"bench-{uuid.uuid4().hex[:12]}-{n}"
    body = {
        "schemas": [CORE, ENTERPRISE],
        "userName": f"{name}@example.com",
        "name": {"givenName": "Bench", "familyName": name},
        "displayName": f"Bench {name}",
        "active": True,
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
        ENTERPRISE: {"employeeNumber": name},
    }
    return "/scim/v2/Users", orjson.dumps(body)


#: The ``active`` each user's next PATCH sets: every PATCH flips it, so each is a change
#: (half are deactivations; the first of a seeded leaver's is not).
ACTIVE: dict[str, bool] = {}


def _patch(n: int, ids: list[str]) -> tuple[str, bytes]:
    user = ids[n % len(ids)]
    ACTIVE[user] = not ACTIVE.get(user, True)
    operation = {"op": "replace", "path": "active", "value": ACTIVE[user]}
    body = {"schemas": [PATCH_OP], "Operations": [operation]}
    return f"/scim/v2/Users/{user}", orjson.dumps(body)


def _get(n: int, ids: list[str]) -> tuple[str, bytes]:
    return f"/scim/v2/Users/{ids[n % len(ids)]}", b""


def _filter(n: int, _ids: list[str]) -> tuple[str, bytes]:
    return f'/scim/v2/Users?filter=userName eq "{user_name(n % SEED_USERS)}"', b""


SCENARIOS = (
    Scenario("POST /Users", "POST", _post, 201),
    Scenario("PATCH active", "PATCH", _patch),
    Scenario("GET /Users/{id}", "GET", _get),
    Scenario("filter userName eq", "GET", _filter),
)


def client(app: Any, token: str) -> Call:
    """An ASGI caller: method, path (with query) and body in, status and body out."""
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/scim+json"),
        (b"host", b"bench"),
    ]

    async def call(method: str, target: str, body: bytes) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.replace(" ", "%20").replace('"', "%22").encode(),
            "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1),
            "server": ("bench", 80),
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

    return call


async def _run(call: Call, scenario: Scenario, ids: list[str], start: int, count: int) -> None:
    for n in range(start, start + count):
        path, body = scenario.request(n, ids)
        status, answer = await call(scenario.method, path, body)
        if status != scenario.expect:
            raise RuntimeError(f"{scenario.name}: {status} {answer[:300]!r}")


async def _concurrent(
    call: Call, scenario: Scenario, ids: list[str], start: int, count: int, width: int
) -> None:
    share = count // width
    await asyncio.gather(
        *(_run(call, scenario, ids, start + i * share, share) for i in range(width))
    )


@contextmanager
def counting(engine: Engine, counters: Counters, trace: bool) -> Iterator[None]:
    """Count thread hand-offs and new connections (and statements, when ``trace``)."""
    original = anyio.to_thread.run_sync
    submit = ThreadPoolExecutor.submit

    async def run_sync(*args: Any, **kwargs: Any) -> Any:
        counters.threads += 1
        return await original(*args, **kwargs)

    def submitted(self: ThreadPoolExecutor, *args: Any, **kwargs: Any) -> Any:
        counters.threads += 1
        return submit(self, *args, **kwargs)

    def connected(dbapi: Any, _record: Any) -> None:
        counters.connects += 1
        if trace:
            _trace(engine, dbapi, counters)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
    ThreadPoolExecutor.submit = submitted  # type: ignore[method-assign]
    sa.event.listen(engine, "connect", connected)
    try:
        yield
    finally:
        anyio.to_thread.run_sync = original
        ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
        sa.event.remove(engine, "connect", connected)


def _trace(engine: Engine, dbapi: Any, counters: Counters) -> None:
    if engine.dialect.name == "sqlite":

        def statement(_sql: str) -> None:
            counters.statements += 1

        dbapi.set_trace_callback(statement)
    else:
        _trace_pq(dbapi)


def _trace_pq(dbapi: Any) -> None:
    """libpq writes each protocol message of the connection to a file."""
    handle = tempfile.NamedTemporaryFile("w+", prefix="pqtrace-", delete=False)  # noqa: SIM115
    dbapi.pgconn.trace(handle.fileno())
    KEEP.append((handle, dbapi))


KEEP: list[Any] = []


def _round_trips() -> int:
    """Query and Sync messages the client sent (each waits for the server's answer) since
    the last call; the open connections go on being traced, into new files."""
    kept = list(KEEP)
    KEEP.clear()
    total = 0
    for handle, dbapi in kept:
        if not dbapi.closed:
            dbapi.pgconn.untrace()  # flushes libpq's buffer
        handle.close()
        for line in Path(handle.name).read_text().splitlines():
            parts = line.split("\t")
            if len(parts) > 3 and parts[1] == "F" and parts[3] in ("Query", "Sync"):
                total += 1
        Path(handle.name).unlink(missing_ok=True)
        if not dbapi.closed:
            _trace_pq(dbapi)
    return total


def fresh_engine(url: str) -> Engine:
    """A new engine: connections opened now count, and the statement trace is on them."""
    return create_engine(url)


async def measure(
    url: str,
    token: str,
    ids: list[str],
    requests: int,
    rounds: int,
    scenarios: tuple[Scenario, ...] = SCENARIOS,
) -> dict[str, dict[str, float]]:
    """Each scenario's figures per request on the database at ``url``."""
    config = load_config(CONFIG)
    results: dict[str, dict[str, float]] = {}
    offset = 0
    for scenario in scenarios:
        row: dict[str, float] = {}
        # 1. Counting pass on a fresh app: statements and thread hand-offs, one at a time.
        engine = fresh_engine(url)
        counters = Counters()
        with counting(engine, counters, trace=True):
            app = create_app(Settings(database_url=url), engine, config)
            call = client(app, token)
            await _run(call, scenario, ids, offset, 20)  # warm: statements compiled
            offset += 20
            counters.statements = 0
            counters.threads = 0
            _round_trips()
            counted = 50
            await _run(call, scenario, ids, offset, counted)
            offset += counted
            if engine.dialect.name != "sqlite":
                counters.statements = _round_trips()
        row["statements"] = counters.statements / counted
        row["threads"] = counters.threads / counted
        engine.dispose()
        # 2. CPU and wall time, one request at a time, on a fresh app.
        engine = fresh_engine(url)
        app = create_app(Settings(database_url=url), engine, config)
        call = client(app, token)
        await _run(call, scenario, ids, offset, 100)
        offset += 100
        cpu, wall = [], []
        for _ in range(rounds):
            started_cpu, started = time.process_time(), time.perf_counter()
            await _run(call, scenario, ids, offset, requests)
            offset += requests
            cpu.append((time.process_time() - started_cpu) * 1000 / requests)
            wall.append((time.perf_counter() - started) * 1000 / requests)
        row["cpu_ms"] = round(statistics.median(cpu), 3)
        row["wall_ms"] = round(statistics.median(wall), 3)
        # 3. 32 at a time: how many connections the pool opens (after its first 32).
        counters = Counters()
        await _concurrent(call, scenario, ids, offset, 320, 32)
        offset += 320
        with counting(engine, counters, trace=False):
            started = time.perf_counter()
            await _concurrent(call, scenario, ids, offset, requests, 32)
            row["rps_32"] = requests / (time.perf_counter() - started)
            offset += requests
        row["connects"] = counters.connects / requests
        engine.dispose()
        results[scenario.name] = {k: round(v, 3 if k != "rps_32" else None) for k, v in row.items()}
        print(f"  {scenario.name:<20} {results[scenario.name]}", flush=True)
    return results


def _ids(url: str) -> list[str]:
    path = Path(tempfile.gettempdir()) / f"writes-ids-{os.getpid()}.txt"
    try:
        return databases.export_ids(url, path).read_text().split()
    finally:
        path.unlink(missing_ok=True)


def sqlite_database(directory: Path) -> str:
    return databases.fresh_sqlite(directory / "writes.db", load_config(CONFIG), SEED_USERS)


def postgres_database() -> str:
    admin = create_engine(databases.POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)")
            connection.exec_driver_sql(f"CREATE DATABASE {POSTGRES_DATABASE}")
    finally:
        admin.dispose()
    url = databases.POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{POSTGRES_DATABASE}"
    databases.prepare(url, load_config(CONFIG), SEED_USERS).dispose()
    return url


def drop_postgres() -> None:
    admin = create_engine(databases.POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)")
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="sqlite,postgresql")
    names = ",".join(s.name.split()[0].lower() for s in SCENARIOS)
    parser.add_argument("--scenarios", default=names, help=f"of {names}")
    args = parser.parse_args()
    chosen = args.scenarios.split(",")
    scenarios = tuple(s for s in SCENARIOS if s.name.split()[0].lower() in chosen)
    engines = args.engines.split(",")
    output: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        if "sqlite" in engines:
            print("SQLite", flush=True)
            url = sqlite_database(Path(directory))
            token = databases.new_token(url)
            output["sqlite"] = asyncio.run(
                measure(url, token, _ids(url), args.requests, args.rounds, scenarios)
            )
    if "postgresql" in engines:
        print("PostgreSQL", flush=True)
        ACTIVE.clear()
        try:
            url = postgres_database()
        except Exception as exc:  # no server: SQLite alone
            print(f"  skipped: {exc}")
        else:
            try:
                token = databases.new_token(url)
                output["postgresql"] = asyncio.run(
                    measure(url, token, _ids(url), args.requests, args.rounds, scenarios)
                )
            finally:
                drop_postgres()
    _table(output)


def _table(output: dict[str, Any]) -> None:
    columns = ("cpu_ms", "wall_ms", "rps_32", "statements", "threads", "connects")
    print(f"\n| engine | request | {' | '.join(columns)} |")
    print(f"|---|---|{'---:|' * len(columns)}")
    for engine, rows in output.items():
        for name, row in rows.items():
            print(f"| {engine} | {name} | {' | '.join(str(row[c]) for c in columns)} |")


if __name__ == "__main__":
    main()
