"""Source run benchmark: ``python -m benchmarks.sources [--postgres]`` (issue 12).

1. no-change: N people (100,000 by default) already linked, a full read that finds no
   change. The generic HR fake (tests/fakes/hr_json.py) serves them from its own process
   over real sockets, 500 a page; the store and the links are seeded directly (the same
   mapper computes the digests a run would have stored). The run itself goes in a fresh
   child process so that its peak RSS (``resource.getrusage``) is the run's alone.
2. changed: 1,000 linked people whose job title changed, applied through the
   ResourceService and delivered by one worker (as the embedded worker runs beside the
   server) to a webhook target answering after 50 ms (benchmarks/slow_target.py). Reported:
   from the run's start until the last delivery settled.

SQLite by default; ``--postgres`` uses 127.0.0.1:5432 (databases bench_sources_*).
"""

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.delivery import _database, _free_port, _sink
from gateway import logs
from gateway.auth.tokens import ensure_tenant
from gateway.config.file import GatewayConfig, parse_config
from gateway.scim.kinds import USER, kinds_for
from gateway.store.database import create_engine
from gateway.store.migrations import upgrade
from gateway.store.tables import OutboxEvent, SourceLink, UserRow
from provisioning.connectors.hr_json import DEFAULT_READ_MAP
from provisioning.engine import Worker
from provisioning.records.runs import RunRequest
from provisioning.sources import SourceRunner
from provisioning.sources.people import PersonMapper
from provisioning.targets import build_targets
from tests.fakes.hr_json import person

TENANT = "bench"
PER_PAGE = 500


def _config(hr_url: str, sink_url: str | None) -> dict[str, Any]:
    connections: dict[str, Any] = {
        "hr": {
            "type": "hr_json",
            "direction": "source",
            "base_url": hr_url,
            "auth": {"type": "bearer", "token": "${BENCH_HR_TOKEN}"},
            "options": {"per_page": PER_PAGE},
            # A bench run changes many at once on purpose.
            "source": {"guard": {"max_count": 1_000_000, "max_share": 1}},
        }
    }
    if sink_url is not None:
        connections["sink"] = {
            "type": "webhook",
            "base_url": sink_url,
            "options": {"secret": "${BENCH_HOOK_SECRET}", "path": "/hooks"},
            "concurrency": 100,
        }
    return {"tenants": {TENANT: {"connections": connections}}}


def _fake(people: int, title: str = "Engineer", changed: int | None = None) -> tuple[Any, str]:
    port = _free_port()
    command = [
        sys.executable, "-m", "tests.fakes.hr_json", "--port", str(port),
        "--people", str(people), "--title", title,
    ]  # fmt: skip
    if changed is not None:
        command += ["--changed", str(changed)]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/people", headers={"Authorization": "Bearer hr-token"}, timeout=5)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("HR fake did not start")


def seed(database_url: str, config: GatewayConfig, people: int) -> None:
    """Users and links as a first run would leave them, written in bulk."""
    engine = create_engine(database_url)
    ensure_tenant(engine, TENANT, "")
    settings = config.tenant(TENANT).connections["hr"].source
    assert settings is not None
    reader = kinds_for((), sensitive_reader=True)["users"]
    mapper = PersonMapper.build(settings, DEFAULT_READ_MAP, reader)
    now = datetime.now(UTC)
    users, links = UserRow.__table__, SourceLink.__table__  # type: ignore[attr-defined]
    chunk: list[tuple[dict[str, Any], dict[str, Any]]] = []
    ids: dict[str, str] = {}
    for number in range(1, people + 1):
        record = person(number, manager_id="E000001" if number > 1 else None)
        found = mapper.person(record, now.date())
        user_id = ids.setdefault(found.source_id, str(uuid.uuid4()))
        stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        meta = {"resourceType": "User", "created": stamp, "lastModified": stamp, "version": 'W/"1"'}
        doc = {**found.doc, "id": user_id, "meta": meta}
        if found.manager_id is not None:
            manager = ids.setdefault(found.manager_id, str(uuid.uuid4()))
            doc.setdefault(USER_ENTERPRISE, {})["manager"] = {
                "value": manager,
                "$ref": f"Users/{manager}",
            }
        row = {"id": user_id, "tenant_id": TENANT, "version": 1, "created": now,
               "last_modified": now, "doc": doc, **USER.columns(doc)}  # fmt: skip
        link = {"tenant_id": TENANT, "connection": "hr", "source_id": found.source_id,
                "user_id": user_id, "digest": found.digest, "active": True,
                "updated": now}  # fmt: skip
        chunk.append((row, link))
        if len(chunk) == 5000 or number == people:
            with engine.begin() as conn:
                conn.execute(sa.insert(users), [r for r, _ in chunk])
                conn.execute(sa.insert(links), [k for _, k in chunk])
            chunk = []
    engine.dispose()


