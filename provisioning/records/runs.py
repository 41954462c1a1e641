"""Sync runs as rows: start one, finish it with its counts and failures, list and read them.

A run is the unit an admin reads after a source pull or a target backfill ("scimgw runs"):
what started it, when, how it ended, what it counted, and each person it could not apply
with the reason. Two rules hold across every process, enforced by the database, not by
a lock held in memory:

- a connection runs at most once at a time: starting while a run is ``running`` raises
  :class:`RunInProgress` (a partial unique index on the running rows);
- a scheduled run fires once per slot: the slot (the due time) is unique per connection,
  so the second process to fire it gets :class:`SlotTaken`.

A run left ``running`` by a process that died is closed by :func:`abandon` so that the
connection can run again. Rows hold counts, statuses and redacted reasons, never
attribute values.
"""

import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.database import writer
from gateway.store.tables import SyncRun, SyncRunFailure

runs = SyncRun.__table__  # type: ignore[attr-defined]
failures = SyncRunFailure.__table__  # type: ignore[attr-defined]

#: The counters of a run, in the order reports print them.
COUNTS = (
    "read",
    "created",
    "updated",
    "deactivated",
    "reactivated",
    "unchanged",
    "skipped",
    "failed",
)
TRIGGERS = ("manual", "schedule", "event")
DIRECTIONS = ("source", "target")
#: A finished run's status: every change applied, some failed, or held by the guard.
ENDINGS = ("succeeded", "failed", "held")

#: Bounds of what a run keeps, so that a broken feed cannot fill the database.
MAX_FAILURES = 1000
MAX_REASON = 1000
MAX_MESSAGE = 2000


class RunInProgress(Exception):
    """The connection is already running; the new run was not started."""

    def __init__(self, connection: str, run_id: str | None) -> None:
        super().__init__(f"connection {connection!r} is already running (run {run_id})")
        self.connection = connection
        self.run_id = run_id


class SlotTaken(Exception):
    """Another process already fired this scheduled run."""


@dataclass(frozen=True)
class Failure:
    person: str
    reason: str


@dataclass(frozen=True)
class Run:
    id: str
    tenant_id: str
    connection: str
    direction: str
    trigger: str
    status: str
    runner: str
    started: datetime
    finished: datetime | None = None
    slot: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    message: str | None = None
    failures: tuple[Failure, ...] = ()

    @property
    def seconds(self) -> float | None:
        if self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


@dataclass(frozen=True)
class RunRequest:
    """What to run: one connection of one tenant, why, and whether to write anything.

    ``slot`` is the scheduled due time (ISO 8601, UTC) of a scheduled run, the key that
    makes it fire once across processes; None for a manual or event run.
    """

    tenant: str
    connection: str
    trigger: str = "manual"
    dry_run: bool = False
    slot: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: what a CLI prints, what a schedule mails.

    ``run_id`` is None for a dry run (it writes nothing, not even its run row).
    ``changes`` lists, one line each, who is created, which attributes change and who is
    deactivated: the diff a dry run prints (attribute names, never values).
    """

    run_id: str | None
    status: str
    counts: Mapping[str, int]
    failures: tuple[Failure, ...] = ()
    changes: tuple[str, ...] = ()
    message: str | None = None


#: Called with (done, total) as a run progresses; total is None while unknown.
Progress = Callable[[int, int | None], None]


class SyncRunner(Protocol):
    """Runs one connection (a source pull or a target backfill) and records the run.

    Raises :class:`RunInProgress` when the connection is running, :class:`SlotTaken` when
    the request's slot was fired by another process; any other failure is recorded on the
    run (status ``failed``, with its message) and returned, not raised.
    """

    async def __call__(
        self, request: RunRequest, progress: Progress | None = None
    ) -> RunOutcome: ...


def start(
    connection: sa.Connection,
    *,
    tenant: str,
    name: str,
    direction: str,
    trigger: str,
    runner: str,
    now: datetime,
    slot: str | None = None,
) -> str:
    """Insert a ``running`` row and return its id, in the caller's transaction.

    Raises :class:`SlotTaken` if the slot was fired already, :class:`RunInProgress` if the
    connection is running. Call it in a transaction of its own: a refused insert leaves
    the transaction unusable on PostgreSQL.
    """
    if direction not in DIRECTIONS or trigger not in TRIGGERS:
        raise ValueError(f"direction {direction!r}, trigger {trigger!r}")
    run_id = str(uuid.uuid4())
    row: dict[str, object] = {
        "id": run_id,
        "tenant_id": tenant,
        "connection": name,
        "direction": direction,
        "trigger": trigger,
        "slot": slot,
        "status": "running",
        "runner": runner[:80],
        "started": now,
        "counts": {},
    }
    try:
        with connection.begin_nested():
            connection.execute(sa.insert(runs), [row])
    except sa.exc.IntegrityError:
        if slot is not None and _slot_fired(connection, tenant, name, slot):
            raise SlotTaken(slot) from None
        raise RunInProgress(name, running(connection, tenant, name)) from None
    return run_id


def finish(
    connection: sa.Connection,
    run_id: str,
    *,
    status: str,
    counts: Mapping[str, int],
    now: datetime,
    failed: Iterable[Failure] = (),
    message: str | None = None,
) -> None:
    """Close a run with its ending, counts and (at most MAX_FAILURES) failures."""
    if status not in ENDINGS:
        raise ValueError(f"status {status!r}")
    connection.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(
            status=status,
            finished=now,
            counts={name: int(counts.get(name, 0)) for name in COUNTS},
            message=message[:MAX_MESSAGE] if message else None,
        )
    )
    rows = [
        {"run_id": run_id, "person": item.person[:300], "reason": item.reason[:MAX_REASON]}
        for _, item in zip(range(MAX_FAILURES), failed, strict=False)
    ]
    if rows:
        connection.execute(sa.insert(failures), rows)


def running(connection: sa.Connection, tenant: str, name: str) -> str | None:
    """The id of the connection's running run, if any."""
    return connection.execute(
        sa.select(runs.c.id).where(
            runs.c.tenant_id == tenant, runs.c.connection == name, runs.c.status == "running"
        )
    ).scalar()


