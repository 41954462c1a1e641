"""Seed N users into a tenant through the store layer, not over HTTP.

The first few users go through ``ResourceService.create`` (validation, canonical document,
outbox) and their stored documents are compared with :func:`document`, which builds the
same canonical document without scim2-models; the rest are bulk-inserted with SQLAlchemy
Core in batches, with the indexed columns from ``user_columns``. A change in what the
service stores therefore stops the seeding instead of silently benchmarking other data.

    python -m benchmarks.seed --database-url sqlite:///benchmarks/results/x.db --count 100000
"""

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig
from gateway.scim.dialects import POLICY
from gateway.scim.kinds import USER, user_columns
from gateway.scim.models import ENTERPRISE_SCHEMA
from gateway.service import ResourceService, timestamp
from gateway.store.database import writer

CORE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 10_000
#: Users created through the service, whose documents check :func:`document`.
CHECKED = 3


def user_name(i: int) -> str:
    return f"user{i}@example.com"


def payload(i: int) -> dict[str, Any]:
    """The creation request an IdP would send for user ``i`` (every 20th is a leaver)."""
    return {
        "schemas": [CORE_SCHEMA, ENTERPRISE_SCHEMA],
        "userName": user_name(i),
        "name": {"familyName": f"Family{i}", "givenName": f"Given{i}"},
        "displayName": f"Given{i} Family{i}",
        "active": i % 20 != 19,
        "emails": [{"value": user_name(i), "type": "work", "primary": True}],
        ENTERPRISE_SCHEMA: {"employeeNumber": f"E{i:07d}"},
    }


def created_at(i: int) -> datetime:
    return EPOCH + timedelta(milliseconds=i)


def document(i: int, resource_id: str, at: datetime) -> dict[str, Any]:
    """The canonical document ResourceService stores for ``payload(i)``."""
    stamp = timestamp(at)
    meta = {"resourceType": "User", "created": stamp, "lastModified": stamp, "version": 'W/"1"'}
    return {**payload(i), "id": resource_id, "meta": meta}


def row(tenant: str, i: int) -> dict[str, Any]:
    at = created_at(i)
    doc = document(i, str(uuid.uuid4()), at)
    return {
        "id": doc["id"],
        "tenant_id": tenant,
        **user_columns(doc),
        "version": 1,
        "created": at,
        "last_modified": at,
        "doc": doc,
    }


def create_checked(engine: Engine, config: GatewayConfig, tenant: str, i: int) -> None:
    """Create user ``i`` with the service and check that :func:`document` matches it."""
    resource_id, at = str(uuid.uuid4()), created_at(i)
    service = ResourceService(
        engine, config, policy=POLICY, clock=lambda: at, new_id=lambda: resource_id
    )
    stored = service.create(tenant, USER, payload(i)).page.resources[0].doc
    expected = document(i, resource_id, at)
    if stored != expected:
        raise RuntimeError(
            "benchmarks.seed.document no longer matches what ResourceService stores:\n"
            f"service: {orjson.dumps(stored).decode()}\nseed:    {orjson.dumps(expected).decode()}"
        )


def seed(
    engine: Engine, config: GatewayConfig, tenant: str, count: int, *, batch: int = BATCH
) -> None:
    """Add users 0..count-1 to an empty tenant (which must exist)."""
    for i in range(min(CHECKED, count)):
        create_checked(engine, config, tenant, i)
    table = USER.table
    for start in range(min(CHECKED, count), count, batch):
        rows = [row(tenant, i) for i in range(start, min(start + batch, count))]
        with writer(engine).begin() as connection:
            connection.execute(sa.insert(table), rows)


def count_users(engine: Engine, tenant: str) -> int:
    table = USER.table
    query = sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == tenant)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def main() -> None:
    from gateway.auth.tokens import ensure_tenant
    from gateway.config import load_config
    from gateway.store import migrations
    from gateway.store.database import create_engine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--tenant", default="default")
    parser.add_argument("--config", default="examples/gateway.yaml")
    args = parser.parse_args()
    migrations.upgrade(args.database_url)
    engine = create_engine(args.database_url)
    ensure_tenant(engine, args.tenant)
    started = time.perf_counter()
    seed(engine, load_config(args.config), args.tenant, args.count)
    elapsed = time.perf_counter() - started
    print(f"seeded {args.count} users in {elapsed:.1f}s ({args.count / elapsed:,.0f}/s)")


if __name__ == "__main__":
    main()
