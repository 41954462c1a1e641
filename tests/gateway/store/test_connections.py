"""The connections a service keeps on SQLite: fresh reads, no checkpoint inside a commit."""

import gc
import time
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import parse_config
from gateway.scim.kinds import USER
from gateway.service import ResourceService
from gateway.store import checkpoints
from gateway.store.connections import Connections
from gateway.store.database import create_engine

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
CONFIG = parse_config({"tenants": {"acme": {}}})
TITLE = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}


def _until(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_reads_see_at_once_what_another_process_commits(database_url: str) -> None:
    """``serve --workers N``: nothing a process read may hide another's later commit."""
    mine, theirs = create_engine(database_url), create_engine(database_url)
    try:
        ensure_tenant(mine, "acme")
        reader, writer = ResourceService(mine, CONFIG), ResourceService(theirs, CONFIG)
        body = {"schemas": [CORE], "userName": "fresh@example.com"}
        user_id = writer.create("acme", USER, body).page.resources[0].id
        assert reader.get("acme", USER, user_id).page.resources[0].version == 1
        patch = {**TITLE, "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}
        writer.patch("acme", USER, user_id, patch)
        again = reader.get("acme", USER, user_id).page.resources[0]
        assert again.version == 2 and again.doc["title"] == "Boss"
    finally:
        reader.close()
        writer.close()
        mine.dispose()
        theirs.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Any, sqlite_template: str) -> Any:
    import shutil

    shutil.copyfile(sqlite_template, tmp_path / "kept.db")
    engine = create_engine(f"sqlite:///{tmp_path / 'kept.db'}")
    yield engine
    engine.dispose()


def test_commits_leave_checkpoints_to_the_background_thread(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(checkpoints, "_checkpoint", ran.append)
    connections = Connections(sqlite_engine)
    connections.checkpointer.every = 2
    try:
        for _ in range(2):
            with connections.transaction() as connection:
                setting = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
                assert setting == 0  # this connection's commits never checkpoint
        assert _until(lambda: len(ran) >= 1)
    finally:
        connections.close()
    with sqlite_engine.connect() as pooled:  # everyone else keeps SQLite's default
        assert pooled.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


def test_the_thread_stops_and_connections_close_when_their_owner_goes(
    sqlite_engine: Engine,
) -> None:
    connections = Connections(sqlite_engine)
    with connections.transaction():
        pass
    kept, thread = connections._kept()[0], connections.checkpointer._thread
    assert thread is not None and thread.is_alive()
    del connections
    gc.collect()
    assert kept.closed
    assert _until(lambda: not thread.is_alive())
