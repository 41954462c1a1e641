"""Audit rows: decisions and notable writes an admin should see, never attribute values.

Written by the SCIM server (a write that ignored unknown attributes) and by the engine
(deliveries' decisions) in their own transactions, so the writer sits with the store.
"""

from datetime import datetime

import sqlalchemy as sa

from gateway.store.tables import AuditEntry

audit = AuditEntry.__table__  # type: ignore[attr-defined]


def record_audit(
    connection: sa.Connection,
    *,
    tenant: str,
    actor: str,
    action: str,
    at: datetime,
    target: str | None = None,
    resource_id: str | None = None,
    detail: str | None = None,
) -> None:
    connection.execute(
        sa.insert(audit).values(
            tenant_id=tenant,
            connection=target,
            actor=actor,
            action=action,
            resource_id=resource_id,
            detail=detail[:1000] if detail else None,
            at=at,
        )
    )
