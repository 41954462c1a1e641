"""One benchmark run: ``python -m benchmarks.run`` (``make bench``).

1. Throughput on a fresh SQLite database with 1k users, against the bare baseline:
   GET /Users/{id}, filter userName eq, list count=100, PATCH, POST (wrk -t2 -c32).
2. Filter latency on one connection (wrk -t1 -c1) at 1k, 100k and 1M users; the seeded
   databases are kept in benchmarks/results/ and reused by later runs.
3. GET, filter and POST on a fresh PostgreSQL database with 1k users (127.0.0.1:5432).

Prints the tables and writes benchmarks/results/latest.json; exits 1 when a measurement
failed (a non-2xx response, a socket error, a wrong body).
"""

import argparse
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import cpu, databases, machine, report
from benchmarks.bare import USER_ID
from benchmarks.servers import CONFIG, Server, start_bare, start_gateway
from benchmarks.wrk import Load, Measurement, measure
from gateway.config import load_config

RESULTS = Path(__file__).parent / "results"
SEED_USERS = 1000


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    path: str = "/"
    #: Text every response body must contain.
    expect: str | None = None


BARE = Scenario("bare GET (baseline)", "common", f"/scim/v2/Users/{USER_ID}")
GET = Scenario("get", "get")
FILTER = Scenario("filter", "filter", expect='"totalResults":1,')
LIST = Scenario("list", "common", "/scim/v2/Users?count=100", expect='"itemsPerPage":100,')
PATCH = Scenario("patch", "patch")
POST = Scenario("post", "post")
#: Order matters: the writes come last so that the reads see exactly the seeded users.
SQLITE_SCENARIOS = (GET, FILTER, LIST, PATCH, POST)
POSTGRES_SCENARIOS = (GET, FILTER, POST)


@dataclass
class Runner:
    load: Load
    warmup: int
    run_id: str
    patience: float
    invocations: int = 0

    def nonce(self) -> str:
        """Unique per wrk invocation, so that POST userNames never repeat (no 409)."""
        self.invocations += 1
        return f"{self.run_id}{self.invocations}"

    def run(self, server: Server, scenario: Scenario, env: dict[str, str], load: Load) -> Any:
        env = {**env, "BENCH_EXPECT": scenario.expect} if scenario.expect else dict(env)
        url = server.url + scenario.path
        busy = cpu.wait_quiet(patience=self.patience)
        if self.warmup:
            warm = Load(load.threads, load.connections, self.warmup)
            measure(url, scenario.script, warm, {**env, "BENCH_RUN": self.nonce()})
        env["BENCH_RUN"] = self.nonce()
        with cpu.usage(server.process.pid) as used:
            measurement, output = measure(url, scenario.script, load, env)
        wrk_cores = measurement.wrk_cpu_seconds / measurement.seconds
        measurement.extra = {
            "server_cores": used.server_cores,
            "wrk_cores": round(wrk_cores, 2),
            # CPU the machine spent on neither the server nor wrk: other people's work.
            "other_cores": round(used.busy_cores - used.server_cores - wrk_cores, 2),
            "other_busy_before": busy,
        }
        log = RESULTS / "wrk" / f"{server.name}-{scenario.script}-{scenario.name}.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"{measurement.command}\n\n{output}")
        status = measurement.failure or "ok"
        print(
            f"  {scenario.name:<22} {measurement.rps:>9,.0f} req/s  cores: server "
            f"{used.server_cores:.2f}, wrk {wrk_cores:.2f}, other "
            f"{measurement.extra['other_cores']:.2f}  {status}",
            flush=True,
        )
        return measurement


def gateway_env(url: str, users: int) -> dict[str, str]:
    ids = databases.export_ids(url, RESULTS / f"ids-{uuid.uuid4().hex[:8]}.txt")
    return {
        "BENCH_TOKEN": databases.new_token(url),
        "BENCH_IDS": str(ids),
        "BENCH_USERS": str(users),
    }


def throughput(
    runner: Runner,
    url: str,
    database: str,
    scenarios: tuple[Scenario, ...],
    workers: int,
    bare_rps: float | None,
) -> list[dict[str, Any]]:
    env = gateway_env(url, SEED_USERS)
    rows = []
    try:
        with start_gateway(url, workers, RESULTS / f"scimgw-{database}.log") as server:
            for scenario in scenarios:
                m = runner.run(server, scenario, env, runner.load)
                rows.append(report.row(scenario.name, database, SEED_USERS, m, bare_rps))
    finally:
        Path(env["BENCH_IDS"]).unlink(missing_ok=True)
    return rows


