"""The scheduler: runs each connection with a ``schedule:`` block when its slot comes.

A slot is a due time: ``activation + initial_delay + k * every``, or each cron time from
``activation + initial_delay`` on. Firing a slot is starting a run with that slot
(:func:`provisioning.records.runs.start`), and the slot is unique per connection in the
database: every process may run a scheduler, and each slot runs once across all of them
(the others get :class:`~provisioning.records.runs.SlotTaken`). A run never overlaps
itself (:class:`~provisioning.records.runs.RunInProgress`: the slot is tried again on the
next tick). After downtime only the latest missed slot runs: once, not once per slot.

The clock is injected and :meth:`Scheduler.tick` does one pass, so tests drive a virtual
clock without sleeping; :meth:`Scheduler.run` loops it until stopped, asleep until the
next slot.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from croniter import croniter
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig, RunReport, Schedule, TargetConnection
from gateway.store.calls import StoreCaller
from gateway.store.database import writer
from provisioning.records import activations, runs

log = structlog.get_logger("scimgw.scheduler")

#: Longest sleep between passes: a config with no slot soon still notices a stop quickly.
POLL_SECONDS = 30.0
#: How long a stopping scheduler lets the runs it started finish before cancelling them.
GRACE_SECONDS = 10.0
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Scheduled:
    """One connection with a schedule, as the configuration declares it."""

    tenant: str
    name: str
    settings: TargetConnection

    @property
    def schedule(self) -> Schedule:
        assert self.settings.schedule is not None
        return self.settings.schedule

    @property
    def on(self) -> bool:
        return self.settings.enabled and self.schedule.enabled


#: Called after each scheduled run of a connection with a ``report:`` block (the email
#: report, provisioning.engine.mail.Mailer.report); it must not raise.
Notify = Callable[[RunReport, runs.RunRequest, runs.RunOutcome], Awaitable[object]]


def slot_text(slot: datetime) -> str:
    """A slot as the run row keeps it: UTC, whole seconds, ordered as text."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_slot(schedule: Schedule, activated: datetime, now: datetime) -> datetime | None:
    """The latest slot at or before ``now``; None before the first one."""
    first = activated + schedule.delay
    if now < first:
        return None
    if schedule.cron is None:
        every = _every(schedule)
        return first + ((now - first) // every) * every
    slot = croniter(schedule.cron, _whole(now) + _SECOND).get_prev(datetime)
    return slot if slot >= first else None


def next_slot(schedule: Schedule, activated: datetime, now: datetime) -> datetime:
    """The first slot after ``now``."""
    first = activated + schedule.delay
    if schedule.cron is None:
        if now < first:
            return first
        every = _every(schedule)
        return first + ((now - first) // every + 1) * every
    start = max(_whole(now), first - _SECOND)
    return croniter(schedule.cron, start).get_next(datetime)


def _every(schedule: Schedule) -> timedelta:
    # Whole seconds: slots are kept to the second.
    return timedelta(seconds=max(1, round(schedule.every or 1)))


def _whole(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def scheduled(config: GatewayConfig, only: str | None = None) -> list[Scheduled]:
    """Every connection of every tenant that declares a schedule (on or off)."""
    return [
        Scheduled(tenant_id, name, settings)
        for tenant_id, tenant in config.tenants.items()
        for name, settings in tenant.connections.items()
        if settings.schedule is not None and (only is None or name == only)
    ]


class Scheduler:
    """Fires the due slots of every scheduled connection through one runner.

    Args:
        engine: the store (activations and the run rows' slots).
        config: the connections and their schedules.
        runner: runs one connection (``scimgw.syncing.build_runner`` dispatches by
            direction).
        notify: called after each run it fired, with the outcome (the email report).
        clock: the current time; tests pass a virtual one.
        only: schedule this connection only (``scimgw worker --connection``).
    """

    def __init__(
        self,
        engine: Engine,
        config: GatewayConfig,
        runner: runs.SyncRunner,
        *,
        notify: Notify | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        only: str | None = None,
    ) -> None:
        self.engine = engine
        self.entries = scheduled(config, only)
        self.runner = runner
        self.notify = notify
        self.clock = clock
        self.store = StoreCaller(engine)
        self._activated: dict[tuple[str, str], datetime] = {}
        self._fired: dict[tuple[str, str], str] = {}
        self._off: set[tuple[str, str]] = set()
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def tick(self) -> list[asyncio.Task[None]]:
        """Start a run for each connection whose latest slot has not run; return the
        tasks started (each one run, then its report)."""
        now = self.clock()
        started = []
        for entry in self.entries:
            key = (entry.tenant, entry.name)
            if not entry.on:
                await self._switch_off(key)
                continue
            self._off.discard(key)
            slot = await self._due(entry, now)
            running = self.tasks.get(key)
            if slot is not None and (running is None or running.done()):
                self._fired[key] = slot
                task = asyncio.create_task(self._fire(entry, slot), name=f"schedule {key}")
                self.tasks[key] = task
                started.append(task)
        return started

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set, asleep until the next slot in between."""
        log.info("scheduler.started", connections=len(self.entries))
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:  # the store is away: try again on the next pass
                    log.exception("scheduler.tick_failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.sleep_seconds())
        finally:
            await self._wind_down()

    def sleep_seconds(self) -> float:
        """Seconds until the nearest next slot of a known activation, at most POLL."""
        now = self.clock()
        waits = [POLL_SECONDS]
        for entry in self.entries:
            activated = self._activated.get((entry.tenant, entry.name))
            if entry.on and activated is not None:
                upcoming = next_slot(entry.schedule, activated, now)
                waits.append((upcoming - now).total_seconds())
        return max(0.0, min(waits))

    async def _due(self, entry: Scheduled, now: datetime) -> str | None:
        """The connection's latest slot if no run of it is known to this process."""
        key = (entry.tenant, entry.name)
        if key not in self._activated:
            activated, last = await self.store(self._remember, entry, now)
            self._activated[key] = activated
            if last is not None:
                self._fired[key] = last
        slot = latest_slot(entry.schedule, self._activated[key], now)
        if slot is None or slot_text(slot) <= self._fired.get(key, ""):
            return None
        return slot_text(slot)

    def _remember(self, entry: Scheduled, now: datetime) -> tuple[datetime, str | None]:
        with writer(self.engine).begin() as connection:
            activated = activations.activate(connection, entry.tenant, entry.name, now)
            return activated, runs.last_slot(connection, entry.tenant, entry.name)

    async def _switch_off(self, key: tuple[str, str]) -> None:
        """Forget the activation once, when this process first sees the schedule off."""
        if key not in self._off:
            self._off.add(key)
            self._activated.pop(key, None)
            self._fired.pop(key, None)
            await self.store(self._forget, key)

    def _forget(self, key: tuple[str, str]) -> None:
        with writer(self.engine).begin() as connection:
            if activations.deactivate(connection, *key):
                log.info("scheduler.switched_off", tenant=key[0], connection=key[1])

    async def _fire(self, entry: Scheduled, slot: str) -> None:
        request = runs.RunRequest(entry.tenant, entry.name, trigger="schedule", slot=slot)
        key = (entry.tenant, entry.name)
        try:
            outcome = await self.runner(request)
        except runs.SlotTaken:
            log.debug("scheduler.fired_elsewhere", connection=entry.name, slot=slot)
            return
        except runs.RunInProgress as exc:
            # Not run: the slot stays due, and the next pass tries it again.
            self._fired.pop(key, None)
            self._activated.pop(key, None)
            log.info("scheduler.busy", connection=entry.name, slot=slot, running=exc.run_id)
            return
        except Exception:
            log.exception("scheduler.run_not_started", connection=entry.name, slot=slot)
            return
        log.info(
            "scheduler.ran",
            connection=entry.name,
            slot=slot,
            run=outcome.run_id,
            status=outcome.status,
        )
        if self.notify is not None and entry.settings.report is not None:
            try:
                await self.notify(entry.settings.report, request, outcome)
            except Exception:  # a report is never worth the scheduler
                log.exception("scheduler.report_failed", connection=entry.name)

    async def _wind_down(self) -> None:
        pending = [task for task in self.tasks.values() if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