def abandon(
    connection: sa.Connection, tenant: str, name: str, now: datetime, reason: str
) -> str | None:
    """Close the connection's running run as failed (its process died): returns its id."""
    run_id = running(connection, tenant, name)
    if run_id is not None:
        connection.execute(
            sa.update(runs)
            .where(runs.c.id == run_id, runs.c.status == "running")
            .values(status="failed", finished=now, message=reason[:MAX_MESSAGE])
        )
    return run_id


def get(connection: sa.Connection, run_id: str, tenant: str | None = None) -> Run | None:
    """One run with its failures; None if there is no such run (in that tenant)."""
    query = sa.select(runs).where(runs.c.id == run_id)
    if tenant is not None:
        query = query.where(runs.c.tenant_id == tenant)
    row = connection.execute(query).mappings().first()
    if row is None:
        return None
    found = connection.execute(
        sa.select(failures.c.person, failures.c.reason)
        .where(failures.c.run_id == run_id)
        .order_by(failures.c.id)
    ).all()
    return _run(row, tuple(Failure(person, reason) for person, reason in found))


def recent(
    connection: sa.Connection,
    *,
    tenant: str | None = None,
    name: str | None = None,
    limit: int = 50,
) -> list[Run]:
    """The latest runs first, without their failures (``get`` reads those)."""
    query = sa.select(runs).order_by(runs.c.started.desc(), runs.c.id).limit(limit)
    if tenant is not None:
        query = query.where(runs.c.tenant_id == tenant)
    if name is not None:
        query = query.where(runs.c.connection == name)
    return [_run(row, ()) for row in connection.execute(query).mappings()]


def last_slot(connection: sa.Connection, tenant: str, name: str) -> str | None:
    """The slot of the connection's latest scheduled run (the scheduler's memory)."""
    return connection.execute(
        sa.select(sa.func.max(runs.c.slot)).where(
            runs.c.tenant_id == tenant, runs.c.connection == name, runs.c.slot.is_not(None)
        )
    ).scalar()


def _slot_fired(connection: sa.Connection, tenant: str, name: str, slot: str) -> bool:
    return (
        connection.execute(
            sa.select(runs.c.id).where(
                runs.c.tenant_id == tenant, runs.c.connection == name, runs.c.slot == slot
            )
        ).first()
        is not None
    )


def _run(row: sa.RowMapping, found: tuple[Failure, ...]) -> Run:
    values = dict(row)
    values["counts"] = dict(values.get("counts") or {})
    return Run(**values, failures=found)


def this_process() -> str:
    """How a run names the process running it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def open_run(
    engine: Engine,
    *,
    tenant: str,
    name: str,
    direction: str,
    trigger: str,
    now: datetime,
    slot: str | None = None,
) -> str:
    """:func:`start` in a transaction of its own, for this process; a run left ``running``
    by a process of this host that is gone (killed mid-run) is closed first, else the
    connection could never run again. A run of another host is left alone: whether its
    process lives cannot be told from here (``scimgw runs abandon``)."""
    values = {"tenant": tenant, "name": name, "direction": direction, "trigger": trigger}
    try:
        with writer(engine).begin() as connection:
            return start(connection, **values, runner=this_process(), now=now, slot=slot)
    except RunInProgress as busy:
        if not _abandon_if_dead(engine, tenant, name, busy.run_id, now):
            raise
    with writer(engine).begin() as connection:
        return start(connection, **values, runner=this_process(), now=now, slot=slot)


def close_run(
    engine: Engine,
    run_id: str,
    *,
    status: str,
    counts: Mapping[str, int],
    now: datetime,
    failed: Iterable[Failure] = (),
    message: str | None = None,
) -> None:
    """:func:`finish` in a transaction of its own."""
    with writer(engine).begin() as connection:
        finish(
            connection,
            run_id,
            status=status,
            counts=counts,
            now=now,
            failed=failed,
            message=message,
        )


def _abandon_if_dead(
    engine: Engine, tenant: str, name: str, run_id: str | None, now: datetime
) -> bool:
    with writer(engine).begin() as connection:
        run = get(connection, run_id) if run_id else None
        if run is None or run.status != "running" or not _dead_here(run.runner):
            return False
        abandon(connection, tenant, name, now, f"abandoned: its process {run.runner} is gone")
    return True


def _dead_here(runner: str) -> bool:
    """Whether ``runner`` (``host:pid``, :func:`this_process`) is a process of this host
    that no longer exists."""
    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not (pid.isascii() and pid.isdigit()):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False