USER_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


async def _source_run(database_url: str, config: GatewayConfig) -> dict[str, Any]:
    engine = create_engine(database_url)
    runner = SourceRunner(engine, config)
    cpu, started = time.process_time(), time.perf_counter()
    outcome = await runner(RunRequest(TENANT, "hr"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "status": outcome.status,
        "counts": dict(outcome.counts),
    }


def run_child(database_url: str, hr_url: str) -> None:
    """The measured run, alone in this process: prints its figures as JSON."""
    config = parse_config(_config(hr_url, None))
    figures = asyncio.run(_source_run(database_url, config))
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def no_change(database_url: str, people: int) -> dict[str, Any]:
    fake, hr_url = _fake(people)
    try:
        seed(database_url, parse_config(_config(hr_url, None)), people)
        command = [sys.executable, "-m", "benchmarks.sources", "--child", database_url, hr_url]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]
    finally:
        fake.terminate()
        fake.wait()


async def _apply_and_deliver(
    database_url: str, config: GatewayConfig, people: int
) -> dict[str, Any]:
    engine = create_engine(database_url)
    targets = build_targets(config, engine.dialect.name)
    worker = Worker(engine, targets, poll_interval=0.05)
    stop = asyncio.Event()
    outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
    started, cpu = time.perf_counter(), time.process_time()
    delivering = asyncio.create_task(worker.run(stop))
    outcome = await SourceRunner(engine, config)(RunRequest(TENANT, "hr"))
    applied, applied_cpu = time.perf_counter() - started, time.process_time() - cpu
    while True:
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(
                    sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
                ).all()
            )
        if statuses.get("done", 0) >= people:
            break
        if time.perf_counter() - started > 120:
            raise RuntimeError(f"not delivered after 120 s: {statuses}, run {outcome}")
        await asyncio.sleep(0.05)
    delivered, delivered_cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    await delivering
    for target in targets:
        await target.aclose()
    engine.dispose()
    return {
        "applied_s": applied,
        "applied_cpu": applied_cpu,
        "delivered_s": delivered,
        "delivered_cpu": delivered_cpu,
        "counts": dict(outcome.counts),
    }


def changed(database_url: str, people: int, delay_ms: float) -> dict[str, Any]:
    fake, hr_url = _fake(people, title="Staff Engineer")
    sink, sink_url = _sink(delay_ms)
    try:
        config = parse_config(_config(hr_url, sink_url))
        seed(database_url, config, people)
        return asyncio.run(_apply_and_deliver(database_url, config, people))
    finally:
        for process in (fake, sink):
            process.terminate()
            process.wait()


def main() -> None:
    logs.configure("info")  # as `scimgw worker` and `scimgw sync` log: not each request
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        os.environ.setdefault("BENCH_HR_TOKEN", "hr-token")
        run_child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--phases", default="no-change,changed")
    args = parser.parse_args()
    os.environ.setdefault("BENCH_HR_TOKEN", "hr-token")
    os.environ.setdefault("BENCH_HOOK_SECRET", "bench-secret")
    directory = Path(tempfile.mkdtemp(prefix="scimgw-sources-"))
    engine_name = "PostgreSQL" if args.postgres else "SQLite"
    if "no-change" in args.phases:
        database = _database(args.postgres, directory, "sources_nochange")
        upgrade(database)
        figures = no_change(database, args.people)
        print(
            f"no-change ({engine_name}): {figures['counts']['read']:,} people read, "
            f"{figures['counts']['unchanged']:,} unchanged in {figures['seconds']:.1f} s "
            f"(CPU {figures['cpu']:.1f} s), peak RSS {figures['peak_rss_mb']:.0f} MB"
        )
    if "changed" in args.phases:
        database = _database(args.postgres, directory, "sources_changed")
        upgrade(database)
        figures = changed(database, args.changed, args.delay_ms)
        print(
            f"changed ({engine_name}): {figures['counts']['updated']:,} people updated in "
            f"{figures['applied_s']:.1f} s (CPU {figures['applied_cpu']:.1f} s), all delivered "
            f"to a {args.delay_ms:.0f} ms target after {figures['delivered_s']:.1f} s "
            f"(CPU {figures['delivered_cpu']:.1f} s, run and worker in one process)"
        )


if __name__ == "__main__":
    main()
