"""Store tables: looking resources up by a list of ids stays a primary-key lookup."""

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.scim.kinds import GROUP, USER, Kind
from gateway.store.database import create_engine
from gateway.store.tables import among_ids

AT = datetime(2024, 1, 1, tzinfo=UTC)


def _seed(engine: Engine, kind: Kind, tenant: str, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    rows = [
        {"id": i, "tenant_id": tenant, "created": AT, "last_modified": AT, "doc": {"id": i}}
        | ({"user_name_key": f"{tenant}-{n}"} if kind is USER else {})
        for n, i in enumerate(ids)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(kind.table), rows)
    return ids


def _among(kind: Kind, tenant: str, ids: list[str], dialect: str) -> "sa.Select[tuple[str]]":
    return sa.select(kind.table.c.id).where(among_ids(kind.table, tenant, ids, dialect))


@pytest.mark.parametrize("kind", [USER, GROUP], ids=["users", "groups"])
def test_ids_of_one_tenant_are_found_and_no_other_tenants(engine: Engine, kind: Kind) -> None:
    for tenant in ("acme", "globex"):
        ensure_tenant(engine, tenant)
    acme, globex = _seed(engine, kind, "acme", 50), _seed(engine, kind, "globex", 50)
    with engine.connect() as connection:
        query = _among(kind, "acme", acme[:20] + globex[:20], engine.dialect.name)
        found = set(connection.execute(query).scalars())
    assert found == set(acme[:20])


@pytest.fixture
def sqlite_engine(sqlite_template: str, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "store.db"
    shutil.copy(sqlite_template, path)
    engine = create_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("kind", [USER, GROUP], ids=["users", "groups"])
def test_sqlite_looks_a_batch_of_ids_up_in_the_primary_key(
    sqlite_engine: Engine, kind: Kind
) -> None:
    """Not by walking every row of the tenant through a (tenant_id, ...) index."""
    ensure_tenant(sqlite_engine, "acme")
    ids = _seed(sqlite_engine, kind, "acme", 200)
    query = _among(kind, "acme", ids[:100], "sqlite")
    sql = str(query.compile(sqlite_engine, compile_kwargs={"literal_binds": True}))
    with sqlite_engine.connect() as connection:
        plan = " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"USING INDEX sqlite_autoindex_{kind.table.name}_1 (id=?)" in plan
