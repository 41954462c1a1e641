"""Workers killed with SIGKILL mid-delivery lose nothing and create nothing twice.

Two ``scimgw worker`` processes on PostgreSQL deliver 2,000 events to a SCIM target (a
second scimgw on SQLite, over real sockets) while one of them is killed with SIGKILL
twenty times and restarted. Claims of a killed worker expire and are taken over; the
``creating`` link makes a retried create look the account up instead of creating again.
"""

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from gateway.auth.tokens import create_token, ensure_tenant
from gateway.config.file import parse_config
from gateway.scim.dialects import POLICY
from gateway.scim.kinds import USER
from gateway.service import ResourceService
from gateway.store.database import create_engine
from gateway.store.migrations import upgrade
from gateway.store.tables import Delivery, OutboxEvent
from tests.conftest import _truncate
from tests.fakes.serving import free_port

pytestmark = pytest.mark.postgres

USERS = 1000
UPDATES = 1000  # 2,000 events in all
KILLS = 20


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[str, str, sa.Engine]]:
    """A second scimgw, on SQLite, in its own process over a real socket: the target."""
    url = f"sqlite:///{tmp_path}/remote.db"
    upgrade(url)
    engine = create_engine(url)
    ensure_tenant(engine, "remote", "")
    token = create_token(engine, "remote", "scimgw")
    config = tmp_path / "remote.yaml"
    config.write_text(yaml.safe_dump({"tenants": {"remote": {}}}))
    port = free_port()
    env = {**os.environ, "SCIMGW_CONFIG": str(config), "SCIMGW_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "scimgw.cli", "serve", "--no-worker", "--port", str(port)]
    server = subprocess.Popen([*command, "--database-url", url], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield f"{base}/scim/v2", token, engine
    server.terminate()
    server.wait(timeout=10)
    engine.dispose()


def _start_worker(
    env: dict[str, str], config: Path, database: str, log: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "scimgw.cli",
        "worker",
        "--config",
        str(config),
        "--database-url",
        database,
        "--lease-seconds",
        "2",
    ]
    return subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_killed_workers_lose_nothing_and_create_nothing_twice(
    postgres_database_url: str, remote: tuple[str, str, sa.Engine], tmp_path: Path
) -> None:
    base_url, token, remote_engine = remote
    local = create_engine(postgres_database_url)
    _truncate(local)
    settings = {
        "type": "scim",
        "base_url": base_url,
        "auth": {"type": "bearer", "token": "${REMOTE_TOKEN}"},
        "matching": {"key": "userName"},
        "concurrency": 8,
    }
    raw = {"tenants": {"acme": {"connections": {"remote": settings}}}}
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "REMOTE_TOKEN": token, "SCIMGW_LOG_LEVEL": "warning"}
    os.environ["REMOTE_TOKEN"] = token
    service = ResourceService(local, parse_config(raw), policy=POLICY)
    ensure_tenant(local, "acme", "")

    ids = [_create(service, n) for n in range(USERS)]
    log = tmp_path / "workers.log"
    workers = [_start_worker(env, config_file, postgres_database_url, log) for _ in range(2)]
    rng = random.Random(7)
    try:
        for kill in range(KILLS):
            for n in range(UPDATES // KILLS):
                user = ids[rng.randrange(USERS)]
                _rename(service, user, f"v{kill}-{n}")
            victim = kill % 2
            # Kill it mid-delivery: once it holds claims, after a random moment more.
            _wait_until_holding(local, workers[victim].pid, timeout=30)
            time.sleep(rng.uniform(0.0, 0.3))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            workers[victim] = _start_worker(env, config_file, postgres_database_url, log)
        _wait_until_delivered(local, timeout=180, log=log)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)

    # Exactly one account per user: a second create would have collided on userName (409)
    # and dead-lettered; every event is done, none dead.
    remote_docs = _docs(remote_engine, "remote")
    assert len(remote_docs) == USERS
    created = _deliveries(local, "create")
    assert len(created) == USERS
    # The kills did land mid-delivery: some claims were taken over after their lease expired.
    assert _taken_over(local) > 0
    local_names = _given_names(local, "acme")
    remote_names = {
        doc["userName"]: doc["name"]["givenName"] for doc in _docs(remote_engine, "remote")
    }
    assert remote_names == {local_names[i][0]: local_names[i][1] for i in local_names}
    local.dispose()


def _create(service: ResourceService, n: int) -> str:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{n:04d}@acme.com",
        "name": {"givenName": "v0", "familyName": f"N{n}"},
        "emails": [{"value": f"user{n:04d}@acme.com", "type": "work"}],
    }
    return str(service.create("acme", USER, body).page.resources[0].id)


def _rename(service: ResourceService, user_id: str, given: str) -> None:
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": given}],
    }
    service.patch("acme", USER, user_id, patch)


def _wait_until_holding(engine: sa.Engine, pid: int, timeout: float) -> None:
    """Until the worker process ``pid`` holds at least one claim (ids are host:pid:nonce)."""
    outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
    query = sa.select(sa.func.count()).where(
        outbox.c.status == "inflight", outbox.c.claimed_by.like(f"%:{pid}:%")
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
        time.sleep(0.02)


def _wait_until_delivered(engine: sa.Engine, timeout: float, log: Path) -> None:
    outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            counts = dict(
                connection.execute(
                    sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
                ).all()
            )
        if set(counts) == {"done"}:
            return
        if "dead" in counts:
            with engine.connect() as connection:
                errors = connection.execute(
                    sa.select(outbox.c.action, outbox.c.last_error).where(outbox.c.status == "dead")
                ).all()
            raise AssertionError(f"dead letters: {errors}")
        time.sleep(0.5)
    raise AssertionError(f"not all delivered: {counts}\n{log.read_text()[-3000:]}")


def _deliveries(engine: sa.Engine, operation: str) -> list[Any]:
    table = Delivery.__table__  # type: ignore[attr-defined]
    query = sa.select(table).where(table.c.operation == operation, table.c.outcome == "delivered")
    with engine.connect() as connection:
        return list(connection.execute(query))


def _taken_over(engine: sa.Engine) -> int:
    outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return int(
            connection.execute(sa.select(sa.func.count()).where(outbox.c.attempts > 1)).scalar_one()
        )


def _docs(engine: sa.Engine, tenant: str) -> list[dict[str, Any]]:
    table = USER.table
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.doc).where(table.c.tenant_id == tenant)
        ).scalars()
        return [doc if isinstance(doc, dict) else __import__("orjson").loads(doc) for doc in rows]


def _given_names(engine: sa.Engine, tenant: str) -> dict[str, tuple[str, str]]:
    return {doc["id"]: (doc["userName"], doc["name"]["givenName"]) for doc in _docs(engine, tenant)}
