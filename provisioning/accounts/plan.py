"""``scimgw plan``: what a full reconcile of one connection would do, and why.

Every user of the tenant (and every linked account whose user is gone) goes through the
same :func:`~provisioning.accounts.decisions.decide` as a delivery. Creations are looked up in the
target (a read) to tell a new account from one that would be linked or is a conflict.
No write endpoint is called and nothing is stored.
"""

from collections import Counter
from collections.abc import Iterator
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


async def plan(engine: Engine, target: Target) -> list[PlanLine]:
    """The reconcile plan of ``target``, one line per user that needs or skips a step."""
    if target.exports:
        return _export_plan(engine, target)
    lines = []
    for work in _works(engine, target):
        step = decide(work, target)
        if step.operation == CREATE:
            step = await _refine_create(work, step, target)
        user_name = str((work.doc or {}).get("userName", ""))
        lines.append(PlanLine(work.claim.resource_id, user_name, step.operation, step.reason))
    return lines


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


def _works(engine: Engine, target: Target) -> Iterator[Work]:
    """Every user of the tenant, read page by page through the worker's own snapshot
    (:func:`~provisioning.accounts.snapshot.read_work`): the same documents, scope, links and
    managers a delivery reads, so the plan maps exactly what a delivery would send."""
    table = target.kind.table
    after = ""
    while True:
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
                break
            works = read_work(connection, target, [_claim(target, i) for i in ids], {})
        yield from works
        after = ids[-1]
    yield from _orphans(engine, target)


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
