"""Two ``scimgw worker`` processes on one PostgreSQL run one schedule: each slot runs once.

Real subprocesses, a 1-second schedule, a connection with no users (its runs enqueue
nothing): what is tested is the firing across processes, not the delivery.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gateway.store.database import create_engine
from gateway.store.tables import SyncRun
from tests.conftest import _truncate

pytestmark = pytest.mark.postgres
SCIMGW = str(Path(sys.executable).with_name("scimgw"))


def test_two_worker_processes_fire_each_slot_of_a_schedule_once(
    postgres_database_url: str, tmp_path: Path
) -> None:
    engine = create_engine(postgres_database_url)
    _truncate(engine)
    config = {
        "tenants": {
            "acme": {
                "connections": {
                    "hooks": {
                        "type": "webhook",
                        "base_url": "http://127.0.0.1:9",
                        "options": {"secret": "${HOOK_SECRET}"},
                        "schedule": {"every": "1s"},
                    }
                }
            }
        }
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "HOOK_SECRET": "whsec-processes-2", "SCIMGW_LOG_LEVEL": "debug"}
    command = [SCIMGW, "worker", "--database-url", postgres_database_url, "--config", str(path)]
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [_start(command, env, log) for log in logs]
    try:
        assert _wait_for_runs(engine, 6), _output(logs)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
    rows = _runs(engine)
    engine.dispose()
    assert all(worker.returncode == 0 for worker in workers), _output(logs)
    assert {row.status for row in rows} == {"succeeded"}, [row.message for row in rows]
    slots = [row.slot for row in rows]
    assert len(slots) == len(set(slots))  # each slot ran once
    # Both processes went for the slots: the one that lost a slot was told and skipped it.
    # (On a busy machine a slot that comes while its run is still going is skipped: the
    # next one runs; what never happens is a slot running twice.)
    assert "scheduler.fired_elsewhere" in _output(logs)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _runs(engine: object) -> list[SyncRun]:
    import sqlalchemy as sa

    table = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return list(connection.execute(sa.select(table)))


def _wait_for_runs(engine: object, count: int) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len([r for r in _runs(engine) if r.status != "running"]) >= count:
            return True
        time.sleep(0.2)
    return False


def _output(logs: list[Path]) -> str:
    return "\n---\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
