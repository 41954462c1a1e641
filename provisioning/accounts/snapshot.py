"""Reading what a batch of claimed events needs: the newest events first, then the state.

The resource is loaded as it is *now* (ARCHITECTURE.md, step 3), so a late or replayed
event converges on the current state. The newest event id of each resource is read first:
every event up to it is covered by the state read after it, and settled with it.
"""

from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.tables import among_ids
from provisioning.accounts.decisions import Work, has_account
from provisioning.mapping import in_scope
from provisioning.records import Claim, links
from provisioning.records import claims as claim_rows
from provisioning.targets import Target

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def load_work(engine: Engine, target: Target, batch: list[Claim]) -> list[Work]:
    """The state of every claimed event's resource, read in one transaction."""
    ids = sorted({c.resource_id for c in batch})
    with engine.connect() as connection, connection.begin():
        # The newest events first: a statement may see more than the one before it (on
        # PostgreSQL each statement of a READ COMMITTED transaction reads its own
        # snapshot), so the state read next is at least as new as the events it settles.
        # A change committed in between stays pending and is delivered next.
        latest = claim_rows.latest_events(connection, target.tenant, target.name, ids)
        return read_work(connection, target, batch, latest)


def read_work(
    connection: sa.Connection, target: Target, batch: list[Claim], latest: Mapping[str, int]
) -> list[Work]:
    """Each claim's resource as it is now: document, scope, account link and manager.

    The one place that gathers what :func:`~provisioning.accounts.decisions.decide` maps into a
    target's payload: deliveries and the dry run (``scimgw plan``) both read through it,
    so a plan shows exactly what a delivery would send.

    Args:
        latest: the newest event id of each resource (``Work.upto``); a claim's own id
            for resources missing from it.
    """
    user_ids = [c.resource_id for c in batch if c.resource_type == "User"]
    docs = _documents(connection, target, user_ids)
    # Without a scope, every user that exists is in it: the documents just read say which.
    scoped = (
        set(docs)
        if target.scope is None
        else in_scope(connection, target.tenant, target.kind, target.scope, docs)
    )
    known = links.load(connection, target.tenant, target.name, "User", user_ids)
    managers = _managers(connection, target, docs) if target.field_map.needs_manager else {}
    return [_work(c, docs, scoped, known, managers, latest.get(c.resource_id, c.id)) for c in batch]


def _work(
    claim: Claim,
    docs: dict[str, dict[str, Any]],
    scoped: set[str],
    known: dict[str, links.Link],
    managers: dict[str, tuple[dict[str, Any], str | None]],
    upto: int,
) -> Work:
    doc = docs.get(claim.resource_id)
    manager_id = _manager_id(doc) if doc else None
    manager, manager_remote = managers.get(manager_id or "", (None, None))
    return Work(
        claim=claim,
        doc=doc,
        in_scope=claim.resource_id in scoped,
        link=known.get(claim.resource_id),
        upto=upto,
        manager=manager,
        manager_remote_id=manager_remote,
    )


def _documents(
    connection: sa.Connection, target: Target, ids: list[str]
) -> dict[str, dict[str, Any]]:
    return read_documents(connection, target.kind.table, target.tenant, ids)


def read_documents(
    connection: sa.Connection, table: sa.Table, tenant: str, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The stored documents of those of ``ids`` that exist in the tenant, by id."""
    if not ids:
        return {}
    query = _documents_query(table, connection.dialect.name)
    rows = connection.execute(query, {"tenant": tenant, "ids": ids})
    return {resource_id: as_document(doc) for resource_id, doc in rows}


@cache
def _documents_query(table: sa.Table, dialect: str) -> sa.Select[Any]:
    """Built once. The document is read as the driver gives it (JSON text on SQLite, for
    orjson in :func:`as_document`): SQLAlchemy's JSON type parses with the slower json
    module, which cost the worker a fifth of its time."""
    ids: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
    return sa.select(table.c.id, sa.type_coerce(table.c.doc, sa.String)).where(
        among_ids(table, sa.bindparam("tenant"), ids, dialect)
    )


def _managers(
    connection: sa.Connection, target: Target, docs: dict[str, dict[str, Any]]
) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Each referenced manager's document and remote id in this target."""
    ids = {m for doc in docs.values() if (m := _manager_id(doc))}
    manager_docs = _documents(connection, target, sorted(ids))
    manager_links = links.load(connection, target.tenant, target.name, "User", manager_docs)
    return {
        manager_id: (doc, _account_id(manager_links.get(manager_id)))
        for manager_id, doc in manager_docs.items()
    }


def _account_id(link: links.Link | None) -> str | None:
    """The manager's account in the target, if it has one: not a ``creating`` link (no
    account yet) nor a ``deleted`` one (its remote id names an account that is gone)."""
    return link.remote_id if link is not None and has_account(link) else None


def _manager_id(doc: Mapping[str, Any]) -> str | None:
    manager = (doc.get(ENTERPRISE) or {}).get("manager") or {}
    value = manager.get("value") if isinstance(manager, Mapping) else None
    return str(value) if value else None


def as_document(doc: Any) -> dict[str, Any]:
    """A stored document as a dict, whichever way the driver hands JSON back."""
    if isinstance(doc, str | bytes):  # SQLite drivers may hand back raw JSON text
        return dict(orjson.loads(doc))
    return dict(doc)
