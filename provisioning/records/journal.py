"""Delivery rows (one per attempt) and audit rows (decisions an admin should see).

Neither holds payloads or attribute values: ids, outcomes, statuses and redacted errors
only, so a sensitive attribute (dateOfBirth, ssn) can never reach them. A failed attempt
also writes one log line with the same fields, so that an operator watching the logs sees
it without querying the database (``scimgw deliveries`` lists them afterwards).
"""

from dataclasses import dataclass, fields
from datetime import datetime

import sqlalchemy as sa
import structlog

from gateway.store.tables import Delivery

deliveries = Delivery.__table__  # type: ignore[attr-defined]
log = structlog.get_logger("scimgw.delivery")

#: Delivery outcomes that are failures, and the log event and level of each.
FAILURE_EVENTS = {
    "retry": ("delivery.failed", "warning"),
    "dead": ("delivery.dead_letter", "error"),
}


@dataclass(frozen=True)
class DeliveryRecord:
    tenant_id: str
    connection: str
    event_id: int
    resource_type: str
    resource_id: str
    operation: str
    attempt: int
    outcome: str
    at: datetime
    http_status: int | None = None
    latency_ms: float | None = None
    remote_id: str | None = None
    error: str | None = None


_FIELDS = tuple(f.name for f in fields(DeliveryRecord))


def record_deliveries(connection: sa.Connection, records: list[DeliveryRecord]) -> None:
    if records:
        connection.execute(sa.insert(deliveries), [_row(record) for record in records])
        log_failures(records)


def _row(record: DeliveryRecord) -> dict[str, object]:
    # Its fields are scalars: dataclasses.asdict would deep-copy each one, a thousand rows a
    # second on a busy worker, for nothing.
    return {name: getattr(record, name) for name in _FIELDS}


def log_failures(records: list[DeliveryRecord]) -> None:
    """One structured line per failed attempt or dead letter; the rest are not logged."""
    for record in records:
        if record.outcome in FAILURE_EVENTS:
            event, level = FAILURE_EVENTS[record.outcome]
            getattr(log, level)(
                event,
                event_id=record.event_id,
                tenant=record.tenant_id,
                connection=record.connection,
                resource_type=record.resource_type,
                resource_id=record.resource_id,
                operation=record.operation,
                attempt=record.attempt,
                http_status=record.http_status,
                reason=record.error,
            )
