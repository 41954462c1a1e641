"""What a target needs, given a resource as it is now: the pure half of a delivery.

:func:`decide` looks at the current document, the scope and the account link and says
which operation (create, update, reactivate, deactivate, delete or skip) brings the target
to the current state, and why. It makes no call, so ``scimgw plan`` runs it too.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.errors import MappingError
from provisioning.mapping import MappingContext, payload_digest
from provisioning.records import Claim, Link, links
from provisioning.targets import Target

CREATE, UPDATE, REACTIVATE, DEACTIVATE, DELETE, SKIP, FAIL, EXPORT = (
    "create",
    "update",
    "reactivate",
    "deactivate",
    "delete",
    "skip",
    "fail",
    "export",
)


@dataclass(frozen=True)
class Work:
    """A claimed event with the state read for it in one snapshot."""

    claim: Claim
    doc: Mapping[str, Any] | None
    in_scope: bool
    link: Link | None
    #: Newest event id of this resource when the state was read (settled together).
    upto: int
    manager: Mapping[str, Any] | None = None
    manager_remote_id: str | None = None


@dataclass(frozen=True)
class Step:
    """The operation a target needs; ``payload`` and ``digest`` for writes that send data."""

    operation: str
    reason: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    digest: str | None = None


def has_account(link: Link | None) -> bool:
    return bool(link and link.remote_id and link.state in (links.ACTIVE, links.INACTIVE))


def decide(work: Work, target: Target) -> Step:
    """The step that brings the target's account to the resource's current state."""
    if work.claim.resource_type != "User":
        return Step(SKIP, f"{target.name} does not provision groups")
    if work.doc is None:
        return _deprovision(work.link, target, "deleted")
    if not work.in_scope:
        return _deprovision(work.link, target, "out of the connection's scope")
    if not work.doc.get("active", True):
        return _inactive(work.link, target)
    return _provision(work, target)


def _inactive(link: Link | None, target: Target) -> Step:
    """An inactive user: deactivate the account; one never linked is looked up (S2.4)."""
    if target.settings.deprovision.action == "none":
        return Step(SKIP, "inactive; the connection never deprovisions")
    if has_account(link) and link and link.state == links.ACTIVE:
        return Step(DEACTIVATE, "deactivated")
    if link is None and target.settings.matching.adopt_existing:
        # S2.4: an account the target had before (same email) is the person's; never
        # create one for an inactive user. The lookup happens at delivery.
        return Step(DEACTIVATE, "inactive, never linked: deactivating its match, if any")
    return Step(SKIP, "inactive, and no active account in the target")


def _deprovision(link: Link | None, target: Target, why: str) -> Step:
    if target.settings.deprovision.action == "none":
        return Step(SKIP, f"{why}; the connection never deprovisions")
    if not has_account(link):
        return Step(SKIP, f"{why}; no account in the target")
    if target.settings.deprovision.action == "delete":
        return Step(DELETE, why)
    if link and link.state == links.INACTIVE:
        return Step(SKIP, f"{why}; already deactivated")
    return Step(DEACTIVATE, why)


def _provision(work: Work, target: Target) -> Step:
    context = MappingContext(manager=work.manager, manager_remote_id=work.manager_remote_id)
    try:
        payload = target.field_map.apply(work.doc or {}, context)
    except MappingError as exc:
        return Step(FAIL, exc.message)
    digest = payload_digest(payload)
    link = work.link
    if not has_account(link):
        recovering = link is not None and link.state == links.CREATING
        reason = "an earlier create may have succeeded; looking it up" if recovering else "new"
        return Step(CREATE, reason, payload, digest)
    if link and link.state == links.INACTIVE:
        return Step(REACTIVATE, "active again", payload, digest)
    if target.settings.create_only:
        return Step(SKIP, "create-only connection: the target owns later edits", payload, digest)
    if link and link.payload_hash == digest:
        return Step(SKIP, "unchanged since the last delivery", payload, digest)
    return Step(UPDATE, "changed", payload, digest)


def match_value(doc: Mapping[str, Any], key: str) -> str | None:
    """The value of a matching key in a SCIM user document."""
    if key == "email":
        emails = [e for e in doc.get("emails") or [] if isinstance(e, Mapping)]
        chosen = next((e for e in emails if str(e.get("type", "")).lower() == "work"), None)
        chosen = chosen or next((e for e in emails if e.get("primary")), None)
        return str(chosen["value"]) if chosen and chosen.get("value") else None
    if key == "employeeNumber":
        enterprise = doc.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User") or {}
        value = enterprise.get("employeeNumber")
        return str(value) if value else None
    value = doc.get(key)
    return str(value) if value else None
