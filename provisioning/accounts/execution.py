"""Carrying out a decided step against the target: the half of a delivery that calls out.

One path for every resource type (a user's account, a group): the type's row in
:mod:`provisioning.accounts.holdings` says which connector calls it makes. Before creating,
the resource is looked up (an account by the connection's matching key, a group by name):
a unique match is linked when it is ours (an earlier create whose answer was lost) or when
adoption is switched on; several matches, or a foreign one without adoption, are
conflicts for an admin. One found gone on update (removed in the target) is looked up and
created again. Every call goes through the connection's throttle.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from provisioning.accounts.decisions import (
    CREATE,
    DEACTIVATE,
    DELETE,
    REACTIVATE,
    UPDATE,
    Step,
)
from provisioning.accounts.holdings import AnyWork, Holding, holding
from provisioning.connectors import DeliveryContext, RemoteAccount
from provisioning.errors import ConflictError, PermanentError
from provisioning.records import Link, links
from provisioning.targets import Target, replies

#: Asks the store which resource (if any) is already linked to a remote id.
LinkedTo = Callable[[str], Awaitable[str | None]]
#: Audit action of an update that found the account gone and provisioned it again.
REPLACED = "link.replaced"


@dataclass
class Effect:
    """What a successful step changed: the link to save and notes for the audit log."""

    link: Link | None
    remote_id: str | None
    audit: list[tuple[str, str]] = field(default_factory=list)
    latency_ms: float = 0.0
    #: HTTP status of the last reply the step got (None: it made no HTTP call).
    http_status: int | None = None
    #: The connection's reports name this account (their manager's id in the target): a
    #: new account queues them again (provisioning.accounts.reports).
    reports_follow: bool = False


async def carry_out(work: AnyWork, step: Step, target: Target, linked_to: LinkedTo) -> Effect:
    """Run ``step`` for a user or a group; raises a
    :class:`provisioning.errors.DeliveryError` on failure."""
    started = time.perf_counter()
    kind = holding(work)
    context = _context(work, step, kind)
    with replies.watch() as reply:
        effect = await _OPERATIONS[step.operation](kind, work, step, target, context, linked_to)
    effect.latency_ms = round((time.perf_counter() - started) * 1000, 2)
    effect.http_status = reply.status
    effect.reports_follow = kind.has_reports and _reports_follow(target)
    return effect


def _reports_follow(target: Target) -> bool:
    """Whether a new account here changes what its reports should be sent: their map names
    the manager's account, and the connection updates accounts after creating them (on a
    create-only one the target owns later edits: a queued report would only be skipped)."""
    return target.field_map.names_manager_account and not target.settings.create_only


def _context(work: AnyWork, step: Step, kind: Holding) -> DeliveryContext:
    claim = work.claim
    return DeliveryContext(
        tenant=claim.tenant,
        connection=claim.connection,
        resource_type=claim.resource_type,
        resource_id=claim.resource_id,
        # The newest change the state carries, not the claimed one: a retry that picked up
        # a later change is a new event, which a receiver deduping by id must not drop.
        event_id=work.upto,
        action=kind.action(step),
    )


def _account(work: AnyWork) -> RemoteAccount:
    assert work.link is not None and work.link.remote_id is not None
    return RemoteAccount(id=work.link.remote_id)


def _linked(work: AnyWork, remote_id: str | None, state: str, digest: str | None) -> Link:
    return Link(work.claim.resource_id, remote_id, state, digest)


async def _create(
    kind: Holding,
    work: AnyWork,
    step: Step,
    target: Target,
    context: DeliveryContext,
    linked_to: LinkedTo,
) -> Effect:
    found = await _match(kind, work, target)
    if found is not None:
        return await _adopt(kind, work, step, target, context, found, linked_to)
    try:
        created = await kind.create(target, work, step, context)
    except ConflictError:
        # The lookup just found nothing, so the resource appeared in between: another
        # attempt of this same event (a claim taken over while still in flight). It is
        # ours: link it rather than dead-letter a resource that is in fact provisioned.
        found = await _match(kind, work, target)
        if found is None:
            raise
        return await _adopt(kind, work, step, target, context, found, linked_to, ours=True)
    return Effect(_linked(work, created.id, links.ACTIVE, step.digest), created.id)


async def _match(kind: Holding, work: AnyWork, target: Target) -> tuple[RemoteAccount, str] | None:
    """The one resource the lookup found and the key it matched on; None if none."""
    found = await kind.find(target, work)
    if found is None or not found.accounts:
        return None
    if len(found.accounts) > 1:
        n = len(found.accounts)
        raise ConflictError(kind.many.format(n=n, target=target.name, key=found.key))
    return found.accounts[0], found.key


async def _adopt(
    kind: Holding,
    work: AnyWork,
    step: Step,
    target: Target,
    context: DeliveryContext,
    match: tuple[RemoteAccount, str],
    linked_to: LinkedTo,
    *,
    ours: bool = False,
) -> Effect:
    found, key = match
    ours = ours or (work.link is not None and work.link.state == links.CREATING)
    if not ours and not target.settings.matching.adopt_existing:
        taken = kind.taken.format(key=key, target=target.name)
        raise ConflictError(
            f"{taken} (remote id {found.id}); set matching.adopt_existing to link it"
        )
    owner = await linked_to(found.id)
    if owner is not None and owner != work.claim.resource_id:
        raise ConflictError(
            f"remote {kind.noun} {found.id} is already linked to {kind.owner} {owner}"
        )
    if kind.adopt_updates or not target.settings.create_only:
        await kind.update(target, found, work, step, context)
    if found.active is False:
        await target.call(target.accounts.reactivate, found, context)
    note = ("link.recovered", f"found the {kind.noun} an earlier attempt created ({found.id})")
    if not ours:
        note = ("link.adopted", kind.adopted.format(id=found.id, key=key))
    return Effect(_linked(work, found.id, links.ACTIVE, step.digest), found.id, [note])


async def _update(
    kind: Holding,
    work: AnyWork,
    step: Step,
    target: Target,
    context: DeliveryContext,
    linked_to: LinkedTo,
) -> Effect:
    account = _account(work)
    try:
        await kind.update(target, account, work, step, context)
    except PermanentError as exc:
        if exc.status != 404:
            raise
        # Someone removed it in the target: provision it again (lookup first).
        effect = await _create(kind, replace(work, link=None), step, target, context, linked_to)
        effect.audit.append((REPLACED, f"{kind.noun} {account.id} was gone from the target"))
        return effect
    return Effect(_linked(work, account.id, links.ACTIVE, step.digest), account.id)


async def _reactivate(
    kind: Holding, work: AnyWork, step: Step, target: Target, context: DeliveryContext, _: LinkedTo
) -> Effect:
    account = _account(work)
    await target.call(target.accounts.reactivate, account, context)
    changed = work.link is None or work.link.payload_hash != step.digest
    if changed and not target.settings.create_only:
        await kind.update(target, account, work, step, context)
    return Effect(_linked(work, account.id, links.ACTIVE, step.digest), account.id)


async def _deactivate(
    kind: Holding,
    work: AnyWork,
    step: Step,
    target: Target,
    context: DeliveryContext,
    linked_to: LinkedTo,
) -> Effect:
    if work.link is None:
        return await _deactivate_match(kind, work, target, context, linked_to)
    account = _account(work)
    await target.call(target.accounts.deactivate, account, context)
    digest = work.link.payload_hash if work.link else None
    return Effect(_linked(work, account.id, links.INACTIVE, digest), account.id)


async def _deactivate_match(
    kind: Holding, work: AnyWork, target: Target, context: DeliveryContext, linked_to: LinkedTo
) -> Effect:
    """An inactive user never linked (S2.4): the account the lookup finds is theirs
    (adoption is on, or the step would not be decided) and is deactivated; none found,
    none is created, and a ``deleted`` link remembers that it was looked for."""
    match = await _match(kind, work, target)
    if match is None:
        return Effect(_linked(work, None, links.DELETED, None), None)
    found, key = match
    owner = await linked_to(found.id)
    if owner is not None and owner != work.claim.resource_id:
        raise ConflictError(
            f"remote {kind.noun} {found.id} is already linked to {kind.owner} {owner}"
        )
    if found.active is not False:
        await target.call(target.accounts.deactivate, found, context)
    note = ("link.adopted", kind.adopted.format(id=found.id, key=key) + ", inactive")
    return Effect(_linked(work, found.id, links.INACTIVE, None), found.id, [note])


async def _delete(
    kind: Holding, work: AnyWork, step: Step, target: Target, context: DeliveryContext, _: LinkedTo
) -> Effect:
    account = _account(work)
    await kind.delete(target, account, context)
    return Effect(_linked(work, account.id, links.DELETED, None), account.id)


_OPERATIONS: dict[
    str,
    Callable[[Holding, AnyWork, Step, Target, DeliveryContext, LinkedTo], Awaitable[Effect]],
] = {
    CREATE: _create,
    UPDATE: _update,
    REACTIVATE: _reactivate,
    DEACTIVATE: _deactivate,
    DELETE: _delete,
}
