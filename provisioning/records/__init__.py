"""The engine's own rows: outbox claims, account links, guard state, the journal."""

from gateway.store.audit import record_audit
from provisioning.records.claims import Claim
from provisioning.records.journal import DeliveryRecord, record_deliveries
from provisioning.records.links import Link

__all__ = [
    "Claim",
    "DeliveryRecord",
    "Link",
    "record_audit",
    "record_deliveries",
]
