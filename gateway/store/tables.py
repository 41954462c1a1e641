"""The tables of the canonical store.

Every resource row keeps the canonical SCIM document (``doc``, JSON) plus indexed,
case-folded columns for the attributes IdPs filter on (ARCHITECTURE.md, "Storage").
Group membership lives in its own table so that a change to a group of 50,000 members
touches one row, not one JSON blob.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlmodel import Field, SQLModel

#: JSON on SQLite (stored as text), JSONB on PostgreSQL (indexable, comparable).
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")


class Tenant(SQLModel, table=True):
    """A customer of the gateway; every other row belongs to exactly one."""

    __tablename__ = "tenant"

    id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(default="", max_length=200)
    created: datetime


class ApiToken(SQLModel, table=True):
    """An inbound bearer token. Only the SHA-256 of the secret is stored."""

    __tablename__ = "api_token"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_api_token_name"),)

    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    name: str = Field(max_length=100)
    scopes: str = Field(default="scim:read scim:write", max_length=400)
    token_hash: str = Field(unique=True, max_length=64)
    hint: str = Field(max_length=16, description="first characters, to recognise a token")
    user_id: str | None = Field(default=None, max_length=36, description="the /Me user")
    created: datetime
    revoked: datetime | None = None


class UserRow(SQLModel, table=True):
    """A SCIM User: the canonical document and its searchable columns."""

    __tablename__ = "scim_user"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "user_name_key", name="uq_user_name"),
        sa.Index("ix_user_external_id", "tenant_id", "external_id"),
        sa.Index("ix_user_email", "tenant_id", "email_key"),
        sa.Index("ix_user_employee_number", "tenant_id", "employee_number"),
        sa.Index("ix_user_display_name", "tenant_id", "display_name_key"),
        sa.Index("ix_user_last_modified", "tenant_id", "last_modified"),
        sa.Index("ix_user_created", "tenant_id", "created"),
    )

    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", max_length=64)
    user_name_key: str = Field(max_length=300, description="userName, case-folded")
    external_id: str | None = Field(default=None, max_length=300, description="caseExact")
    email_key: str | None = Field(default=None, max_length=300, description="work email, folded")
    employee_number: str | None = Field(default=None, max_length=100)
    display_name_key: str | None = Field(default=None, max_length=300)
    active: bool = True
    version: int = 1
    created: datetime
    last_modified: datetime
    doc: dict[str, Any] = Field(sa_type=JSONDocument)


class GroupRow(SQLModel, table=True):
    """A SCIM Group without its members (see :class:`Membership`)."""

    __tablename__ = "scim_group"
    __table_args__ = (
        sa.Index("ix_group_display_name", "tenant_id", "display_name_key"),
        sa.Index("ix_group_external_id", "tenant_id", "external_id"),
        sa.Index("ix_group_last_modified", "tenant_id", "last_modified"),
    )

    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", max_length=64)
    display_name_key: str | None = Field(default=None, max_length=300)
    external_id: str | None = Field(default=None, max_length=300)
    version: int = 1
    created: datetime
    last_modified: datetime
    doc: dict[str, Any] = Field(sa_type=JSONDocument)


class Membership(SQLModel, table=True):
    """One member of one group; members may be Users or Groups (RFC 7643 §4.2)."""

    __tablename__ = "membership"
    __table_args__ = (sa.Index("ix_membership_member", "tenant_id", "member_id"),)

    group_id: str = Field(
        sa_column_args=[sa.ForeignKey("scim_group.id", ondelete="CASCADE")],
        primary_key=True,
        max_length=36,
    )
    member_id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=64)
    member_type: str = Field(max_length=10, description="User or Group")
    display: str | None = Field(default=None, max_length=300, description="as the client sent it")


class OutboxEvent(SQLModel, table=True):
    """A change waiting to be delivered to one target connection.

    Written in the same transaction as the change (ARCHITECTURE.md, step 2);
    consumed by the provisioning worker.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_due", "status", "priority", "due_at"),
        sa.Index("ix_outbox_resource", "tenant_id", "connection", "resource_id", "id"),
        sa.Index("ix_outbox_claim", "tenant_id", "connection", "status", "priority", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    connection: str = Field(max_length=100)
    resource_type: str = Field(max_length=10)
    resource_id: str = Field(max_length=36)
    action: str = Field(max_length=12, description="created, updated, deactivated, deleted")
    version: int
    priority: int = Field(description="0 leavers first, then 1 creations, 2 updates, 3 loads")
    status: str = Field(default="pending", max_length=12)
    attempts: int = 0
    due_at: datetime
    created: datetime
    #: The worker holding the row and until when; an expired lease is taken over.
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_until: datetime | None = None
    #: The last failure, redacted; kept on dead letters for the admin.
    last_error: str | None = Field(default=None, max_length=600)
    finished: datetime | None = None


class AccountLink(SQLModel, table=True):
    """Which remote account a resource is in a target, and what was last sent to it.

    A link in state ``creating`` is written before the create call is made: if the worker
    dies before it records the answer, the next attempt looks the account up instead of
    creating a second one.
    """

    __tablename__ = "account_link"
    __table_args__ = (sa.Index("ix_account_link_remote", "tenant_id", "connection", "remote_id"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    connection: str = Field(primary_key=True, max_length=100)
    resource_type: str = Field(primary_key=True, max_length=10)
    resource_id: str = Field(primary_key=True, max_length=36)
    remote_id: str | None = Field(default=None, max_length=300)
    state: str = Field(max_length=12, description="creating, active, inactive, deleted")
    payload_hash: str | None = Field(default=None, max_length=64)
    created: datetime
    updated: datetime


class Delivery(SQLModel, table=True):
    """One attempt to deliver one event: the delivery log an admin reads.

    Holds no payload and no attribute values: only ids, statuses and a redacted error.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        sa.Index("ix_delivery_connection", "tenant_id", "connection", "at"),
        sa.Index("ix_delivery_resource", "tenant_id", "resource_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    connection: str = Field(max_length=100)
    event_id: int
    resource_type: str = Field(max_length=10)
    resource_id: str = Field(max_length=36)
    operation: str = Field(max_length=12, description="create, update, deactivate, ...")
    attempt: int
    outcome: str = Field(max_length=12, description="delivered, skipped, retry, dead, held")
    http_status: int | None = None
    latency_ms: float | None = None
    remote_id: str | None = Field(default=None, max_length=300)
    error: str | None = Field(default=None, max_length=600)
    at: datetime


class AuditEntry(SQLModel, table=True):
    """A decision worth an admin's attention: links, conflicts, guard trips, replays."""

    __tablename__ = "audit"
    __table_args__ = (sa.Index("ix_audit_connection", "tenant_id", "connection", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    connection: str | None = Field(default=None, max_length=100)
    actor: str = Field(max_length=100, description="worker id, cli, or admin name")
    action: str = Field(max_length=40)
    resource_id: str | None = Field(default=None, max_length=36)
    detail: str | None = Field(default=None, max_length=1000)
    at: datetime


class ConnectionState(SQLModel, table=True):
    """Runtime state of a connection: paused by the mass-deletion guard, and until when a
    confirmation lets deprovisions through."""

    __tablename__ = "connection_state"

    tenant_id: str = Field(primary_key=True, max_length=64)
    connection: str = Field(primary_key=True, max_length=100)
    paused: bool = False
    reason: str | None = Field(default=None, max_length=600)
    paused_at: datetime | None = None
    confirmed_until: datetime | None = None
    #: People with access in the last full export (file targets): the guard compares.
    exported_active: int | None = None


class ConnectionBreaker(SQLModel, table=True):
    """The circuit breaker of a target connection, shared by every worker process
    (provisioning.engine.breaker): open while the target is down, with one probe at a time."""

    __tablename__ = "connection_breaker"

    tenant_id: str = Field(primary_key=True, max_length=64)
    connection: str = Field(primary_key=True, max_length=100)
    state: str = Field(default="closed", max_length=8, description="closed or open")
    #: Consecutive failures that opened it, and the probes that failed since.
    failures: int = 0
    opened_at: datetime | None = None
    #: When the next probe may go.
    retry_at: datetime | None = None
    #: The worker probing the target, and until when its probe holds (then another may).
    probe_by: str | None = Field(default=None, max_length=80)
    probe_until: datetime | None = None
    #: The last failure, redacted like a delivery row's.
    last_error: str | None = Field(default=None, max_length=600)
    closed_at: datetime | None = None


class SyncRun(SQLModel, table=True):
    """One sync run of a connection (a source read into the store, or a target backfilled
    from it): what started it, when, how it ended and what it counted.

    At most one run of a connection is ``running`` at a time (a partial unique index), and
    a scheduled run carries its ``slot`` (the due time it fires for), unique per
    connection: two processes firing the same schedule insert one row, the other is
    refused. Holds no attribute values: counts, statuses and redacted reasons only.
    """

    __tablename__ = "sync_run"
    __table_args__ = (
        sa.Index("ix_sync_run_connection", "tenant_id", "connection", "started"),
        sa.Index("uq_sync_run_slot", "tenant_id", "connection", "slot", unique=True),
        sa.Index(
            "uq_sync_run_running",
            "tenant_id",
            "connection",
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=64)
    connection: str = Field(max_length=100)
    direction: str = Field(max_length=8, description="source or target")
    trigger: str = Field(max_length=10, description="manual, schedule or event")
    #: The due time of a scheduled run (ISO 8601): unique per connection.
    slot: str | None = Field(default=None, max_length=40)
    status: str = Field(max_length=10, description="running, succeeded, failed, held")
    #: The worker or command that holds a running run (host:pid:...).
    runner: str = Field(max_length=80)
    started: datetime
    finished: datetime | None = None
    #: {"read": n, "created": n, ...}: see provisioning.records.runs.COUNTS.
    counts: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    #: Why a run failed or was held, redacted.
    message: str | None = Field(default=None, max_length=2000)


class SyncRunFailure(SQLModel, table=True):
    """One person a run could not apply, and why (redacted: no attribute values)."""

    __tablename__ = "sync_run_failure"
    __table_args__ = (sa.Index("ix_sync_run_failure_run", "run_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=36)
    #: Who: the source's id of the person, or the SCIM id and userName of the user.
    person: str = Field(max_length=300)
    reason: str = Field(max_length=1000)


class SourceLink(SQLModel, table=True):
    """Which user a person of a source is, and what the source last applied to it.

    Keyed by the source's own id, per source connection: two sources never collide. The
    digest (sha256 of the person as mapped) lets a run skip a person who did not change
    without reading the user; ``due`` is the day the person's dates change their access
    (a future first day, the day after the last one) and ``due_active`` what it becomes.
    """

    __tablename__ = "source_link"
    __table_args__ = (sa.Index("ix_source_link_user", "tenant_id", "user_id"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    connection: str = Field(primary_key=True, max_length=100)
    source_id: str = Field(primary_key=True, max_length=300)
    user_id: str = Field(max_length=36)
    digest: str | None = Field(default=None, max_length=64)
    active: bool = True
    due: str | None = Field(default=None, max_length=10, description="ISO date")
    due_active: bool | None = None
    updated: datetime


class SourceState(SQLModel, table=True):
    """A source connection's memory between runs: its checkpoint and the guard's consent."""

    __tablename__ = "source_state"

    tenant_id: str = Field(primary_key=True, max_length=64)
    connection: str = Field(primary_key=True, max_length=100)
    checkpoint: str | None = Field(default=None, max_length=200)
    #: Until when an admin let held deactivations through (``scimgw sync --confirm``).
    confirmed_until: datetime | None = None


class SyncSchedule(SQLModel, table=True):
    """When a connection's schedule was switched on: its slots count from here.

    Written by the first scheduler that sees the schedule enabled (the primary key keeps
    one row across processes) and removed when it is switched off, so that switching it
    on again starts anew ("first run 12 hours after activation", S2.6).
    """

    __tablename__ = "sync_schedule"

    tenant_id: str = Field(primary_key=True, max_length=64)
    connection: str = Field(primary_key=True, max_length=100)
    activated: datetime


class ResourceCount(SQLModel, table=True):
    """How many resources of a type a tenant holds: ``totalResults`` of an unfiltered list.

    Counting a tenant's rows took a time growing with its size (7.7 ms at 100k users
    against 1.9 ms at 10k). Database triggers (migration 0007) keep these rows in the
    transaction of every insert and delete of a resource row, whoever writes it, so the
    sum is always exact. A count is the sum of a few stripes: on PostgreSQL each
    connection adds to its own stripe, so concurrent creates do not queue on one row lock.
    """

    __tablename__ = "resource_count"

    tenant_id: str = Field(primary_key=True, max_length=64)
    #: The kind's name: "User" or "Group".
    resource_type: str = Field(primary_key=True, max_length=20)
    stripe: int = Field(primary_key=True)
    n: int = Field(default=0, sa_type=sa.BigInteger)


class BulkUploadResult(SQLModel, table=True):
    """The outcome of one ``POST /scim/v2/bulkUpload`` request, read at its ``Location``.

    Holds ids, statuses and error details only, never attribute values (an operation's
    error detail names attributes, not what they held). Kept a bounded time and count
    per tenant (``bulk_upload.keep_results_days``, ``keep_results``).
    """

    __tablename__ = "bulk_upload_result"
    __table_args__ = (sa.Index("ix_bulk_upload_result_received", "tenant_id", "received"),)

    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=64)
    #: Who pushed it: the token's name.
    caller: str = Field(max_length=100)
    received: datetime
    completed: datetime
    #: {"created": n, "updated": n, "unchanged": n, "failed": n}
    counts: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    #: One entry per operation, in request order (gateway.scim.upload_run).
    operations: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)


class PendingManager(SQLModel, table=True):
    """A user pushed through bulkUpload whose manager (by externalId) no user had yet:
    named as soon as a bulkUpload creates or updates a user with that externalId."""

    __tablename__ = "bulk_upload_pending_manager"
    __table_args__ = (
        sa.Index("ix_pending_manager_external_id", "tenant_id", "manager_external_id"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(primary_key=True, max_length=36)
    manager_external_id: str = Field(max_length=300)
    since: datetime


metadata = SQLModel.metadata


def among_ids(table: sa.Table, tenant: Any, ids: Any, dialect: str) -> sa.ColumnElement[bool]:
    """``tenant_id = tenant AND id IN ids`` on a resource table, written so that SQLite
    looks the ids up in the primary key.

    Without statistics, SQLite's planner takes ``tenant_id = ?`` for the more selective
    term once the list holds three ids or more, and walks a ``(tenant_id, ...)`` index:
    every row of the tenant, for each batch the delivery worker reads (a sixth of its
    time at 20,000 users, growing with the tenant). A unary ``+`` keeps a term from
    choosing an index in SQLite (sqlite.org/optoverview.html, "Disqualifying WHERE Clause
    Terms"); it still filters. Other databases plan this from their statistics.
    """
    tenant_id: sa.ColumnElement[Any] = table.c.tenant_id
    if dialect == "sqlite":
        tenant_id = UnaryExpression(tenant_id, operator=custom_op("+"), type_=tenant_id.type)
    return sa.and_(tenant_id == tenant, table.c.id.in_(ids))


class HookEvent(SQLModel, table=True):
    """An inbound webhook event (an ATS's "candidate hired"), kept until it is processed,
    then 90 days (provisioning.sources.hooks.KEEP_PROCESSED).

    Written when the event arrives, before the sender gets its 202, so that an event the
    process had no time to handle is handled after a restart. Unique per connection on
    (subject, job): the same candidate hired for the same job twice is one event. Holds
    only the event's hints (job, unit, department, start day), never the person's names
    or contact details: those are read again from the source when it is processed.
    """

    __tablename__ = "hook_event"
    __table_args__ = (
        sa.Index("uq_hook_event_subject", "tenant_id", "connection", "subject", "job", unique=True),
        sa.Index("ix_hook_event_due", "status", "next_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    connection: str = Field(max_length=100)
    #: The source's id of the person (a Taleez candidate id).
    subject: str = Field(max_length=300)
    #: The job the person was hired for ("" when the event names none).
    job: str = Field(default="", max_length=100)
    #: What the event says besides the person (job label, unit, department, start day).
    hints: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    received: datetime
    status: str = Field(max_length=10, description="pending, done, failed")
    attempts: int = 0
    #: When it is due (again): a claim moves it by a lease, a transient failure by a wait.
    next_at: datetime
    #: The run that processed it last (``scimgw runs show``).
    run_id: str | None = Field(default=None, max_length=36)
    message: str | None = Field(default=None, max_length=2000)
    finished: datetime | None = None
