"""Full-file exports (CSV over SFTP): one run covers every due event of a connection.

A file target cannot be told "this one user changed": the vendor imports a complete file.
So the due events of a connection are coalesced into one run that maps every in-scope user
of the tenant (deactivated ones included, with their status) and uploads one file.
"""

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.database import writer
from provisioning.accounts.snapshot import ENTERPRISE, as_document
from provisioning.connectors import DeliveryContext
from provisioning.errors import MappingError
from provisioning.mapping import MappingContext
from provisioning.records import Claim, guard
from provisioning.targets import Target

RunInThread = Callable[..., Awaitable[Any]]


class ExportHeld(Exception):
    """The mass-deletion guard stopped an export; the reason says why."""


async def export_all(engine: Engine, target: Target, batch: list[Claim], db: RunInThread) -> str:
    """Map every in-scope user and upload one file; returns the remote file name.

    Raises:
        ExportHeld: the file would take access from more people than the guard allows.
    """
    docs = await db(in_scope_documents, engine, target)
    rows = map_rows(target, docs)
    active = sum(1 for doc in docs if doc.get("active", True))
    reason = await db(_trip_reason, engine, target, active)
    if reason is not None:
        raise ExportHeld(reason)
    newest = max(batch, key=lambda claim: claim.id)
    context = DeliveryContext(
        tenant=target.tenant,
        connection=target.name,
        resource_type="User",
        resource_id="*",
        event_id=newest.id,
        action="export",
    )
    sent: list[Mapping[str, Any]] = list(rows)
    name = str(await target.call(target.exporter.export, sent, context))
    await db(_remember, engine, target, active)
    return name


def _trip_reason(engine: Engine, target: Target, active: int) -> str | None:
    with engine.connect() as connection:
        rules = target.settings.guard
        now = datetime.now(UTC)
        return guard.export_trip_reason(connection, target.tenant, target.name, rules, now, active)


def _remember(engine: Engine, target: Target, active: int) -> None:
    with writer(engine).begin() as connection:
        guard.remember_export(connection, target.tenant, target.name, active)


def map_rows(target: Target, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each document through the field map, with managers resolved among the exported."""
    by_id = {doc["id"]: doc for doc in docs}
    rows = []
    for doc in docs:
        manager_id = ((doc.get(ENTERPRISE) or {}).get("manager") or {}).get("value")
        context = MappingContext(manager=by_id.get(manager_id), manager_remote_id=manager_id)
        try:
            rows.append(target.field_map.apply(doc, context))
        except MappingError as exc:
            # Leaving the user out would read as a leaver to the vendor's import: fail the run.
            raise MappingError(f"user {doc['id']}: {exc.message}") from None
    return rows


def in_scope_documents(engine: Engine, target: Target) -> list[dict[str, Any]]:
    """Every in-scope user of the target's tenant (deactivated ones included), by id."""
    table = target.kind.table
    query = sa.select(table.c.doc).where(table.c.tenant_id == target.tenant).order_by(table.c.id)
    if target.scope is not None:
        query = query.where(target.scope)
    with engine.connect() as connection:
        return [as_document(doc) for doc in connection.execute(query).scalars()]
