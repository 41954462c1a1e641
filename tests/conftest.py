"""Shared fixtures: real SQLite and real PostgreSQL stores.

The ``engine`` fixture is parametrised over both databases. PostgreSQL runs when
``SCIMGW_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it). With
``SCIMGW_REQUIRE_POSTGRES=1`` (also set by CI) an unreachable server fails the tests
instead of skipping them.
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from gateway import logs
from gateway.app import create_app
from gateway.auth.tokens import create_token
from gateway.config.file import GatewayConfig, parse_config
from gateway.settings import Settings
from gateway.store.database import create_engine, normalize_url
from gateway.store.migrations import upgrade
from tests.fakes.serving import served

POSTGRES_URL = os.environ.get("SCIMGW_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("SCIMGW_REQUIRE_POSTGRES") == "1"

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _admin_engine() -> Engine:
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("SCIMGW_REQUIRE_POSTGRES=1 but SCIMGW_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL tests need SCIMGW_TEST_POSTGRES_URL (CI sets it)")
    engine = sa.create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unreachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}")
    return engine


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test process, dropped at the end."""
    admin = _admin_engine()
    name = f"scimgw_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = normalize_url(POSTGRES_URL or "").rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


def _truncate(engine: Engine) -> None:
    """Empty every table the code declares (a table added later is emptied too)."""
    from gateway.store.tables import metadata

    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=DATABASES)
def database_url(
    request: pytest.FixtureRequest, tmp_path: "os.PathLike[str]", sqlite_template: str
) -> str:
    """The URL of an empty, migrated database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        import shutil

        target = f"{tmp_path}/scimgw.db"
        shutil.copyfile(sqlite_template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_database_url")
    engine = create_engine(url)
    _truncate(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty, migrated database (SQLite and PostgreSQL)."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


# -- the SCIM app -----------------------------------------------------------------------

SCIM = "application/scim+json"


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config({"tenants": {"acme": {}, "globex": {}}})


@pytest.fixture
def app(engine: Engine, config: GatewayConfig):  # type: ignore[no-untyped-def]
    return create_app(Settings(), engine, config)


@pytest.fixture
def token(engine: Engine) -> str:
    return create_token(engine, "acme", "okta")


@pytest.fixture
async def client(app, token: str) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """An in-process client for tenant acme (ASGI transport: no sockets)."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver/scim/v2", headers=headers
    ) as http:
        yield http


@dataclass(frozen=True)
class LiveServer:
    url: str
    token: str


@pytest.fixture
def live_server(app, token: str) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The app served by uvicorn on a real loopback socket, in a thread."""
    with served(app, lifespan="on") as url:
        yield LiveServer(url=f"{url}/scim/v2", token=token)


# A logger cached while one test ran the CLI (which configures logging) would ignore the
# capture and the level of every later test in the process.
logs.CACHE_LOGGERS = False


@pytest.fixture(autouse=True)
def _logging_as_a_fresh_process() -> Iterator[None]:
    """Each test starts with structlog's defaults, whatever an earlier test configured."""
    yield
    structlog.reset_defaults()
