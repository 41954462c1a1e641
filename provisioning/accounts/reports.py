"""Direct reports follow their manager's account in a target.

A field map that sends the manager as the target's own id for them (the ``manager:
remote_id`` transform: SCIM ``manager.value``, Lucca ``managerId``, TalentHR
``reports_to_employee_id``) can name a manager only once the manager has an account in
that target. An initial load delivers managers and their reports concurrently, in any
order, so a report is often delivered before its manager's account exists (in the same
batch, or while the manager's create is still being settled) and is sent without a
manager; nothing about the report changes afterwards, so nothing would send it again.

:func:`enqueue_reports_of` closes that gap the way :func:`provisioning.accounts.groups.
enqueue_groups_of` does for groups: in the transaction that records a manager's new
account (created, adopted, found after a lost answer, or created again after it was
removed in the target), it queues one ``updated`` event for each direct report whose last
delivery was computed without that account. Until this transaction commits, no delivery
can have read the account (:func:`provisioning.accounts.snapshot.read_work` reads committed links
only), so these are exactly the reports the connection holds (link ``active``, or
``creating``: a create sent without the manager) or is about to deliver (an event pending
or in flight: its delivery may have read the links before this one). The report's
delivery then maps it with its manager, and the payload hash decides whether a call is
needed. Deactivated reports are left alone: a reactivation sends the current payload.

Field maps that send the manager's email or userName read them from the stored manager,
whose account in the target plays no part: their reports are complete from the first
delivery and are not queued (the outcome says whether the connection's map names
accounts, :attr:`provisioning.mapping.fieldmap.FieldMap.names_manager_account`).
"""

from datetime import datetime
from functools import cache

import sqlalchemy as sa

from gateway.scim.kinds import USER
from gateway.store import outbox as outbox_rows
from gateway.store.tables import among_ids
from provisioning.accounts.snapshot import ENTERPRISE
from provisioning.records import claims as claim_rows
from provisioning.records import links

#: Report links whose delivered payload lacks a manager that had no account yet.
_DELIVERED_WITHOUT = (links.ACTIVE, links.CREATING)


def enqueue_reports_of(
    connection: sa.Connection, managers: list[links.Placed], at: datetime
) -> int:
    """Queue a delivery of the direct reports of managers who just got an account.

    ``managers`` are user links saved in this transaction. Per connection in the batch,
    the reports are found by the enterprise extension's ``manager.value`` in their stored
    documents, within the managers' tenant, then one INSERT ... SELECT queues those the
    connection holds or is about to deliver.

    Returns:
        The number of events written.
    """
    by_connection: dict[tuple[str, str], set[str]] = {}
    for placed in managers:
        key = (placed.tenant, placed.target)
        by_connection.setdefault(key, set()).add(placed.link.resource_id)
    written, dialect = 0, connection.dialect.name
    for (tenant, target), manager_ids in by_connection.items():
        found = {"tenant": tenant, "managers": sorted(manager_ids)}
        reports = list(connection.execute(_reports_of(), found).scalars())
        if reports:
            queued = {"tenant": tenant, "target": target, "reports": reports, "at": at}
            written += connection.execute(_due_reports(dialect), queued).rowcount or 0
    return written


def manager_reference(table: sa.Table) -> sa.ColumnElement[str]:
    """The enterprise ``manager.value`` of a stored user, as text (NULL when absent).

    SQLAlchemy renders the JSON path per dialect: ``json_extract(doc, '$."urn:…"."manager".
    "value"')`` on SQLite, ``doc #>> '{urn:…,manager,value}'`` on PostgreSQL."""
    return table.c.doc[(ENTERPRISE, "manager", "value")].as_string()


@cache
def _reports_of() -> sa.Select[tuple[str]]:
    """The users of a tenant whose manager is one of some users: built once.

    A scan of the tenant's documents (no index holds the manager): 40-120 ms at 50,000
    users on either store (``python -m benchmarks.reports``), paid once per settlement
    batch in which a manager gets an account, and only for connections whose map names
    the manager's account. A statement of its own: joined with the link and event tests
    of :func:`_due_reports`, PostgreSQL estimated the whole at 575,000, hashed every link
    of the connection and spent 0.7 s compiling it with JIT (1 s in all)."""
    users = USER.table
    managers: sa.BindParameter[list[str]] = sa.bindparam("managers", expanding=True)
    return sa.select(users.c.id).where(
        users.c.tenant_id == sa.bindparam("tenant"), manager_reference(users).in_(managers)
    )


@cache
def _due_reports(dialect: str) -> sa.Insert:
    """INSERT INTO outbox SELECT those of some reports the connection holds or is about
    to deliver: built once per dialect, run per batch."""
    outbox, users = outbox_rows.outbox, USER.table
    tenant = sa.bindparam("tenant", type_=sa.String)
    target = sa.bindparam("target", type_=sa.String)
    at = sa.bindparam("at", type_=outbox.c.due_at.type)
    reports: sa.BindParameter[list[str]] = sa.bindparam("reports", expanding=True)
    due_reports = sa.select(users.c.id).where(
        among_ids(users, tenant, reports, dialect), _delivered_or_due(users, tenant, target)
    )
    return outbox_rows.queue_updates(due_reports, users, USER.name, target, at)


def _delivered_or_due(
    users: sa.Table, tenant: sa.BindParameter[str], target: sa.BindParameter[str]
) -> sa.ColumnElement[bool]:
    """The report was delivered without its manager's account, or may be being so."""
    link, event = links.links.alias("report_link"), outbox_rows.outbox.alias("report_event")
    delivered = sa.exists().where(
        link.c.tenant_id == tenant,
        link.c.connection == target,
        link.c.resource_type == USER.name,
        link.c.resource_id == users.c.id,
        link.c.state.in_(_DELIVERED_WITHOUT),
    )
    due = sa.exists().where(
        event.c.tenant_id == tenant,
        event.c.connection == target,
        event.c.resource_id == users.c.id,
        event.c.status.in_((claim_rows.PENDING, claim_rows.INFLIGHT)),
    )
    return sa.or_(delivered, due)
