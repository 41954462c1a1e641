"""One benchmark run: ``python -m benchmarks.run`` (``make bench``).

1. throughput: the bare baseline, then GET /Users/{id}, filter userName eq (with 1,000
   recurring filter strings, then with unique ones), list count=100, PATCH and POST on a
   fresh SQLite database with 1k users (wrk -t2 -c32), then POST again with three target
   connections (three outbox rows per user), then the baseline again: the ratios use the
   mean of both baseline runs.
2. latency: filter userName eq (unique filter strings) on one connection (wrk -t1 -c1)
   at 1k, 100k and 1M users, in 5 interleaved rounds whose order rotates (medians
   reported), so that a drifting machine speed hits every size alike. The seeded
   databases stay in benchmarks/results/ for later runs.
3. postgres: GET, filter, PATCH, POST and POST with three target connections on a fresh
   PostgreSQL database (127.0.0.1:5432).

The targets table gives each target's verdict: issue 2's, and those of issue 11 that a
wrk run measures (writes as a share of bare, PostgreSQL as a share of SQLite, lookups
with a new string); the other goals of issue 11 name the module that measures them.

Prints the tables and writes benchmarks/results/latest.json; exits 1 when a measurement
failed (a non-2xx response, a socket error, a wrong body).
"""

import argparse
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import databases, machine, report
from benchmarks.bare import USER_ID
from benchmarks.runner import Runner, Scenario
from benchmarks.servers import CONFIG, THREE_TARGETS, start_bare, start_gateway
from benchmarks.wrk import Load
from gateway.config import load_config

RESULTS = Path(__file__).parent / "results"
SEED_USERS = 1000
PHASES = ("throughput", "latency", "postgres")

BARE = Scenario("bare", "common", f"/scim/v2/Users/{USER_ID}")
GET = Scenario("get", "get")
FILTER = Scenario("filter", "filter", expect='"totalResults":1,')
FILTER_UNIQUE = Scenario("filter-unique", "filter_unique", expect='"totalResults":1,')
LIST = Scenario("list", "common", "/scim/v2/Users?count=100", expect='"itemsPerPage":100,')
PATCH = Scenario("patch", "patch")
POST = Scenario("post", "post")
#: POST to a gateway whose tenant has three enabled target connections (--no-worker).
POST_FANOUT = Scenario("post-3-targets", "post", fanout=True)
#: Order matters: the writes come last so that the reads see exactly the seeded users.
SQLITE_SCENARIOS = (GET, FILTER, FILTER_UNIQUE, LIST, PATCH, POST, POST_FANOUT)
POSTGRES_SCENARIOS = (GET, FILTER, PATCH, POST, POST_FANOUT)


def gateway_env(stack: ExitStack, url: str, users: int) -> dict[str, str]:
    """What the Lua scripts need: a token, the ids of seeded users, their number."""
    ids = databases.export_ids(url, RESULTS / f"ids-{uuid.uuid4().hex[:8]}.txt")
    stack.callback(ids.unlink, missing_ok=True)
    return {
        "BENCH_TOKEN": databases.new_token(url),
        "BENCH_IDS": str(ids),
        "BENCH_USERS": str(users),
    }


def throughput(
    runner: Runner, url: str, database: str, scenarios: tuple[Scenario, ...], workers: int
) -> list[dict[str, Any]]:
    """Each scenario against one gateway, framed by two runs of the bare baseline.

    The fan-out scenarios run against a second gateway on the same database whose tenant
    has three target connections, started with --no-worker so that delivering the events
    does not share the measured process.
    """
    with ExitStack() as stack:
        env = gateway_env(stack, url, SEED_USERS)
        bare = stack.enter_context(start_bare(workers, RESULTS / "bare.log"))
        gateway = stack.enter_context(start_gateway(url, workers, RESULTS / f"{database}.log"))
        fanout = gateway
        if any(s.fanout for s in scenarios):
            log = RESULTS / f"{database}-3-targets.log"
            fanout = stack.enter_context(
                start_gateway(url, workers, log, THREE_TARGETS, worker=False)
            )
        first = runner.run(bare, BARE, {})
        measured = [(s, runner.run(fanout if s.fanout else gateway, s, env)) for s in scenarios]
        last = runner.run(bare, BARE, {})
    runs = [m for m in (first, last) if not m.failure]
    base = statistics.mean(m.rps for m in runs) if runs else None
    rows = [report.row(f"bare (before {database})", "none", 0, first, base)]
    rows += [report.row(s.name, database, SEED_USERS, m, base) for s, m in measured]
    return [*rows, report.row(f"bare (after {database})", "none", 0, last, base)]


