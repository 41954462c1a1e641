"""The backlog of each connection, by priority, with an ETA at its rate limit.

At 50 requests/min an initial load of 100,000 people takes 33 hours; ``scimgw status``
shows that, and that leavers (priority 0) are not waiting behind it.
"""

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from gateway.config import GatewayConfig
from gateway.store.tables import OutboxEvent
from provisioning.engine import breaker
from provisioning.engine.breaker import State as BreakerState
from provisioning.records import guard

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]

PRIORITY_NAMES = {0: "leavers", 1: "creations", 2: "updates", 3: "loads"}


@dataclass
class Backlog:
    tenant: str
    connection: str
    #: Pending or in-flight events per priority (0 leavers ... 3 loads).
    waiting: dict[int, int] = field(default_factory=dict)
    dead: int = 0
    held: int = 0
    paused: bool = False
    pause_reason: str | None = None
    #: Seconds to drain the backlog at the rate limit; None without a limit.
    eta_seconds: float | None = None
    #: The circuit breaker (provisioning.engine.breaker): open while the target is down.
    breaker: BreakerState = field(default_factory=BreakerState)

    @property
    def state(self) -> str:
        """``running``, ``paused: <reason>``, or ``breaker open since <time>: <error>``."""
        if self.paused:
            return f"paused: {self.pause_reason}"
        if self.breaker.open:
            return f"breaker open since {_clock(self.breaker.opened_at)}: {self.breaker.last_error}"
        return "running"

    @property
    def total(self) -> int:
        return sum(self.waiting.values())


def backlogs(connection: sa.Connection, config: GatewayConfig) -> list[Backlog]:
    """One backlog per configured target connection."""
    counts = _counts(connection)
    breakers = breaker.read_all(connection)
    result = []
    for tenant_id, tenant in config.tenants.items():
        for name in tenant.enabled_targets():
            settings = tenant.connections[name]
            state = guard.state(connection, tenant_id, name)
            rows = counts.get((tenant_id, name), {})
            backlog = Backlog(
                tenant=tenant_id,
                connection=name,
                waiting={
                    p: n for (status, p), n in rows.items() if status in ("pending", "inflight")
                },
                dead=sum(n for (status, _), n in rows.items() if status == "dead"),
                held=sum(n for (status, _), n in rows.items() if status == "held"),
                paused=state.paused,
                pause_reason=state.reason,
                breaker=breakers.get((tenant_id, name), BreakerState()),
            )
            if settings.rate_limit is not None:
                backlog.eta_seconds = backlog.total / settings.rate_limit.per_second
            result.append(backlog)
    return result


def _counts(connection: sa.Connection) -> dict[tuple[str, str], dict[tuple[str, int], int]]:
    query = (
        sa.select(
            outbox.c.tenant_id,
            outbox.c.connection,
            outbox.c.status,
            outbox.c.priority,
            sa.func.count(),
        )
        .where(outbox.c.status.in_(("pending", "inflight", "dead", "held")))
        .group_by(outbox.c.tenant_id, outbox.c.connection, outbox.c.status, outbox.c.priority)
    )
    counts: dict[tuple[str, str], dict[tuple[str, int], int]] = {}
    for tenant, name, status, priority, n in connection.execute(query):
        bucket = counts.setdefault((tenant, name), {})
        bucket[(status, priority)] = bucket.get((status, priority), 0) + n
    return counts


def format_duration(seconds: float) -> str:
    """``33 h 20 min``, ``4 min``, ``12 s``."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _clock(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at is not None else "?"
