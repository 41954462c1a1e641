"""Cost of queueing direct reports when managers get accounts: ``python -m benchmarks.reports``.

A tenant of N users (a tenth of them managers, every other user reporting to one, every
user linked in one connection) is written straight to the store; then, five times, four
managers "get an account" and :func:`provisioning.accounts.reports.enqueue_reports_of` runs in a
transaction that is rolled back. Reported: milliseconds per settlement batch.

SQLite by default; ``--postgres`` uses 127.0.0.1:5432 (database ``bench_reports``).
"""

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.scim.kinds import USER
from gateway.store.database import create_engine
from gateway.store.migrations import upgrade
from provisioning.accounts import ENTERPRISE, enqueue_reports_of
from provisioning.records import links

TENANT, CONNECTION = "acme", "remote"


def _seed(engine: Engine, size: int, rng: random.Random) -> list[str]:
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(size)]
    bosses = ids[: size // 10]
    rows = []
    for n, resource_id in enumerate(ids):
        doc = {"id": resource_id, "userName": f"u{n}@acme.com"}
        if n >= len(bosses):
            doc[ENTERPRISE] = {"manager": {"value": rng.choice(bosses)}}
        rows.append(
            {
                "id": resource_id,
                "tenant_id": TENANT,
                "user_name_key": doc["userName"],
                "active": True,
                "version": 1,
                "created": now,
                "last_modified": now,
                "doc": doc,
            }
        )
    placed = [_placed(resource_id) for resource_id in ids]
    with engine.begin() as connection:
        for start in range(0, size, 5000):
            connection.execute(sa.insert(USER.table), rows[start : start + 5000])
        links.save_all(connection, placed, now)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return bosses


def _placed(resource_id: str) -> links.Placed:
    link = links.Link(resource_id, resource_id, links.ACTIVE, "digest")
    return links.Placed(TENANT, CONNECTION, USER.name, link)


def _database(postgres: bool) -> str:
    if not postgres:
        return f"sqlite:///{tempfile.mkdtemp(prefix='scimgw-reports-')}/reports.db"
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS bench_reports")
        connection.exec_driver_sql("CREATE DATABASE bench_reports")
    admin.dispose()
    return "postgresql://postgres@127.0.0.1:5432/bench_reports"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    url = _database(args.postgres)
    upgrade(url)
    engine = create_engine(url)
    ensure_tenant(engine, TENANT)
    rng = random.Random(9)
    bosses = _seed(engine, args.users, rng)
    timings, queued = [], 0
    for _ in range(5):
        managers = [_placed(boss) for boss in rng.sample(bosses, 4)]
        with engine.begin() as connection:
            started = time.perf_counter()
            queued = enqueue_reports_of(connection, managers, datetime.now(UTC))
            timings.append((time.perf_counter() - started) * 1000)
            connection.rollback()
    figures = ", ".join(f"{ms:.0f}" for ms in timings)
    print(f"{engine.dialect.name}, {args.users} users: {queued} reports queued; ms: {figures}")
    engine.dispose()


if __name__ == "__main__":
    main()
