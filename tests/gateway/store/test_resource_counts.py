"""totalResults of an unfiltered list comes from resource_count: exact, on both engines.

The counts are kept by triggers (migration 0007) in the transaction of each insert and
delete, so whatever writes rows (a request, Bulk, a rolled-back write, concurrent
writers, a bulk load outside the service, rows there before the migration), an
unfiltered list's totalResults equals the number of rows.
"""

import shutil
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token, ensure_tenant
from gateway.config.file import GatewayConfig
from gateway.scim.dialects import POLICY
from gateway.scim.kinds import GROUP, USER, user_columns
from gateway.service import ResourceService
from gateway.store.database import create_engine
from gateway.store.migrations import alembic_config, upgrade
from gateway.store.queries import Search

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def user(name: str) -> dict[str, Any]:
    return {"schemas": [CORE], "userName": name}


async def total(client: httpx.AsyncClient, collection: str = "/Users") -> int:
    """totalResults of the unfiltered list, by GET and by .search (which must agree)."""
    listed = (await client.get(collection, params={"count": 0})).json()["totalResults"]
    body = {"schemas": [SEARCH], "count": 1}
    searched = (await client.post(f"{collection}/.search", json=body)).json()["totalResults"]
    assert listed == searched
    return int(listed)


def rows(engine: Engine, table: sa.Table, tenant: str = "acme") -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == tenant)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


async def test_creates_and_deletes_are_counted(client: httpx.AsyncClient, engine: Engine) -> None:
    ids = [(await client.post("/Users", json=user(f"u{i}"))).json()["id"] for i in range(7)]
    assert await total(client) == 7
    for resource_id in ids[:3]:
        assert (await client.delete(f"/Users/{resource_id}")).status_code == 204
    assert (await client.delete(f"/Users/{ids[0]}")).status_code == 404  # gone: no change
    assert await total(client) == 4 == rows(engine, USER.table)
    assert await total(client, "/Groups") == 0


async def test_failed_writes_leave_the_count_alone(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    await client.post("/Users", json=user("taken"))
    assert (await client.post("/Users", json=user("TAKEN"))).status_code == 409
    # The group row is inserted before its members are checked: the rollback undoes both.
    group = {"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": "nobody"}]}
    assert (await client.post("/Groups", json=group)).status_code >= 400
    assert await total(client) == 1 == rows(engine, USER.table)
    assert await total(client, "/Groups") == 0 == rows(engine, GROUP.table)


async def test_bulk_operations_are_counted(client: httpx.AsyncClient, engine: Engine) -> None:
    kept = (await client.post("/Users", json=user("kept"))).json()["id"]
    operations = [
        {"method": "POST", "bulkId": f"b{i}", "path": "/Users", "data": user(f"bulk{i}")}
        for i in range(4)
    ]
    operations.append({"method": "POST", "bulkId": "dup", "path": "/Users", "data": user("kept")})
    operations.append({"method": "DELETE", "path": f"/Users/{kept}"})
    group = {"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": "bulkId:b0"}]}
    operations.append({"method": "POST", "bulkId": "g", "path": "/Groups", "data": group})
    response = await client.post("/Bulk", json={"schemas": [BULK], "Operations": operations})
    statuses = [op["status"] for op in response.json()["Operations"]]
    assert statuses.count("201") == 5 and "409" in statuses and "204" in statuses
    assert await total(client) == 4 == rows(engine, USER.table)
    assert await total(client, "/Groups") == 1


async def test_each_tenant_counts_its_own(
    app: Any, client: httpx.AsyncClient, engine: Engine
) -> None:
    for i in range(3):
        await client.post("/Users", json=user(f"a{i}"))
    headers = {"Authorization": f"Bearer {create_token(engine, 'globex', 'g')}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2",
        headers=headers,
    ) as globex:
        await globex.post("/Users", json=user("a0"))
        assert await total(globex) == 1
    assert await total(client) == 3


