"""PostgreSQL's connection pool: no connection opened per request, dead ones replaced.

Issue 11: a pool of 10 (+ 20 overflow connections, closed on return) opened a new
connection every ~6 requests under 32 concurrent ones, and its pre-ping cost a round
trip on every request.
"""

import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import parse_config
from gateway.scim.kinds import USER
from gateway.service import ResourceService
from gateway.store import database
from gateway.store.database import create_engine

pytestmark = pytest.mark.postgres

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
CONFIG = parse_config({"tenants": {"acme": {}}})


@pytest.fixture
def pg_engine(postgres_database_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_database_url)
    ensure_tenant(engine, "acme")
    yield engine
    engine.dispose()


def _new_user(service: ResourceService) -> str:
    body = {"schemas": [CORE], "userName": f"pool-{uuid.uuid4().hex}@example.com"}
    return service.create("acme", USER, body).page.resources[0].id


def _connects(engine: Engine) -> list[int]:
    opened: list[int] = []
    sa.event.listen(engine, "connect", lambda *_: opened.append(1))
    return opened


def test_32_concurrent_callers_reuse_their_connections(pg_engine: Engine) -> None:
    """After the first round, steady concurrent requests open no connection at all."""
    service = ResourceService(pg_engine, CONFIG)
    user_id = _new_user(service)

    def requests() -> None:
        for _ in range(10):
            service.get("acme", USER, user_id)
            service.patch(
                "acme",
                USER,
                user_id,
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": "x"}],
                },
            )

    def round_of(callers: int) -> None:
        threads = [threading.Thread(target=requests) for _ in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    round_of(32)  # the pool fills up
    opened = _connects(pg_engine)
    round_of(32)
    assert opened == []


def test_a_connection_the_server_dropped_while_idle_is_replaced_unseen(
    pg_engine: Engine, postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart or a firewall ends idle connections: the next request still works."""
    service = ResourceService(pg_engine, CONFIG)
    user_id = _new_user(service)
    with pg_engine.connect() as connection:  # the pool's one idle connection
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = create_engine(postgres_database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    finally:
        admin.dispose()
    monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.0)  # it has been idle long enough
    opened = _connects(pg_engine)
    assert service.get("acme", USER, user_id).page.resources[0].id == user_id
    assert len(opened) == 1


def test_pools_keep_as_many_connections_as_request_threads() -> None:
    """Connections beyond pool_size close on return: the pool covers anyio's 40 threads."""
    engine = create_engine("postgresql://postgres@127.0.0.1:5432/unused")
    try:
        assert engine.pool.size() >= 40  # type: ignore[attr-defined]
    finally:
        engine.dispose()
