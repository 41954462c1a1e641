"""Settling finished deliveries: outbox row, account link, delivery and audit rows.

Outcomes are written in batches, each in one transaction, so that a worker delivering a
thousand events a second does not pay a commit per event. An outcome lost to a crash
before its batch commits is not lost work: its claim's lease expires and the event is
delivered again, which converges (the link and payload hash make it idempotent).
"""

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.database import writer
from provisioning.accounts import CREATE, DELETE, REPLACED, enqueue_groups_of, enqueue_reports_of
from provisioning.records import (
    Claim,
    DeliveryRecord,
    Link,
    claims,
    guard,
    links,
    record_audit,
    record_deliveries,
)

DELIVERED, SKIPPED, RETRY, DEAD, HELD = "delivered", "skipped", "retry", "dead", "held"


@dataclass
class Outcome:
    """How one claimed event ended."""

    claim: Claim
    operation: str
    result: str
    at: datetime
    upto: int = 0
    link: Link | None = None
    remote_id: str | None = None
    latency_ms: float | None = None
    http_status: int | None = None
    error: str | None = None
    due_at: datetime | None = None
    audit: list[tuple[str, str]] = field(default_factory=list)
    #: The connection's reports name this user's account (provisioning.accounts.reports).
    reports_follow: bool = False
    #: What the failed attempt raised; the circuit breaker reads it (not stored).
    cause: BaseException | None = None
    #: False when the attempt does not count toward dead-lettering: it failed while the
    #: connection's circuit breaker was open (provisioning.engine.breaker).
    charged: bool = True


def settle(engine: Engine, worker: str, outcomes: list[Outcome]) -> None:
    """Write a batch of outcomes in one transaction."""
    if not outcomes:
        return
    done = [
        (o.claim, max(o.upto, o.claim.id)) for o in outcomes if o.result in (DELIVERED, SKIPPED)
    ]
    placed = [
        (o, links.Placed(o.claim.tenant, o.claim.connection, o.claim.resource_type, o.link))
        for o in outcomes
        if o.link is not None
    ]
    moved = [p for o, p in placed if _moves_account(o)]
    managers = [p for o, p in placed if o.reports_follow and _gains_account(o)]
    with writer(engine).begin() as connection:
        claims.finish_all(connection, done, outcomes[-1].at)
        for outcome in outcomes:
            _settle_one(connection, worker, outcome)
        links.save_all(connection, [p for _, p in placed], outcomes[-1].at)
        if moved:  # after the links: a group linked in this batch is found too
            enqueue_groups_of(connection, moved, outcomes[-1].at)
        if managers:  # after the links: a report linked in this batch is found too
            enqueue_reports_of(connection, managers, outcomes[-1].at)
        record_deliveries(connection, [_record(outcome) for outcome in outcomes])


def _moves_account(outcome: Outcome) -> bool:
    """Whether the delivery gave the resource a remote account or took it away, which
    changes the members its groups should hold in the target (groups.enqueue_groups_of)."""
    if outcome.result != DELIVERED:
        return False
    replaced = any(action == REPLACED for action, _ in outcome.audit)
    return outcome.operation in (CREATE, DELETE) or replaced


def _gains_account(outcome: Outcome) -> bool:
    """Whether the delivery gave the user an account in the target (created, adopted,
    found, or created again), which its reports may have been sent without."""
    if outcome.result != DELIVERED or outcome.claim.resource_type != "User":
        return False
    replaced = any(action == REPLACED for action, _ in outcome.audit)
    return outcome.operation == CREATE or replaced


def _settle_one(connection: sa.Connection, worker: str, outcome: Outcome) -> None:
    """What a delivered or skipped outcome does not share with the rest of the batch."""
    claim = outcome.claim
    if outcome.result == RETRY:
        assert outcome.due_at is not None
        claims.reschedule(
            connection, claim, outcome.due_at, outcome.error or "", charged=outcome.charged
        )
    elif outcome.result == DEAD:
        claims.bury(connection, claim, outcome.error or "", outcome.at)
    elif outcome.result == HELD:
        claims.hold(connection, claim, outcome.error or "")
    for action, detail in outcome.audit:
        record_audit(
            connection,
            tenant=claim.tenant,
            actor=worker,
            action=action,
            at=outcome.at,
            target=claim.connection,
            resource_id=claim.resource_id,
            detail=detail,
        )


def _record(outcome: Outcome) -> DeliveryRecord:
    claim = outcome.claim
    return DeliveryRecord(
        tenant_id=claim.tenant,
        connection=claim.connection,
        event_id=claim.id,
        resource_type=claim.resource_type,
        resource_id=claim.resource_id,
        operation=outcome.operation,
        attempt=claim.attempts,
        outcome=outcome.result,
        at=outcome.at,
        http_status=outcome.http_status,
        latency_ms=outcome.latency_ms,
        remote_id=outcome.remote_id,
        error=outcome.error[:600] if outcome.error else None,
    )


def mark_creating(
    engine: Engine,
    target_tenant: str,
    target: str,
    pending: list[Link],
    at: datetime,
    resource_type: str = "User",
) -> None:
    """Record, before calling create, that an account (or a group) may come into being."""
    if not pending:
        return
    placed = [links.Placed(target_tenant, target, resource_type, p) for p in pending]
    with writer(engine).begin() as connection:
        links.save_all(connection, placed, at)


def pause_for_guard(
    engine: Engine, tenant: str, target: str, reason: str, worker: str, at: datetime
) -> None:
    with writer(engine).begin() as connection:
        guard.pause(connection, tenant, target, reason, at)
        record_audit(
            connection,
            tenant=tenant,
            actor=worker,
            action="guard.paused",
            at=at,
            target=target,
            detail=reason,
        )
