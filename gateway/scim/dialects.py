"""IdP dialects: known deviations from RFC 7643/7644, rewritten into standard SCIM.

Each quirk is a row naming its IdP and the public documentation it comes from; the code
that applies them is a loop. Quirks apply to every caller: each one rewrites a form that
is invalid SCIM, so a standard client is never affected.

What scim2-models already absorbs is listed here as policy, not code: capitalised PATCH
ops (Entra), attribute names in any case (Entra), ``"True"``/``"False"`` strings for
booleans (Entra), dotted attribute paths as keys of a path-less replace (Entra), a
``remove`` carrying the values to remove (Entra), and an ``add`` whose path filter matches
no entry (Entra: ``emails[type eq "work"].value`` on a user without a work email).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scim2_models import ScimPolicy

from gateway.scim.keys import attribute_key
from gateway.scim.kinds import Kind
from gateway.scim.models import ENTERPRISE_SCHEMA, HR_SCHEMA

#: The reading of deviations that scim2-models handles itself (see module docstring).
#: Unknown attributes and extensions are ignored (and audited) unless the tenant sets
#: ``strict_input``: Entra sends its own extensions and attributes no mapping declares.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

Payload = dict[str, Any]
MANAGER_PATH = f"{ENTERPRISE_SCHEMA}:manager".lower()
#: Schema URNs Entra lists that describe nothing of ours: dropped, never refused.
ENTRA_SCHEMAS = frozenset(
    {"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"}
)
#: The members RFC 7644 §3.5.2 defines for a PatchOp and for each of its operations.
PATCH_MEMBERS = frozenset({"schemas", "operations"})
OPERATION_MEMBERS = frozenset({"op", "path", "value"})
#: Extensions whose attributes Entra may address with a dot after the URN
#: (``urn:...:enterprise:2.0:User.manager``) where RFC 7644 §3.10 puts a colon.
EXTENSION_URNS = (ENTERPRISE_SCHEMA, HR_SCHEMA)
#: Extension attributes Entra addresses without their URN (lower case -> standard path).
#: Only names the core User lacks can be read so; ``manager`` is the one Entra sends.
BARE_EXTENSION_PATHS = {"manager": f"{ENTERPRISE_SCHEMA}:manager"}


@dataclass(frozen=True)
class Quirk:
    idp: str
    source: str
    description: str
    rewrite: Callable[[Payload], Payload]


def _manager_reference(manager: Any) -> Any:
    """Entra sends the manager as a bare id, or as ``{"value": id}`` (any case) without
    ``$ref``."""
    if isinstance(manager, str) and manager:
        manager = {"value": manager}
    if not isinstance(manager, dict):
        return manager
    value, ref = attribute_key(manager, "value"), attribute_key(manager, "$ref")
    if value is not None and manager[value] and (ref is None or not manager[ref]):
        manager = {k: v for k, v in manager.items() if k != ref}
        manager["$ref"] = f"Users/{manager[value]}"
    return manager


def _resource_manager(payload: Payload) -> Payload:
    enterprise = attribute_key(payload, ENTERPRISE_SCHEMA)
    if enterprise is None or not isinstance(payload[enterprise], dict):
        return payload
    extension = dict(payload[enterprise])
    for key in [k for k in extension if k.lower() == "manager"]:
        extension[key] = _manager_reference(extension[key])
    return {**payload, enterprise: extension}


def _drop_entra_schemas(payload: Payload) -> Payload:
    key = attribute_key(payload, "schemas")
    schemas = payload.get(key) if key else None
    if key is None or not isinstance(schemas, list):
        return payload
    # Only strings can name a schema; anything else is left for validation to refuse.
    kept = [s for s in schemas if not (isinstance(s, str) and s in ENTRA_SCHEMAS)]
    return payload if len(kept) == len(schemas) else {**payload, key: kept}


def _patch_members(payload: Payload) -> Payload:
    """Only the members RFC 7644 defines: Entra adds ``name`` to operations, and some
    clients the resource's ``id`` to the body. Neither says anything to apply."""
    kept = {k: v for k, v in payload.items() if k.lower() in PATCH_MEMBERS}
    return _map_operations(kept, _operation_members)


