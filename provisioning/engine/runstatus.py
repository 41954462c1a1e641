"""Each sync-run connection at a glance: its last run, whether one is running, the next slot.

``scimgw status`` prints it under the delivery backlogs, so an operator sees in one command
that the nightly HR read failed, or that the LMS pull is due in 11 hours.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from gateway.config import GatewayConfig, Schedule
from provisioning.engine.schedules import next_slot
from provisioning.engine.status import format_duration
from provisioning.records import activations, runs


@dataclass(frozen=True)
class RunStatus:
    tenant: str
    connection: str
    direction: str
    #: The latest run (running or finished); None if the connection never ran.
    last: runs.Run | None
    #: ``every 24 h``, ``cron 0 2 * * *``, ``off`` or ``manual`` (no schedule).
    schedule: str
    #: The next slot; None when off, manual, or not yet seen on by a scheduler.
    next_at: datetime | None


def run_statuses(
    connection: sa.Connection, config: GatewayConfig, now: datetime | None = None
) -> list[RunStatus]:
    """Every connection that has a schedule or has run, in configuration order."""
    now = now or datetime.now(UTC)
    result = []
    for tenant_id, tenant in config.tenants.items():
        for name, settings in tenant.connections.items():
            latest = runs.recent(connection, tenant=tenant_id, name=name, limit=1)
            plan = settings.schedule
            if plan is None and not latest:
                continue
            next_at = None
            if plan is not None and plan.enabled and settings.enabled:
                activated = activations.activated_at(connection, tenant_id, name)
                if activated is not None:
                    next_at = next_slot(plan, activated, now)
            result.append(
                RunStatus(
                    tenant=tenant_id,
                    connection=name,
                    direction=settings.direction,
                    last=latest[0] if latest else None,
                    schedule=_schedule_text(settings.schedule, settings.enabled),
                    next_at=next_at,
                )
            )
    return result


def _schedule_text(plan: Schedule | None, enabled: bool) -> str:
    if plan is None:
        return "manual"
    if not (plan.enabled and enabled):
        return "off"
    if plan.cron is not None:
        return f"cron {plan.cron}"
    return f"every {format_duration(plan.every or 0)}"
