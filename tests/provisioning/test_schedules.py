"""The scheduler, driven by a virtual clock: each slot fires once across schedulers, after
restarts too; missed slots run once; a running connection is not started again.

The runs are real target runs (provisioning.accounts.TargetRunner) on the real store; the
clock is the only thing the tests move.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from gateway.config import Schedule
from gateway.config.file import GatewayConfig
from gateway.store.tables import SyncRun, SyncSchedule
from provisioning.accounts import TargetRunner
from provisioning.engine import Scheduler
from provisioning.engine.schedules import latest_slot, next_slot
from provisioning.records import runs
from scimgw.asgi import build
from tests.provisioning.harness import TENANT, config_with

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class VirtualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def _config(schedule: dict[str, Any], **connection: Any) -> GatewayConfig:
    return config_with(
        "hooks",
        {
            "type": "webhook",
            "base_url": "http://hooks.test",
            "options": {"secret": "${HOOK_SECRET}"},
            "schedule": schedule,
            **connection,
        },
    )


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "whsec-schedules-12")


class Schedulers:
    """Schedulers of one configuration, as separate processes would run them."""

    def __init__(self, engine: Engine, config: GatewayConfig, clock: VirtualClock) -> None:
        self.engine, self.config, self.clock = engine, config, clock

    def new(self, config: GatewayConfig | None = None) -> Scheduler:
        config = config or self.config
        runner = TargetRunner(self.engine, config, clock=self.clock)
        return Scheduler(self.engine, config, runner, clock=self.clock)

    def slots(self) -> list[str]:
        with self.engine.connect() as connection:
            found = runs.recent(connection, tenant=TENANT, name="hooks", limit=100)
        assert all(run.trigger == "schedule" for run in found)
        return sorted(run.slot or "" for run in found)


async def _tick(*schedulers: Scheduler) -> None:
    tasks = [task for scheduler in schedulers for task in await scheduler.tick()]
    await asyncio.gather(*tasks)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


# -- the slots --------------------------------------------------------------------------


def test_first_run_twelve_hours_after_activation_then_every_24_hours() -> None:
    """S2.6: "pulled 12 hours after activation and then every 24 hours"."""
    schedule = Schedule(every="24h", initial_delay="12h")
    assert latest_slot(schedule, T0, T0 + 11 * HOUR) is None
    assert latest_slot(schedule, T0, T0 + 12 * HOUR) == T0 + 12 * HOUR
    assert latest_slot(schedule, T0, T0 + 35 * HOUR) == T0 + 12 * HOUR
    assert latest_slot(schedule, T0, T0 + 36 * HOUR) == T0 + 36 * HOUR
    assert next_slot(schedule, T0, T0) == T0 + 12 * HOUR
    assert next_slot(schedule, T0, T0 + 12 * HOUR) == T0 + 36 * HOUR


def test_a_cron_schedule_fires_on_its_times_from_the_end_of_the_delay() -> None:
    schedule = Schedule(cron="30 2 * * *", initial_delay="1d")  # 02:30 UTC daily
    assert latest_slot(schedule, T0, T0 + 20 * HOUR) is None  # 02:30 within the delay
    first = datetime(2026, 12, 3, 2, 30, tzinfo=UTC)
    assert next_slot(schedule, T0, T0) == first
    assert latest_slot(schedule, T0, first) == first
    assert latest_slot(schedule, T0, first + 23 * HOUR) == first
    assert next_slot(schedule, T0, first) == first + 24 * HOUR


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"every": "1h", "cron": "* * * * *"}, "exactly one of every or cron"),
        ({}, "exactly one of every or cron"),
        ({"cron": "every monday"}, "not a cron expression"),
        ({"every": "soon"}, "expected a duration"),
        ({"every": "0s"}, "greater than or equal to 1"),
    ],
)
def test_a_schedule_that_cannot_fire_is_refused_with_the_reason(
    block: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Schedule.model_validate(block)


# -- firing -----------------------------------------------------------------------------


async def test_each_slot_fires_once_on_time_and_missed_slots_run_once(
    engine: Engine, clock: VirtualClock
) -> None:
    processes = Schedulers(engine, _config({"every": "24h", "initial_delay": "12h"}), clock)
    scheduler = processes.new()
    await _tick(scheduler)  # activation
    clock.advance(12 * HOUR - timedelta(seconds=1))
    await _tick(scheduler)
    assert processes.slots() == []
    clock.advance(timedelta(seconds=1))
    await _tick(scheduler)
    await _tick(scheduler)
    assert processes.slots() == ["2026-12-01T21:00:00Z"]
    clock.advance(24 * HOUR)
    await _tick(scheduler)
    # Down for four days: the latest slot runs once, not the four it missed.
    clock.advance(4 * 24 * HOUR + 3 * HOUR)
    await _tick(scheduler)
    await _tick(scheduler)
    assert processes.slots() == [
        "2026-12-01T21:00:00Z",
        "2026-12-02T21:00:00Z",
        "2026-12-06T21:00:00Z",
    ]
    # Asleep until the next slot, at most POLL_SECONDS (30) at a time.
    assert scheduler.sleep_seconds() == 30
    clock.advance(21 * HOUR - timedelta(seconds=10))
    assert scheduler.sleep_seconds() == 10


async def test_two_schedulers_fire_each_slot_once(engine: Engine, clock: VirtualClock) -> None:
    processes = Schedulers(engine, _config({"every": "1h"}), clock)
    first, second = processes.new(), processes.new()
    for _ in range(5):
        await _tick(first, second)
        clock.advance(HOUR)
    assert processes.slots() == [f"2026-12-01T{hour:02}:00:00Z" for hour in range(9, 14)]


async def test_a_restarted_scheduler_keeps_the_activation_and_the_slots_run(
    engine: Engine, clock: VirtualClock
) -> None:
    processes = Schedulers(engine, _config({"every": "24h", "initial_delay": "12h"}), clock)
    await _tick(processes.new())
    clock.advance(13 * HOUR)
    await _tick(processes.new())
    clock.advance(HOUR)
    await _tick(processes.new())  # a third process start: the slot ran already
    assert processes.slots() == ["2026-12-01T21:00:00Z"]
    rows = Harnessless(engine).rows(SyncSchedule)
    assert [(r.connection, r.activated) for r in rows] == [("hooks", T0)]


async def test_switching_a_schedule_off_and_on_starts_its_delay_anew(
    engine: Engine, clock: VirtualClock
) -> None:
    on = _config({"every": "24h", "initial_delay": "12h"})
    off = _config({"every": "24h", "initial_delay": "12h", "enabled": False})
    processes = Schedulers(engine, on, clock)
    await _tick(processes.new())
    clock.advance(6 * HOUR)
    await _tick(processes.new(off))
    assert Harnessless(engine).rows(SyncSchedule) == []
    clock.advance(7 * HOUR)  # 13 h after the first activation, 7 h after the second
    scheduler = processes.new()
    await _tick(scheduler)
    clock.advance(6 * HOUR)
    await _tick(scheduler)
    assert processes.slots() == []
    clock.advance(6 * HOUR)
    await _tick(scheduler)
    assert processes.slots() == ["2026-12-02T10:00:00Z"]  # 12 h after T0 + 13 h


async def test_a_running_connection_is_not_started_and_its_slot_runs_after(
    engine: Engine, clock: VirtualClock
) -> None:
    processes = Schedulers(engine, _config({"every": "1h"}), clock)
    with engine.begin() as connection:
        manual = runs.start(
            connection, tenant=TENANT, name="hooks", direction="target", trigger="manual",
            runner="cli", now=clock(),
        )  # fmt: skip
    scheduler = processes.new()
    await _tick(scheduler)
    with engine.connect() as connection:
        assert [r.id for r in runs.recent(connection)] == [manual]
    with engine.begin() as connection:
        runs.finish(connection, manual, status="succeeded", counts={}, now=clock())
    clock.advance(timedelta(minutes=5))
    await _tick(scheduler)
    with engine.connect() as connection:
        scheduled = [r for r in runs.recent(connection) if r.trigger == "schedule"]
    assert [r.slot for r in scheduled] == ["2026-12-01T09:00:00Z"]


async def test_the_scheduler_runs_until_stopped(engine: Engine) -> None:
    """The loop itself, on the real clock: a 1-second schedule fires within its slot."""
    config = _config({"every": "1s"})
    runner = TargetRunner(engine, config)
    scheduler = Scheduler(engine, config, runner)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if len(Harnessless(engine).rows(SyncRun)) >= 2:
            break
    stop.set()
    await task
    slots = [row.slot for row in Harnessless(engine).rows(SyncRun)]
    assert len(slots) >= 2 and len(set(slots)) == len(slots)


class Harnessless:
    """Reading rows without a gateway."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rows(self, table: Any) -> list[Any]:
        import sqlalchemy as sa

        t = table.__table__
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(t)))


async def test_scimgw_serve_runs_the_scheduler_in_its_lifespan(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ASGI entry (scimgw.asgi) starts the scheduler with the embedded worker and
    stops it with the app."""
    raw = {
        "tenants": {
            TENANT: {
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
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("SCIMGW_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SCIMGW_CONFIG", str(path))
    app = build()
    messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})
    sent: list[str] = []

    async def send(message: Any) -> None:
        sent.append(message["type"])

    lifespan = asyncio.create_task(app({"type": "lifespan"}, messages.get, send))
    for _ in range(200):
        await asyncio.sleep(0.05)
        if Harnessless(engine).rows(SyncRun):
            break
    await messages.put({"type": "lifespan.shutdown"})
    await lifespan
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    [run] = [row for row in Harnessless(engine).rows(SyncRun)][:1]
    assert run.trigger == "schedule" and run.status == "succeeded"
