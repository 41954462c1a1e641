"""Sorting and filtering on a multi-valued attribute when one user holds many values.

``sortBy=emails.value`` over 1,000 users took 9 s on SQLite while one of them had 20,000
emails (issue 9 §2): each element's value was read back from the whole document. This
seeds 1,000 users, gives one of them ``--values`` emails, and times the list requests
that walk ``emails`` through the store (the SQL the SCIM endpoint runs), on SQLite and,
with ``--postgres-url``, on PostgreSQL. Figures go to docs/benchmarks.md.

    python -m benchmarks.multivalued [--values 20000] [--postgres-url postgresql://...]
"""

import argparse
import statistics
import tempfile
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import parse_config
from gateway.scim.kinds import USER
from gateway.store import migrations
from gateway.store.database import create_engine, normalize_url, writer
from gateway.store.filters import parse_filter
from gateway.store.prepared import Statements
from gateway.store.queries import Search
from gateway.store.reads import Reads

from .seed import seed

USERS = 1_000
TENANT = "bench"
#: The list requests timed: (label, filter, sortBy).
REQUESTS = [
    ("sortBy=emails.value", None, "emails.value"),
    ('filter=emails.value eq "x"', 'emails.value eq "nobody@example.com"', None),
    ('filter=emails[type eq "home"]', 'emails[type eq "home"]', None),
    # Not multi-valued: the longest chain the default clause limit admits, which SQLite
    # refused as a flat OR; compiled as a balanced tree (gateway.store.filters).
    (
        "filter=1,000 x userName eq",
        " or ".join(f'userName eq "user{i * 7}@example.com"' for i in range(1000)),
        None,
    ),
]


def prepare(url: str, values: int) -> Engine:
    migrations.upgrade(url)
    engine = create_engine(url)
    ensure_tenant(engine, TENANT)
    seed(engine, parse_config({"tenants": {TENANT: {}}}), TENANT, USERS)
    emails = [{"value": f"alias{i}@example.com", "type": "other"} for i in range(values)]
    table = USER.table
    with writer(engine).begin() as connection:
        first = connection.execute(
            sa.select(table.c.id, table.c.doc).where(table.c.tenant_id == TENANT).limit(1)
        ).one()
        doc = {**first.doc, "emails": [*first.doc["emails"], *emails]}
        connection.execute(sa.update(table).where(table.c.id == first.id).values(doc=doc))
    return engine


def measure(engine: Engine, rounds: int) -> dict[str, float]:
    reads = Reads(Statements(engine.dialect))
    timings = {}
    for label, expression, sort_by in REQUESTS:
        node = parse_filter(expression) if expression else None
        runs = []
        for _ in range(rounds):
            search = Search(node, sort_by, limit=100, with_related=False)
            with engine.connect() as connection:
                cursor = connection.connection.cursor()
                started = time.perf_counter()
                reads.search(cursor, TENANT, USER, search)
                runs.append(time.perf_counter() - started)
                cursor.close()
        timings[label] = statistics.median(runs)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        engines = {"sqlite": prepare(f"sqlite:///{directory}/mv.db", args.values)}
        admin = None
        name = f"scimgw_bench_{uuid.uuid4().hex[:8]}"
        if args.postgres_url:
            admin = sa.create_engine(normalize_url(args.postgres_url), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            url = normalize_url(args.postgres_url).rsplit("/", 1)[0] + f"/{name}"
            engines["postgresql"] = prepare(url, args.values)
        try:
            for engine_name, engine in engines.items():
                for label, seconds in measure(engine, args.rounds).items():
                    print(
                        f"{engine_name:10} {USERS} users, one with {args.values} emails: "
                        f"{label:32} {seconds * 1000:9.1f} ms"
                    )
                engine.dispose()
        finally:
            if admin is not None:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()


if __name__ == "__main__":
    main()
