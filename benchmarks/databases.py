"""Benchmark databases: fresh SQLite and PostgreSQL ones, and cached seeded SQLite ones.

A cached database (``users-<n>-r<revision>.db``) is only read by the filter-latency
series, so seeding 1M users once serves every later run; a new migration head or a
different user count rebuilds it.
"""

import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from benchmarks.seed import count_users, seed
from gateway.auth.tokens import create_token, ensure_tenant
from gateway.config import GatewayConfig
from gateway.scim.kinds import USER
from gateway.store import migrations
from gateway.store.database import create_engine

TENANT = "default"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_DATABASE = "scimgw_bench"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def head_revision() -> str:
    config = migrations.alembic_config("sqlite://")
    return str(ScriptDirectory.from_config(config).get_current_head())


def prepare(url: str, config: GatewayConfig, users: int) -> Engine:
    """Migrate an empty database and seed ``users`` users into the tenant."""
    migrations.upgrade(url)
    engine = create_engine(url)
    ensure_tenant(engine, TENANT)
    seed(engine, config, TENANT, users)
    return engine


def fresh_sqlite(path: Path, config: GatewayConfig, users: int) -> str:
    remove_sqlite(path)
    prepare(sqlite_url(path), config, users).dispose()
    return sqlite_url(path)


def cached_sqlite(directory: Path, config: GatewayConfig, users: int) -> tuple[str, bool]:
    """A SQLite database seeded with ``users`` users; True when it was reused."""
    path = directory / f"users-{users}-r{head_revision()}.db"
    url = sqlite_url(path)
    if path.exists():
        engine = create_engine(url)
        try:
            if count_users(engine, TENANT) == users:
                return url, True
        except sa.exc.DatabaseError:
            pass
        finally:
            engine.dispose()
    fresh_sqlite(path, config, users)
    return url, False


def fresh_postgres(config: GatewayConfig, users: int) -> str:
    """Drop and recreate the benchmark database on the local PostgreSQL server."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE}")
            connection.exec_driver_sql(f"CREATE DATABASE {POSTGRES_DATABASE}")
    finally:
        admin.dispose()
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{POSTGRES_DATABASE}"
    prepare(url, config, users).dispose()
    return url


def drop_postgres() -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)")
    finally:
        admin.dispose()


def new_token(url: str) -> str:
    engine = create_engine(url)
    try:
        return create_token(engine, TENANT, f"bench-{uuid.uuid4().hex[:8]}")
    finally:
        engine.dispose()


def export_ids(url: str, path: Path, limit: int = 1000) -> Path:
    """Write the ids of up to ``limit`` users, one per line, for the Lua scenarios."""
    table = USER.table
    query = sa.select(table.c.id).where(table.c.tenant_id == TENANT).limit(limit)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            ids = list(connection.execute(query).scalars())
    finally:
        engine.dispose()
    path.write_text("\n".join(ids) + "\n")
    return path
