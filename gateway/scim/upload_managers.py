"""The manager a pushed user names: by the manager's externalId, as Entra's bulkUpload has it.

Entra's inbound provisioning puts the manager's **externalId** in the enterprise
``manager.value`` (target-apis.md §7 [V]); scimgw stores the manager's scimgw id there, as
every SCIM client and connector reads it. These functions read the externalId out of a
pushed user and write the id back in; the lookups are gateway.store.uploads'.
"""

from dataclasses import dataclass
from typing import Any

from gateway.scim.keys import attribute_key
from gateway.scim.models import ENTERPRISE_SCHEMA

Payload = dict[str, Any]


@dataclass(frozen=True)
class NamedManager:
    """The manager a pushed user names."""

    #: The manager's externalId; None when the push clears the manager (null or empty).
    external_id: str | None
    #: The user's data without the manager: written so when the manager is not known yet.
    without: Payload


def named_manager(payload: Payload) -> NamedManager | None:
    """The manager the data names; None when it says nothing of a manager."""
    enterprise_key = attribute_key(payload, ENTERPRISE_SCHEMA)
    enterprise = payload.get(enterprise_key) if enterprise_key else None
    if enterprise_key is None or not isinstance(enterprise, dict):
        return None
    manager_key = attribute_key(enterprise, "manager")
    if manager_key is None:
        return None
    manager = enterprise[manager_key]
    value = (
        manager.get(attribute_key(manager, "value") or "value")
        if isinstance(manager, dict)
        else manager
    )
    others = {k: v for k, v in enterprise.items() if k != manager_key}
    without = {**payload, enterprise_key: others}
    if not isinstance(value, str) or not value:
        return NamedManager(None, payload)  # cleared: the data is written as it is
    return NamedManager(value, without)


def without_manager(payload: Payload) -> Payload:
    """The data with its manager cleared (null), as a push of ``"manager": null`` has it."""
    enterprise_key = attribute_key(payload, ENTERPRISE_SCHEMA) or ENTERPRISE_SCHEMA
    enterprise = dict(payload.get(enterprise_key) or {})
    enterprise[attribute_key(enterprise, "manager") or "manager"] = None
    return {**payload, enterprise_key: enterprise}


def with_manager(payload: Payload, user_id: str) -> Payload:
    """The data naming the manager by scimgw id, with the ``$ref`` a created user's
    manager gets from the Entra dialect (gateway.scim.dialects), updates included."""
    enterprise_key = attribute_key(payload, ENTERPRISE_SCHEMA) or ENTERPRISE_SCHEMA
    enterprise = dict(payload.get(enterprise_key) or {})
    manager_key = attribute_key(enterprise, "manager") or "manager"
    enterprise[manager_key] = {"value": user_id, "$ref": f"Users/{user_id}"}
    return {**payload, enterprise_key: enterprise}
