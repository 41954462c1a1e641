"""Sync run rows: one running run per connection, one run per scheduled slot, kept
failures, on both databases."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from provisioning.records import runs

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def tenant(engine: Engine) -> str:
    ensure_tenant(engine, "acme")
    return "acme"


def _start(engine: Engine, name: str = "bamboo", **extra: object) -> str:
    values: dict[str, object] = {
        "tenant": "acme",
        "name": name,
        "direction": "source",
        "trigger": "manual",
        "runner": "test",
        "now": NOW,
    }
    values.update(extra)
    with engine.begin() as connection:
        return runs.start(connection, **values)  # type: ignore[arg-type]


def test_a_finished_run_reads_back_with_counts_and_failures(engine: Engine, tenant: str) -> None:
    run_id = _start(engine)
    with engine.begin() as connection:
        runs.finish(
            connection,
            run_id,
            status="failed",
            counts={"read": 3, "created": 1, "failed": 2},
            now=NOW + timedelta(seconds=5),
            failed=[runs.Failure("E1", "no work email"), runs.Failure("E2", "manager E9 unknown")],
            message="2 people could not be applied",
        )
    with engine.connect() as connection:
        run = runs.get(connection, run_id)
    assert run is not None
    assert (run.status, run.seconds, run.message) == (
        "failed",
        5.0,
        "2 people could not be applied",
    )
    assert run.counts["read"] == 3 and run.counts["created"] == 1 and run.counts["updated"] == 0
    assert [failure.person for failure in run.failures] == ["E1", "E2"]
    assert run.failures[1].reason == "manager E9 unknown"


def test_a_connection_runs_once_at_a_time(engine: Engine, tenant: str) -> None:
    first = _start(engine)
    with pytest.raises(runs.RunInProgress) as refused:
        _start(engine)
    assert refused.value.run_id == first
    other = _start(engine, name="lms")  # another connection is not blocked
    assert other != first
    with engine.begin() as connection:
        runs.finish(connection, first, status="succeeded", counts={}, now=NOW)
    assert _start(engine) != first


def test_a_scheduled_slot_fires_once(engine: Engine, tenant: str) -> None:
    slot = "2026-12-02T09:00:00+00:00"
    run_id = _start(engine, trigger="schedule", slot=slot)
    with engine.begin() as connection:
        runs.finish(connection, run_id, status="succeeded", counts={}, now=NOW)
    with pytest.raises(runs.SlotTaken):
        _start(engine, trigger="schedule", slot=slot)
    with engine.connect() as connection:
        assert runs.last_slot(connection, "acme", "bamboo") == slot


def test_a_run_left_by_a_dead_process_is_closed_as_failed(engine: Engine, tenant: str) -> None:
    stale = _start(engine)
    with engine.begin() as connection:
        assert runs.abandon(connection, "acme", "bamboo", NOW, "worker w1 died") == stale
    with engine.connect() as connection:
        run = runs.get(connection, stale)
    assert run is not None and (run.status, run.message) == ("failed", "worker w1 died")
    _start(engine)  # the connection can run again


def test_failures_are_bounded(engine: Engine, tenant: str) -> None:
    run_id = _start(engine)
    flood = (runs.Failure(f"E{i}", "x" * 5000) for i in range(runs.MAX_FAILURES + 50))
    with engine.begin() as connection:
        runs.finish(connection, run_id, status="failed", counts={}, now=NOW, failed=flood)
        run = runs.get(connection, run_id)
    assert run is not None and len(run.failures) == runs.MAX_FAILURES
    assert len(run.failures[0].reason) == runs.MAX_REASON


def test_recent_lists_latest_first_per_tenant(engine: Engine, tenant: str) -> None:
    ensure_tenant(engine, "globex")
    older = _start(engine, now=NOW - timedelta(hours=1))
    with engine.begin() as connection:
        runs.finish(connection, older, status="succeeded", counts={}, now=NOW)
    newer = _start(engine)
    with engine.begin() as connection:
        runs.start(
            connection,
            tenant="globex",
            name="bamboo",
            direction="source",
            trigger="manual",
            runner="t",
            now=NOW,
        )
        listed = runs.recent(connection, tenant="acme")
        other = runs.get(connection, newer, tenant="globex")
    assert [run.id for run in listed] == [newer, older]
    assert other is None
