"""Delivering groups to targets that hold groups (SCIM targets with ``options.groups``).

A group is sent with its display name (through the connection's group field map) and its
members as the *remote* ids of the members' linked accounts; members not (yet) provisioned
in the target are left out. Deleting the group in scimgw deletes it in the target (one
already gone there counts as deleted). The link of a group keeps a hash of what was last
sent (payload and members): a delivery that would send the same is skipped without a call.
:func:`decide_group` is the pure half; the calls are made by the delivery path users take
too (execution.carry_out): a group is looked up by name before it is created (adopted, or
recovered after a lost answer, as an account is), and one found gone on update (someone
removed it in the target) is looked up and created again, with a ``link.replaced`` note.

A member's account that comes into being in the target (created, adopted, or created
again after it was removed there) or is deleted there changes what its groups should hold.
:func:`enqueue_groups_of` queues, in the transaction that records the member's link, one
event for each of the member's groups that the connection holds (linked) or is about to
deliver (an event pending or in flight): the group's delivery recomputes its members and
the hash decides whether a call is needed. So a new hire and their group, arriving
together in either order, end up together in the target.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.scim.kinds import GROUP
from gateway.store import outbox as outbox_rows
from gateway.store.tables import Membership
from provisioning.accounts.decisions import CREATE, DELETE, FAIL, SKIP, UPDATE, Step
from provisioning.accounts.snapshot import read_documents
from provisioning.errors import MappingError
from provisioning.mapping import FieldMap, payload_digest
from provisioning.records import Claim, Link, links
from provisioning.records import claims as claim_rows
from provisioning.targets import Target

memberships = Membership.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class GroupWork:
    claim: Claim
    doc: Mapping[str, Any] | None
    link: Link | None
    members: list[str]
    upto: int


def takes_groups(target: Target) -> bool:
    return target.groups is not None


def load_group_work(engine: Engine, target: Target, batch: list[Claim]) -> list[GroupWork]:
    """Each claimed group as it is now, with its members' remote ids, in one snapshot."""
    ids = [c.resource_id for c in batch]
    with engine.connect() as connection, connection.begin():
        # The newest event first: on PostgreSQL (read committed) each statement sees its
        # own snapshot, and a member linked after this read must not have its group event
        # settled by a delivery that read the members before the link (enqueue_groups_of).
        latest = claim_rows.latest_events(connection, target.tenant, target.name, ids)
        docs = read_documents(connection, GROUP.table, target.tenant, ids)
        known = links.load(connection, target.tenant, target.name, "Group", ids)
        members = _remote_members(connection, target, ids)
    return [
        GroupWork(
            c,
            docs.get(c.resource_id),
            known.get(c.resource_id),
            members.get(c.resource_id, []),
            latest.get(c.resource_id, c.id),
        )
        for c in batch
    ]


def _remote_members(
    connection: sa.Connection, target: Target, ids: list[str]
) -> dict[str, list[str]]:
    account_links = links.links
    query = (
        sa.select(memberships.c.group_id, account_links.c.remote_id)
        .join(
            account_links,
            sa.and_(
                account_links.c.tenant_id == memberships.c.tenant_id,
                account_links.c.resource_id == memberships.c.member_id,
                account_links.c.connection == target.name,
                account_links.c.state.in_((links.ACTIVE, links.INACTIVE)),
            ),
        )
        .where(memberships.c.tenant_id == target.tenant, memberships.c.group_id.in_(ids))
        .order_by(memberships.c.group_id, account_links.c.remote_id)
    )
    found: dict[str, list[str]] = {}
    for group_id, remote_id in connection.execute(query):
        found.setdefault(group_id, []).append(remote_id)
    return found


def decide_group(work: GroupWork, target: Target) -> Step:
    """The step that brings the target's group to the group's current state."""
    linked = bool(work.link and work.link.remote_id and work.link.state == links.ACTIVE)
    if work.doc is None:
        return Step(DELETE, "deleted") if linked else Step(SKIP, "deleted; no group in the target")
    try:
        payload = _group_map(target).apply(work.doc)
    except MappingError as exc:
        return Step(FAIL, exc.message)
    digest = payload_digest({"group": payload, "members": work.members})
    if not linked:
        recovering = work.link is not None and work.link.state == links.CREATING
        reason = "an earlier create may have succeeded; looking it up" if recovering else "new"
        return Step(CREATE, reason, payload, digest)
    if work.link is not None and work.link.payload_hash == digest:
        return Step(SKIP, "unchanged since the last delivery", payload, digest)
    return Step(UPDATE, "changed", payload, digest)


def _group_map(target: Target) -> FieldMap:
    groups = target.groups
    assert groups is not None
    return FieldMap.parse(dict(groups.default_group_field_map))


def enqueue_groups_of(connection: sa.Connection, members: list[links.Placed], at: datetime) -> int:
    """Queue a delivery of the groups whose members' accounts came or went in a target.

    ``members`` are links just saved in this transaction (users, or groups nested in
    groups). For each one's connection, every group it belongs to that the connection
    holds (linked) or is about to deliver (an event pending or in flight) gets one
    ``updated`` event at the priority of updates. A connection that holds no groups has
    no group links: nothing is written for it. One statement per connection in the batch.

    Returns:
        The number of events written.
    """
    by_connection: dict[tuple[str, str], set[str]] = {}
    for placed in members:
        key = (placed.tenant, placed.target)
        by_connection.setdefault(key, set()).add(placed.link.resource_id)
    written = 0
    for (tenant, target), member_ids in by_connection.items():
        parameters = {"tenant": tenant, "target": target, "members": sorted(member_ids), "at": at}
        written += connection.execute(_groups_of_members(), parameters).rowcount or 0
    return written


@cache
def _groups_of_members() -> sa.Insert:
    """INSERT INTO outbox SELECT the due groups of some members: built once, run per batch."""
    outbox, groups = outbox_rows.outbox, GROUP.table
    tenant = sa.bindparam("tenant", type_=sa.String)
    target = sa.bindparam("target", type_=sa.String)
    at = sa.bindparam("at", type_=outbox.c.due_at.type)
    due_groups = (
        sa.select(groups.c.id)
        .distinct()
        .select_from(memberships.join(groups, groups.c.id == memberships.c.group_id))
        .where(
            memberships.c.tenant_id == tenant,
            memberships.c.member_id.in_(sa.bindparam("members", expanding=True)),
            _held_or_due(tenant, target),
        )
    )
    return outbox_rows.queue_updates(due_groups, groups, GROUP.name, target, at)


def _held_or_due(
    tenant: sa.BindParameter[str], target: sa.BindParameter[str]
) -> sa.ColumnElement[bool]:
    """The membership's group is linked in the target, or has an event pending or in
    flight there (its delivery may have read the members before this link)."""
    group_link, event = links.links.alias("group_link"), outbox_rows.outbox.alias("group_event")
    linked = sa.exists().where(
        group_link.c.tenant_id == tenant,
        group_link.c.connection == target,
        group_link.c.resource_type == GROUP.name,
        group_link.c.resource_id == memberships.c.group_id,
        group_link.c.state == links.ACTIVE,
    )
    due = sa.exists().where(
        event.c.tenant_id == tenant,
        event.c.connection == target,
        event.c.resource_id == memberships.c.group_id,
        event.c.status.in_((claim_rows.PENDING, claim_rows.INFLIGHT)),
    )
    return sa.or_(linked, due)