def filter_latency(
    runner: Runner, sizes: list[int], workers: int, rounds: int
) -> list[dict[str, Any]]:
    """One server per size, all started first, then measured in interleaved rounds."""
    config = load_config(CONFIG)
    single = Load(threads=1, connections=1, seconds=runner.load.seconds)
    with ExitStack() as stack:
        targets = []
        for users in sizes:
            started = time.perf_counter()
            url, reused = databases.cached_sqlite(RESULTS, config, users)
            how = "reused" if reused else f"seeded in {time.perf_counter() - started:.0f}s"
            print(f"  {users:,} users: {how}", flush=True)
            env = gateway_env(stack, url, users)
            server = stack.enter_context(
                start_gateway(url, workers, RESULTS / f"sqlite-{users}.log")
            )
            targets.append((users, reused, server, env))
        runs: dict[int, list[Any]] = {users: [] for users in sizes}
        for number in range(rounds):
            print(f"  round {number + 1} of {rounds}", flush=True)
            turn = number % len(targets)  # each size goes first in turn
            for users, _reused, server, env in targets[turn:] + targets[:turn]:
                # Unique filter strings at every size: with filter.lua, the 1,000 names of
                # the 1k database all sit in scim2-models' parse cache and the larger ones'
                # do not, which measured the parser, not the database (docs/benchmarks.md).
                scenario = replace(FILTER_UNIQUE, name=f"filter-{users}")
                runs[users].append(runner.run(server, scenario, env, single))
    return [report.latency_row(users, runs[users], reused) for users, reused, _s, _e in targets]


def postgres_throughput(runner: Runner, workers: int) -> list[dict[str, Any]]:
    """The throughput phase on PostgreSQL; nothing when the server is not there."""
    print(f"throughput, PostgreSQL, {SEED_USERS:,} users", flush=True)
    try:
        url = databases.fresh_postgres(load_config(CONFIG), SEED_USERS)
    except Exception as exc:  # no server: SQLite stays the headline
        print(f"  skipped: {exc}", flush=True)
        return []
    try:
        return throughput(runner, url, "postgresql", POSTGRES_SCENARIOS, workers)
    finally:
        databases.drop_postgres()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="scimgw benchmarks")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (both apps)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each")
    parser.add_argument("--sizes", default="1000,100000,1000000", help="filter latency sizes")
    parser.add_argument("--rounds", type=int, default=5, help="filter latency rounds")
    parser.add_argument("--phases", default=",".join(PHASES), help="of " + ",".join(PHASES))
    parser.add_argument("--patience", type=float, default=120, help="s to wait for quiet")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return args


def main() -> int:
    args = arguments()
    phases = args.phases.split(",")
    RESULTS.mkdir(parents=True, exist_ok=True)
    load = Load(args.threads, args.connections, args.duration)
    runner = Runner(load, args.warmup, uuid.uuid4().hex[:8], args.patience, RESULTS / "wrk")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "settings": {
            **vars(args),
            "output": str(args.output),
            "load": " ".join(load.flags()),
            "seed_users": SEED_USERS,
        },
        "scenarios": [],
        "filter_latency": [],
    }
    if "throughput" in phases:
        print(f"throughput, SQLite, {SEED_USERS:,} users, wrk {' '.join(load.flags())}")
        url = databases.fresh_sqlite(RESULTS / "bench.db", load_config(CONFIG), SEED_USERS)
        results["scenarios"] += throughput(runner, url, "sqlite", SQLITE_SCENARIOS, args.workers)
    if "latency" in phases:
        print("filter latency, SQLite, 1 connection", flush=True)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        results["filter_latency"] = filter_latency(runner, sizes, args.workers, args.rounds)
    if "postgres" in phases:
        results["scenarios"] += postgres_throughput(runner, args.workers)

    results["targets"] = report.evaluate(results["scenarios"], results["filter_latency"])
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    report.write(results, args.output)
    print(f"\n{report.render(results)}\n\n{results['elapsed_s']:.0f}s; written to {args.output}")
    failed = [r for r in results["scenarios"] + results["filter_latency"] if r["failure"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
