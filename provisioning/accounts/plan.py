"""``scimgw plan``: what a full reconcile of one connection would do, and why.

:func:`steps` is the computation; :func:`plan` shows it, a target run
(provisioning.accounts.backfill) enqueues it: plan and apply share one code path.

Every user of the tenant (and every linked account whose user is gone) goes through the
same :func:`~provisioning.accounts.decisions.decide` as a delivery. Creations are looked up in the
target (a read) to tell a new account from one that would be linked or is a conflict.
No write endpoint is called and nothing is stored.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.tables import AccountLink
from provisioning.accounts.decisions import CREATE, EXPORT, FAIL, Step, Work, decide
from provisioning.accounts.exports import in_scope_documents, map_rows
from provisioning.accounts.holdings import find_account
from provisioning.accounts.snapshot import read_work
from provisioning.errors import DeliveryError, MappingError
from provisioning.records import Claim
from provisioning.targets import Target

account_links = AccountLink.__table__  # type: ignore[attr-defined]
PAGE = 500


@dataclass(frozen=True)
class PlanLine:
    resource_id: str
    user_name: str
    operation: str
    reason: str


async def plan(engine: Engine, target: Target, *, lookup: bool = True) -> list[PlanLine]:
    """The reconcile plan of ``target``, one line per user that needs or skips a step.

    Args:
        lookup: look each creation up in the target (a read) to tell a new account from
            one that would be linked or is a conflict, as the delivery will.
    """
    if target.exports:
        return await asyncio.to_thread(_export_plan, engine, target)
    lines = []
    async for work, step in steps(engine, target, lookup=lookup):
        user_name = str((work.doc or {}).get("userName", ""))
        lines.append(PlanLine(work.claim.resource_id, user_name, step.operation, step.reason))
    return lines


async def steps(
    engine: Engine, target: Target, *, lookup: bool = False
) -> AsyncIterator[tuple[Work, Step]]:
    """Every user of the tenant (then every orphaned account) with the step it needs.

    The one computation behind ``scimgw plan`` (which shows it) and a target run
    (provisioning.accounts.backfill, which enqueues it). Each page is read and decided in
    a thread, so that a tenant of 100,000 users does not hold the event loop.
    """
    after: str | None = ""
    while after is not None:
        decided, after = await asyncio.to_thread(_decided_page, engine, target, after)
        for work, step in decided:
            if lookup and step.operation == CREATE:
                step = await _refine_create(work, step, target)
            yield work, step


def _decided_page(
    engine: Engine, target: Target, after: str
) -> tuple[list[tuple[Work, Step]], str | None]:
    """One page of users after ``after``, decided; the orphans once the users run out.

    Returns the page and the id to continue after (None: that was the last page).
    """
    works, last = _page(engine, target, after)
    if last is None:
        works = list(_orphans(engine, target))
    return [(work, decide(work, target)) for work in works], last


def _export_plan(engine: Engine, target: Target) -> list[PlanLine]:
    """A file target receives every in-scope user in every file (exports.py), so its plan
    is the next file: mapped by the export's own code, managers resolved as it does."""
    docs = in_scope_documents(engine, target)
    try:
        map_rows(target, docs)
    except MappingError as exc:
        return [PlanLine("*", "", FAIL, f"the next file cannot be written: {exc.message}")]
    return [
        PlanLine(doc["id"], str(doc.get("userName", "")), EXPORT, _EXPORT_REASONS[_active(doc)])
        for doc in docs
    ]


#: Whether the importer sees a leaver as an inactive row or by its absence is the vendor's.
_EXPORT_REASONS = {
    True: "in every file",
    False: "inactive: in every file as the vendor shows leavers",
}


def _active(doc: dict[str, object]) -> bool:
    return doc.get("active", True) is not False


def summary(lines: list[PlanLine]) -> Counter[str]:
    return Counter(line.operation for line in lines)


async def _refine_create(work: Work, step: Step, target: Target) -> Step:
    """The lookup a delivery makes before creating (holdings.find_account), read only."""
    try:
        lookup = await find_account(target, work)
    except DeliveryError as exc:
        return Step(CREATE, f"new (lookup failed: {exc.message})")
    if lookup is None:
        return step
    found, key = lookup.accounts, lookup.key
    if len(found) > 1:
        return Step("conflict", f"{len(found)} accounts match this {key}")
    if found and target.settings.matching.adopt_existing:
        return Step("link", f"adopt existing account {found[0].id} matched by {key}")
    if found:
        return Step("conflict", f"account {found[0].id} has this {key}; adoption is off")
    return step


def _page(engine: Engine, target: Target, after: str) -> tuple[list[Work], str | None]:
    """A page of users read through the worker's own snapshot
    (:func:`~provisioning.accounts.snapshot.read_work`): the same documents, scope, links and
    managers a delivery reads, so the plan maps exactly what a delivery would send."""
    table = target.kind.table
    with engine.connect() as connection:
        ids = list(
            connection.execute(
                sa.select(table.c.id)
                .where(table.c.tenant_id == target.tenant, table.c.id > after)
                .order_by(table.c.id)
                .limit(PAGE)
            ).scalars()
        )
        if not ids:
            return [], None
        return read_work(connection, target, [_claim(target, i) for i in ids], {}), ids[-1]


def _orphans(engine: Engine, target: Target) -> Iterator[Work]:
    """Linked accounts whose user no longer exists: they would be deprovisioned."""
    table = target.kind.table
    gone = ~sa.exists().where(
        table.c.tenant_id == target.tenant, table.c.id == account_links.c.resource_id
    )
    query = sa.select(account_links.c.resource_id).where(
        account_links.c.tenant_id == target.tenant,
        account_links.c.connection == target.name,
        account_links.c.resource_type == "User",
        gone,
    )
    with engine.connect() as connection:
        ids = list(connection.execute(query).scalars())
        works = read_work(connection, target, [_claim(target, i) for i in ids], {})
    yield from works


def _claim(target: Target, resource_id: str) -> Claim:
    return Claim(0, target.tenant, target.name, "User", resource_id, "reconcile", 0, 3, 0)