def filter_latency(runner: Runner, sizes: list[int], workers: int) -> list[dict[str, Any]]:
    config = load_config(CONFIG)
    single = Load(threads=1, connections=1, seconds=runner.load.seconds)
    rows = []
    for users in sizes:
        started = time.perf_counter()
        url, reused = databases.cached_sqlite(RESULTS, config, users)
        how = "reused" if reused else f"seeded in {time.perf_counter() - started:.0f}s"
        print(f"  {users:,} users ({how})", flush=True)
        env = gateway_env(url, users)
        try:
            with start_gateway(url, workers, RESULTS / f"scimgw-{users}.log") as server:
                m: Measurement = runner.run(server, FILTER, env, single)
        finally:
            Path(env["BENCH_IDS"]).unlink(missing_ok=True)
        rows.append({**report.row("filter", "sqlite", users, m, None), "reused": reused})
    return rows


def sqlite_throughput(runner: Runner, workers: int) -> list[dict[str, Any]]:
    """The bare baseline, then the gateway on a fresh SQLite database."""
    load = runner.load
    print(f"throughput, SQLite, {SEED_USERS:,} users, wrk {' '.join(load.flags())}", flush=True)
    with start_bare(workers, RESULTS / "bare.log") as bare:
        m = runner.run(bare, BARE, {}, load)
    bare_rps = None if m.failure else m.rps
    url = databases.fresh_sqlite(RESULTS / "bench-sqlite.db", load_config(CONFIG), SEED_USERS)
    rows = [report.row(BARE.name, "none", 0, m, m.rps)]
    return rows + throughput(runner, url, "sqlite", SQLITE_SCENARIOS, workers, bare_rps)


def postgres_throughput(runner: Runner, workers: int, bare_rps: float | None) -> list[dict]:
    """The same on a fresh PostgreSQL database; none when the server is not there."""
    print(f"throughput, PostgreSQL, {SEED_USERS:,} users", flush=True)
    try:
        url = databases.fresh_postgres(load_config(CONFIG), SEED_USERS)
    except Exception as exc:  # no server: SQLite stays the headline
        print(f"  skipped: {exc}", flush=True)
        return []
    try:
        return throughput(runner, url, "postgresql", POSTGRES_SCENARIOS, workers, bare_rps)
    finally:
        databases.drop_postgres()


PHASES = ("throughput", "latency", "postgres")


def main() -> int:
    parser = argparse.ArgumentParser(description="scimgw benchmarks")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (both apps)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each")
    parser.add_argument("--sizes", default="1000,100000,1000000", help="filter latency sizes")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help="a subset of " + ",".join(PHASES)
    )
    parser.add_argument(
        "--patience", type=float, default=120, help="seconds to wait for a quiet machine"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    if phases - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(phases - set(PHASES)))}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    load = Load(args.threads, args.connections, args.duration)
    runner = Runner(load, args.warmup, uuid.uuid4().hex[:8], args.patience)
    started = time.perf_counter()
    settings = {**vars(args), "output": str(args.output), "load": " ".join(load.flags())}
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "settings": {**settings, "seed_users": SEED_USERS},
        "scenarios": [],
        "filter_latency": [],
    }
    if "throughput" in phases:
        results["scenarios"] += sqlite_throughput(runner, args.workers)
    if "latency" in phases:
        print("filter latency, SQLite, 1 connection", flush=True)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        results["filter_latency"] = filter_latency(runner, sizes, args.workers)
    if "postgres" in phases:
        bare = next((r for r in results["scenarios"] if r["database"] == "none"), None)
        bare_rps = bare["rps"] if bare and not bare["failure"] else None
        results["scenarios"] += postgres_throughput(runner, args.workers, bare_rps)

    results["targets"] = report.evaluate(results["scenarios"], results["filter_latency"])
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    report.write(results, args.output)
    print()
    print(report.render(results))
    print(f"\n{results['elapsed_s']:.0f}s; written to {args.output}")
    failed = [r for r in results["scenarios"] + results["filter_latency"] if r["failure"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
