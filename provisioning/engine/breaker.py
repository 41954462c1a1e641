"""The circuit breaker of a target connection: stop calling a target that is down.

Without it every event backs off on its own: 100 pending events against a target answering
503 for 30 s made 543 requests, and once the target was back the backlog took 225 s to
drain, its events stranded in long backoffs (issue 9). With it (``breaker:`` settings):

- **closed**: events are delivered as usual. ``failures`` consecutive outage failures seen
  by a worker open it.
- **open**: the connection claims nothing. An event that fails while it is open (the one
  that opened it, those still in flight) waits for it, due at once, and its attempt is
  given back: an outage does not dead-letter anyone.
- **half-open**: ``cooldown_seconds`` after the last failure, one worker (of all processes)
  takes the probe: it claims one event and delivers it. An answer closes the breaker and
  makes every waiting event due at once; another outage failure keeps it open for another
  cool-down (longer if the target sent ``Retry-After``).

What counts (:func:`verdict`): timeouts, refused connections, 408 and 5xx are outages; a
delivery, and any other answer (4xx, 401/403, a 429 throttle, which has its own pause),
show the target is up.

The state is one row per connection (``connection_breaker``), so every worker process
honours it and ``scimgw status`` shows it. Each worker counts its own consecutive
failures in memory, and writes a transition (open, probe failed, close) in the
transaction of its next claim: a healthy connection costs one primary-key read per claim
and no write.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from gateway.config import CircuitBreaker
from gateway.store.tables import ConnectionBreaker
from provisioning.engine.ledger import DELIVERED, RETRY, Outcome
from provisioning.engine.retry import describe
from provisioning.errors import DeliveryError, RateLimited, TargetConfigError, TransientError
from provisioning.records import claims, record_audit

log = structlog.get_logger("scimgw.breaker")
breakers = ConnectionBreaker.__table__  # type: ignore[attr-defined]
outbox = claims.outbox

CLOSED, OPEN = "closed", "open"
#: What a claim may take: everything due, one event as the probe, or nothing.
ALL, PROBE, NOTHING = "all", "probe", "nothing"
#: Transitions a worker decides and writes at its next claim.
OPENED, PROBE_FAILED, CLOSED_AGAIN = "opened", "probe_failed", "closed"
#: The probe's event made no call (a skip, a mapping failure): another may probe at once.
PROBE_SILENT = "probe_silent"
#: Verdicts on an outcome.
OUTAGE, ANSWERED = "outage", "answered"
#: The longest a target's ``Retry-After`` may hold the breaker open between probes.
MAX_RETRY_AFTER_SECONDS = 3600.0


@dataclass(frozen=True)
class State:
    """A connection's breaker as stored."""

    open: bool = False
    failures: int = 0
    opened_at: datetime | None = None
    retry_at: datetime | None = None
    probe_by: str | None = None
    probe_until: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Change:
    """A transition one worker decided, to be written at its next claim."""

    kind: str
    at: datetime
    failures: int = 0
    retry_at: datetime | None = None
    error: str | None = None


def verdict(outcome: Outcome) -> str | None:
    """OUTAGE, ANSWERED, or None when the outcome says nothing about the target (a
    mapping failure, a skip, a bug)."""
    if outcome.result == DELIVERED:
        return ANSWERED
    cause = outcome.cause
    if not isinstance(cause, DeliveryError):
        return None
    if isinstance(cause, TransientError) and not isinstance(cause, RateLimited | TargetConfigError):
        return OUTAGE
    return ANSWERED


# -- the stored state ----------------------------------------------------------------------


def read(connection: sa.Connection, tenant: str, target: str) -> State:
    row = connection.execute(_select().where(*_key(tenant, target))).first()
    return _state(row) if row else State()


def read_all(connection: sa.Connection) -> dict[tuple[str, str], State]:
    """Every stored breaker, by (tenant, connection): for ``scimgw status``."""
    rows = connection.execute(_select().add_columns(breakers.c.tenant_id, breakers.c.connection))
    return {(row.tenant_id, row.connection): _state(row) for row in rows}