def _operation_members(operation: Payload) -> Payload:
    return {k: v for k, v in operation.items() if k.lower() in OPERATION_MEMBERS}


def _patch_extension_paths(payload: Payload) -> Payload:
    return _map_operations(payload, _operation_extension_path)


def _operation_extension_path(operation: Payload) -> Payload:
    path = operation.get("path")
    if not isinstance(path, str):
        return operation
    standard = BARE_EXTENSION_PATHS.get(path.lower())
    for urn in EXTENSION_URNS:
        if path.lower().startswith(f"{urn.lower()}."):
            standard = f"{urn}:{path[len(urn) + 1 :]}"
    return {**operation, "path": standard} if standard else operation


def _patch_manager(payload: Payload) -> Payload:
    return _map_operations(payload, _operation_manager)


def _operation_manager(operation: Payload) -> Payload:
    path = str(operation.get("path") or "").lower()
    if path == MANAGER_PATH and operation.get("value") not in (None, ""):
        return {**operation, "value": _manager_reference(operation["value"])}
    if path == MANAGER_PATH and str(operation.get("op", "")).lower() == "replace":
        # Entra clears a manager with replace and an empty value.
        return {"op": "remove", "path": operation["path"]}
    return operation


def _patch_pathless_id(payload: Payload) -> Payload:
    return _map_operations(payload, _drop_id_from_value)


def _drop_id_from_value(operation: Payload) -> Payload:
    """Okta repeats the resource's ``id`` inside a path-less replace; it changes nothing."""
    value = operation.get("value")
    if operation.get("path") or not isinstance(value, dict):
        return operation
    cleaned = {k: v for k, v in value.items() if k.lower() != "id"}
    return {**operation, "value": cleaned}


def _map_operations(payload: Payload, rewrite: Callable[[Payload], Payload]) -> Payload:
    key = attribute_key(payload, "Operations")
    if key is None or not isinstance(payload[key], list):
        return payload
    operations = [rewrite(op) if isinstance(op, dict) else op for op in payload[key]]
    return {**payload, key: operations}


RESOURCE_QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        "Entra ID",
        "learn.microsoft.com: Tutorial - Develop a SCIM endpoint (Create Group request)",
        "a Group lists the ADSCIM Group schema URN, which describes nothing scimgw stores",
        _drop_entra_schemas,
    ),
    Quirk(
        "Entra ID",
        "learn.microsoft.com: Tutorial - Develop a SCIM endpoint (manager attribute)",
        "manager given without $ref, which RFC 7643 §4.3 marks required",
        _resource_manager,
    ),
)

PATCH_QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        "Entra ID",
        "learn.microsoft.com: Tutorial - Develop a SCIM endpoint (Update Group, add members)",
        'operations carry a "name" member, and bodies an "id", that RFC 7644 §3.5.2 lacks',
        _patch_members,
    ),
    Quirk(
        "Entra ID",
        "learn.microsoft.com: Known issues with SCIM 2.0 compliance (manager path)",
        "the enterprise manager addressed as manager, or with a dot after the URN",
        _patch_extension_paths,
    ),
    Quirk(
        "Entra ID",
        "learn.microsoft.com: Known issues with SCIM 2.0 compliance (manager)",
        "manager set with a bare id string, cleared with an empty replace",
        _patch_manager,
    ),
    Quirk(
        "Okta",
        "developer.okta.com: SCIM 2.0 protocol reference (Update a specific Group name)",
        "path-less replace repeats the resource id in its value",
        _patch_pathless_id,
    ),
)


def resource_payload(kind: Kind, payload: Payload) -> Payload:
    """Rewrite a POST/PUT body into standard SCIM."""
    for quirk in RESOURCE_QUIRKS:
        payload = quirk.rewrite(payload)
    return payload


def patch_payload(kind: Kind, payload: Payload) -> Payload:
    """Rewrite a PATCH body into standard SCIM."""
    for quirk in PATCH_QUIRKS:
        payload = quirk.rewrite(payload)
    return payload
