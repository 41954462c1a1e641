"""Carrying out a decided step against the target: the half of a delivery that calls out.

Before creating, the account is looked up by the connection's matching key: a unique
match is linked when it is ours (an earlier create whose answer was lost) or when adoption
is switched on; several matches, or a foreign account without adoption, are conflicts for
an admin. Every call goes through the connection's rate limiter.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from provisioning.accounts.decisions import (
    CREATE,
    DEACTIVATE,
    DELETE,
    REACTIVATE,
    UPDATE,
    Step,
    Work,
    match_value,
)
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


async def carry_out(work: Work, step: Step, target: Target, linked_to: LinkedTo) -> Effect:
    """Run ``step``; raises a :class:`provisioning.errors.DeliveryError` on failure."""
    started = time.perf_counter()
    context = _context(work, step)
    with replies.watch() as reply:
        effect = await _OPERATIONS[step.operation](work, step, target, context, linked_to)
    effect.latency_ms = round((time.perf_counter() - started) * 1000, 2)
    effect.http_status = reply.status
    effect.reports_follow = _reports_follow(target)
    return effect


def _reports_follow(target: Target) -> bool:
    """Whether a new account here changes what its reports should be sent: their map names
    the manager's account, and the connection updates accounts after creating them (on a
    create-only one the target owns later edits: a queued report would only be skipped)."""
    return target.field_map.names_manager_account and not target.settings.create_only


def _context(work: Work, step: Step) -> DeliveryContext:
    claim = work.claim
    return DeliveryContext(
        tenant=claim.tenant,
        connection=claim.connection,
        resource_type=claim.resource_type,
        resource_id=claim.resource_id,
        # The newest change the state carries, not the claimed one: a retry that picked up
        # a later change is a new event, which a receiver deduping by id must not drop.
        event_id=work.upto,
        action=step.operation,
    )


async def _call(target: Target, method: str, *args: Any) -> Any:
    if target.rate is not None:
        await target.rate.acquire()
    return await getattr(target.connector, method)(*args)


def _account(work: Work) -> RemoteAccount:
    assert work.link is not None and work.link.remote_id is not None
    return RemoteAccount(id=work.link.remote_id)


def _linked(work: Work, remote_id: str, state: str, digest: str | None) -> Link:
    return Link(work.claim.resource_id, remote_id, state, digest)


async def _create(
    work: Work, step: Step, target: Target, context: DeliveryContext, linked_to: LinkedTo
) -> Effect:
    found = await _match(work, target)
    if found is not None:
        return await _adopt(work, step, target, context, found, linked_to)
    try:
        account = await _call(target, "create", step.payload, context)
    except ConflictError:
        # The lookup just found nothing, so the account appeared in between: another
        # attempt of this same event (a claim taken over while still in flight). It is
        # ours: link it rather than dead-letter a user who is in fact provisioned.
        found = await _match(work, target)
        if found is None:
            raise
        return await _adopt(work, step, target, context, found, linked_to, ours=True)
    return Effect(_linked(work, account.id, links.ACTIVE, step.digest), account.id)


async def _match(work: Work, target: Target) -> RemoteAccount | None:
    key = target.settings.matching.key
    value = match_value(work.doc or {}, key)
    if not value or key not in getattr(target.connector, "lookup_keys", ()):
        return None
    found = await _call(target, "find", key, value)
    if len(found) > 1:
        raise ConflictError(f"{len(found)} accounts in {target.name} match this user's {key}")
    return found[0] if found else None


async def _adopt(
    work: Work,
    step: Step,
    target: Target,
    context: DeliveryContext,
    found: RemoteAccount,
    linked_to: LinkedTo,
    *,
    ours: bool = False,
) -> Effect:
    ours = ours or (work.link is not None and work.link.state == links.CREATING)
    key = target.settings.matching.key
    if not ours and not target.settings.matching.adopt_existing:
        raise ConflictError(
            f"an account with this user's {key} already exists in {target.name} "
            f"(remote id {found.id}); set matching.adopt_existing to link it"
        )
    owner = await linked_to(found.id)
    if owner is not None and owner != work.claim.resource_id:
        raise ConflictError(f"remote account {found.id} is already linked to user {owner}")
    if not target.settings.create_only:
        await _call(target, "update", found, step.payload, context)
    if found.active is False:
        await _call(target, "reactivate", found, context)
    note = ("link.recovered", f"found the account an earlier attempt created ({found.id})")
    if not ours:
        note = ("link.adopted", f"adopted existing account {found.id} matched by {key}")
    return Effect(_linked(work, found.id, links.ACTIVE, step.digest), found.id, [note])


async def _update(
    work: Work, step: Step, target: Target, context: DeliveryContext, linked_to: LinkedTo
) -> Effect:
    account = _account(work)
    try:
        await _call(target, "update", account, step.payload, context)
    except PermanentError as exc:
        if exc.status != 404:
            raise
        # Someone removed the account in the target: provision it again (lookup first).
        effect = await _create(replace(work, link=None), step, target, context, linked_to)
        effect.audit.append((REPLACED, f"account {account.id} was gone from the target"))
        return effect
    return Effect(_linked(work, account.id, links.ACTIVE, step.digest), account.id)


async def _reactivate(
    work: Work, step: Step, target: Target, context: DeliveryContext, _: LinkedTo
) -> Effect:
    account = _account(work)
    await _call(target, "reactivate", account, context)
    changed = work.link is None or work.link.payload_hash != step.digest
    if changed and not target.settings.create_only:
        await _call(target, "update", account, step.payload, context)
    return Effect(_linked(work, account.id, links.ACTIVE, step.digest), account.id)


async def _deactivate(
    work: Work, step: Step, target: Target, context: DeliveryContext, _: LinkedTo
) -> Effect:
    account = _account(work)
    await _call(target, "deactivate", account, context)
    digest = work.link.payload_hash if work.link else None
    return Effect(_linked(work, account.id, links.INACTIVE, digest), account.id)


async def _delete(
    work: Work, step: Step, target: Target, context: DeliveryContext, _: LinkedTo
) -> Effect:
    account = _account(work)
    await _call(target, "delete", account, context)
    return Effect(_linked(work, account.id, links.DELETED, None), account.id)


_OPERATIONS = {
    CREATE: _create,
    UPDATE: _update,
    REACTIVATE: _reactivate,
    DEACTIVATE: _deactivate,
    DELETE: _delete,
}