def test_concurrent_writers_keep_the_count_exact(engine: Engine, config: GatewayConfig) -> None:
    """Eight threads create and delete at once (on PostgreSQL, eight connections adding
    to the same tenant's count): the count is the number of rows, and no write failed."""
    ensure_tenant(engine, "acme")
    service = ResourceService(engine, config, policy=POLICY)
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            created = [
                service.create("acme", USER, user(f"w{number}-{i}")).page.resources[0].id
                for i in range(12)
            ]
            for resource_id in created[:4]:
                service.delete("acme", USER, resource_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    service.close()
    assert failures == []
    listed = ResourceService(engine, config, policy=POLICY)
    found = listed.search("acme", USER, Search(limit=1)).page.total
    listed.close()
    assert found == 8 * 8 == rows(engine, USER.table)


def _user_row(tenant: str, name: str) -> dict[str, Any]:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    resource_id = str(uuid.uuid4())
    stamp = "2024-01-01T00:00:00Z"
    meta = {"resourceType": "User", "created": stamp, "lastModified": stamp, "version": 'W/"1"'}
    doc = {"schemas": [CORE], "id": resource_id, "userName": name, "meta": meta}
    return {
        "id": resource_id,
        "tenant_id": tenant,
        **user_columns(doc),
        "version": 1,
        "created": at,
        "last_modified": at,
        "doc": doc,
    }


async def test_rows_written_outside_the_service_are_counted(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """A bulk load (benchmarks.seed, an operator's import) is counted all the same."""
    with engine.begin() as connection:
        connection.execute(sa.insert(USER.table), [_user_row("acme", f"l{i}") for i in range(50)])
        connection.execute(sa.delete(USER.table).where(USER.table.c.user_name_key == "l7"))
    assert await total(client) == 49


def before_counts() -> str:
    """The revision before the one adding resource_count (renumbered at merges)."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    adding = [r for r in scripts.walk_revisions() if hasattr(r.module, "COUNTED")]
    assert len(adding) == 1
    return str(adding[0].down_revision)


def test_the_migration_counts_the_rows_already_there(tmp_path: Path) -> None:
    """Upgrading a database holding users to 0007 counts them (SQLite)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, before_counts())
    engine = create_engine(url)
    with engine.begin() as connection:
        for tenant in ("acme", "globex"):
            connection.execute(
                sa.text("INSERT INTO tenant (id, display_name, created) VALUES (:t, '', :at)"),
                {"t": tenant, "at": datetime(2024, 1, 1)},
            )
        rows_ = [_user_row("acme", f"m{i}") for i in range(5)] + [_user_row("globex", "x")]
        connection.execute(sa.insert(USER.table), rows_)
    upgrade(url)
    counts = sa.text(
        "SELECT tenant_id, resource_type, sum(n) FROM resource_count GROUP BY 1, 2 ORDER BY 1"
    )
    with engine.connect() as connection:
        assert [tuple(r) for r in connection.execute(counts)] == [
            ("acme", "User", 5),
            ("globex", "User", 1),
        ]
    engine.dispose()
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.postgres
def test_the_migration_counts_the_rows_already_there_on_postgresql(
    postgres_database_url: str,
) -> None:
    """The same on PostgreSQL: down before 0007 and up again recounts the rows."""
    engine = create_engine(postgres_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE tenant, scim_user, resource_count CASCADE")
        connection.execute(
            sa.text("INSERT INTO tenant (id, display_name, created) VALUES ('acme', '', now())")
        )
        connection.execute(sa.insert(USER.table), [_user_row("acme", f"p{i}") for i in range(3)])
    command.downgrade(alembic_config(postgres_database_url), before_counts())
    with engine.begin() as connection:  # written while no trigger counts it
        connection.execute(sa.insert(USER.table), [_user_row("acme", "late")])
    upgrade(postgres_database_url)
    try:
        with engine.connect() as connection:
            counted = connection.exec_driver_sql(
                "SELECT sum(n) FROM resource_count WHERE tenant_id = 'acme'"
            ).scalar_one()
        assert counted == 4
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE tenant, scim_user, resource_count CASCADE")
        engine.dispose()
