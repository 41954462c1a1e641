"""Delivering groups to targets that hold groups (SCIM targets with ``options.groups``).

A group is sent with its display name (through the connection's group field map) and its
members as the *remote* ids of the members' linked accounts; members not (yet) provisioned
in the target are left out. Deleting the group in scimgw deletes it in the target.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.scim.kinds import GROUP
from gateway.store.tables import Membership
from provisioning import claims as claim_rows
from provisioning import links
from provisioning.claims import Claim
from provisioning.connectors.base import DeliveryContext, GroupTarget, RemoteAccount
from provisioning.errors import ConflictError
from provisioning.execution import Effect
from provisioning.links import Link
from provisioning.mapping import FieldMap
from provisioning.snapshot import as_document
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
    connector = target.connector
    return isinstance(connector, GroupTarget) and bool(connector.manages_groups)


def load_group_work(engine: Engine, target: Target, batch: list[Claim]) -> list[GroupWork]:
    """Each claimed group as it is now, with its members' remote ids, in one snapshot."""
    ids = [c.resource_id for c in batch]
    table = GROUP.table
    with engine.connect() as connection, connection.begin():
        docs = {
            row.id: as_document(row.doc)
            for row in connection.execute(
                sa.select(table.c.id, table.c.doc).where(
                    table.c.tenant_id == target.tenant, table.c.id.in_(ids)
                )
            )
        }
        known = links.load(connection, target.tenant, target.name, "Group", ids)
        members = _remote_members(connection, target, ids)
        latest = claim_rows.latest_events(connection, target.tenant, target.name, ids)
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


async def deliver_group(work: GroupWork, target: Target) -> tuple[str, Effect | None]:
    """Create, update or delete the group in the target; returns (operation, effect)."""
    connector: Any = target.connector
    context = DeliveryContext(
        target.tenant, target.name, "Group", work.claim.resource_id, work.claim.id, "group"
    )
    linked = work.link is not None and work.link.remote_id and work.link.state == links.ACTIVE
    if work.doc is None:
        if not linked:
            return "skip", None
        assert work.link is not None and work.link.remote_id is not None
        await _paced(target)
        await connector.delete_group(RemoteAccount(work.link.remote_id), context)
        return "delete", _effect(work, work.link.remote_id, links.DELETED)
    payload = _group_map(target).apply(work.doc)
    if linked:
        assert work.link is not None and work.link.remote_id is not None
        await _paced(target)
        await connector.update_group(
            RemoteAccount(work.link.remote_id), payload, work.members, context
        )
        return "update", _effect(work, work.link.remote_id, links.ACTIVE)
    return "create", await _create_group(work, target, payload, context)


async def _create_group(
    work: GroupWork, target: Target, payload: Mapping[str, Any], context: DeliveryContext
) -> Effect:
    connector: Any = target.connector
    name = str((work.doc or {}).get("displayName", ""))
    await _paced(target)
    found = await connector.find_group(name) if name else []
    if len(found) > 1:
        raise ConflictError(f"{len(found)} groups in {target.name} are named like this group")
    if found and not target.settings.matching.adopt_existing:
        raise ConflictError(
            f"a group with this name already exists in {target.name} (remote id {found[0].id}); "
            "set matching.adopt_existing to link it"
        )
    await _paced(target)
    if found:
        group = await connector.update_group(found[0], payload, work.members, context)
    else:
        group = await connector.create_group(payload, work.members, context)
    return _effect(work, group.id, links.ACTIVE)


def _effect(work: GroupWork, remote_id: str, state: str) -> Effect:
    return Effect(Link(work.claim.resource_id, remote_id, state, None), remote_id)


def _group_map(target: Target) -> FieldMap:
    raw = target.connector.default_group_field_map
    return FieldMap.parse(dict(raw))


async def _paced(target: Target) -> None:
    if target.rate is not None:
        await target.rate.acquire()