def admit(
    connection: sa.Connection,
    tenant: str,
    target: str,
    worker: str,
    now: datetime,
    lease: timedelta,
) -> str:
    """What this worker may claim now: ALL (closed), PROBE (it holds the probe), NOTHING.

    The probe is taken with one conditional UPDATE, so of all workers only one holds it;
    a worker killed while probing loses it when ``lease`` ends.
    """
    state = read(connection, tenant, target)
    if not state.open:
        return ALL
    if state.retry_at is not None and now < _aware(state.retry_at, now):
        return NOTHING
    free = sa.or_(breakers.c.probe_by.is_(None), breakers.c.probe_until < now)
    taken = connection.execute(
        sa.update(breakers)
        .where(*_key(tenant, target), breakers.c.state == OPEN, free)
        .values(probe_by=worker, probe_until=now + lease)
    )
    return PROBE if taken.rowcount else NOTHING


def drop_probe(connection: sa.Connection, tenant: str, target: str, worker: str) -> None:
    """Give the probe back (nothing was due to probe with)."""
    connection.execute(
        sa.update(breakers)
        .where(*_key(tenant, target), breakers.c.probe_by == worker)
        .values(probe_by=None, probe_until=None)
    )


def write(connection: sa.Connection, tenant: str, target: str, change: Change, worker: str) -> None:
    """Store a transition; closing also makes every waiting event of the connection due."""
    if change.kind == OPENED:
        _open(connection, tenant, target, change, worker)
    elif change.kind == PROBE_SILENT:
        drop_probe(connection, tenant, target, worker)
    elif change.kind == PROBE_FAILED:
        connection.execute(
            sa.update(breakers)
            .where(*_key(tenant, target), breakers.c.state == OPEN, breakers.c.probe_by == worker)
            .values(
                retry_at=change.retry_at,
                failures=breakers.c.failures + 1,
                probe_by=None,
                probe_until=None,
                last_error=_clip(change.error),
            )
        )
    else:
        _close(connection, tenant, target, change, worker)


def _open(connection: sa.Connection, tenant: str, target: str, change: Change, worker: str) -> None:
    values = {
        "state": OPEN,
        "failures": change.failures,
        "opened_at": change.at,
        "retry_at": change.retry_at,
        "probe_by": None,
        "probe_until": None,
        "last_error": _clip(change.error),
    }
    if read(connection, tenant, target).open:
        return  # another worker opened it first
    updated = connection.execute(sa.update(breakers).where(*_key(tenant, target)).values(values))
    if not updated.rowcount:
        key = {"tenant_id": tenant, "connection": target}
        connection.execute(sa.insert(breakers).values(**key, **values))
    detail = f"{change.failures} consecutive failures; last: {change.error}"
    record_audit(
        connection,
        tenant=tenant,
        actor=worker,
        action="breaker.opened",
        at=change.at,
        target=target,
        detail=detail,
    )
    log.warning("breaker.opened", tenant=tenant, connection=target, failures=change.failures)


def _close(
    connection: sa.Connection, tenant: str, target: str, change: Change, worker: str
) -> None:
    closed = connection.execute(
        sa.update(breakers)
        .where(*_key(tenant, target), breakers.c.state == OPEN)
        .values(
            state=CLOSED,
            failures=0,
            retry_at=None,
            probe_by=None,
            probe_until=None,
            closed_at=change.at,
        )
    )
    if not closed.rowcount:
        return
    released = connection.execute(
        sa.update(outbox)
        .where(
            outbox.c.tenant_id == tenant,
            outbox.c.connection == target,
            outbox.c.status == claims.PENDING,
            outbox.c.due_at > change.at,
        )
        .values(due_at=change.at)
    ).rowcount
    record_audit(
        connection,
        tenant=tenant,
        actor=worker,
        action="breaker.closed",
        at=change.at,
        target=target,
        detail=f"the target answered; {released} waiting events made due",
    )
    log.info("breaker.closed", tenant=tenant, connection=target, released=released)


def _select() -> sa.Select:
    c = breakers.c
    return sa.select(
        c.state, c.failures, c.opened_at, c.retry_at, c.probe_by, c.probe_until, c.last_error
    )


def _state(row: sa.Row) -> State:
    return State(
        row.state == OPEN,
        row.failures,
        row.opened_at,
        row.retry_at,
        row.probe_by,
        row.probe_until,
        row.last_error,
    )


def _key(tenant: str, target: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (breakers.c.tenant_id == tenant, breakers.c.connection == target)


def _clip(error: str | None) -> str | None:
    return error[:600] if error else None


def _aware(value: datetime, like: datetime) -> datetime:
    # SQLite hands back naive datetimes; the store writes UTC.
    return value.replace(tzinfo=like.tzinfo) if value.tzinfo is None else value


# -- one worker's view ---------------------------------------------------------------------


@dataclass
class _View:
    #: Consecutive outage failures this worker saw.
    failures: int = 0
    #: Open as the store last said, or as this worker just decided.
    open: bool = False
    #: The claim this worker is probing with.
    probe: int | None = None
    #: A transition not yet written.
    change: Change | None = None


class Breakers:
    """One worker's view of its connections' breakers.

    The worker calls :meth:`observe` with every outcome (on the event loop), takes the
    transition to write with :meth:`pending` before each claim, and reports what the
    claim was admitted to with :meth:`admitted`.

    Args:
        settings: each connection's ``breaker`` settings, by (tenant, connection).
    """

    def __init__(self, settings: Iterable[tuple[tuple[str, str], CircuitBreaker]]) -> None:
        self._settings = dict(settings)
        self._views: dict[tuple[str, str], _View] = {}

    def enabled(self, tenant: str, target: str) -> bool:
        rules = self._settings.get((tenant, target))
        return rules is not None and rules.enabled

    def pending(self, tenant: str, target: str) -> Change | None:
        """The transition to write in the next claim's transaction (handed over once)."""
        view = self._view(tenant, target)
        change, view.change = view.change, None
        return change

    def unwritten(self, tenant: str, target: str, change: Change | None) -> None:
        """Put back a transition whose claim failed, unless a newer one replaced it."""
        view = self._view(tenant, target)
        if view.change is None:
            view.change = change

    def admitted(self, tenant: str, target: str, gate: str, probe: int | None) -> None:
        """What the store said at the last claim; ``probe`` is the claim probing, if any."""
        view = self._view(tenant, target)
        if view.change is not None:
            return  # this worker decided since the claim read the store: its view is newer
        if gate == ALL and view.open:
            view.failures = 0  # another worker closed it
        view.open = gate != ALL
        if probe is not None:
            view.probe = probe

    def observe(self, outcome: Outcome) -> None:
        """Count ``outcome``; one that failed while the breaker is open is made to wait for
        it (due at once, attempt given back)."""
        claim = outcome.claim
        rules = self._settings.get((claim.tenant, claim.connection))
        if rules is None or not rules.enabled:
            return
        view = self._view(claim.tenant, claim.connection)
        probed = view.probe == claim.id
        if probed:
            view.probe = None
        found = verdict(outcome)
        if found is None:
            if probed and view.change is None:
                view.change = Change(PROBE_SILENT, outcome.at)
            return
        if found == ANSWERED:
            view.failures = 0
            if view.open:
                view.open, view.change = False, Change(CLOSED_AGAIN, outcome.at)
            return
        view.failures += 1
        if not view.open and view.failures < rules.failures:
            return
        retry_at = outcome.at + timedelta(seconds=_cooldown(rules, outcome))
        if not view.open:
            view.open = True
            view.change = Change(OPENED, outcome.at, view.failures, retry_at, outcome.error)
        elif probed:
            view.change = Change(PROBE_FAILED, outcome.at, 1, retry_at, outcome.error)
        _wait_for_breaker(outcome)

    def _view(self, tenant: str, target: str) -> _View:
        return self._views.setdefault((tenant, target), _View())


def _cooldown(rules: CircuitBreaker, outcome: Outcome) -> float:
    asked = getattr(outcome.cause, "retry_after", None) or 0.0
    return max(rules.cooldown_seconds, min(asked, MAX_RETRY_AFTER_SECONDS))


def _wait_for_breaker(outcome: Outcome) -> None:
    # A dead letter for exhausted attempts too: the outage is the connection's, not the
    # event's, so the event waits for the target rather than for an admin.
    cause = outcome.cause
    reason = describe(cause) if cause is not None else outcome.error
    outcome.result, outcome.due_at, outcome.charged = RETRY, outcome.at, False
    outcome.error = f"{reason} (circuit breaker open: waiting for the target)"
