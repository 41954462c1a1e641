"""Custom schema attributes of a pushed user, placed where the tenant's map says.

Entra's bulkUpload carries attributes no SCIM schema defines in a custom schema
(``"urn:contoso:employee": {"HireDate": ...}``), which Entra maps in its portal. scimgw
reads them the same way, from ``tenants.<t>.bulk_upload.attributes`` (a table: custom
attribute -> scimgw attribute path). An attribute the map does not name goes into the
HR extension's ``customFields`` when the tenant declares a custom field of that name;
any other is left out, and the operation's result lists it (docs/inbound-entra.md).
"""

from typing import Any

from scim2_models import Path

from gateway.errors import InvalidValueException
from gateway.scim.keys import attribute_key
from gateway.scim.models import HR_SCHEMA

Payload = dict[str, Any]


def _schemas_of(model: Any) -> set[str]:
    """The schema URNs the tenant's User model knows (core and extensions), folded."""
    return {str(model.__schema__).lower(), *(urn.lower() for urn in model.get_extension_models())}


def custom_field_path(name: str, custom_fields: tuple[tuple[str, str], ...]) -> str | None:
    """The ``customFields`` path of the tenant's custom field called ``name`` (any case)."""
    for declared, _kind in custom_fields:
        if declared.lower() == name.lower():
            return f"{HR_SCHEMA}:customFields.{declared}"
    return None


def place(payload: Payload, model: Any, target: str, value: Any) -> None:
    """Set ``value`` at the attribute path ``target`` of a user payload, in place.

    Raises:
        InvalidValueException: ``target`` names no attribute of the tenant's User.
    """
    binding = Path[model](target).resolve()
    if binding is None:
        raise InvalidValueException(
            detail=f"bulk_upload.attributes maps to {target}, which is no attribute of the"
            " tenant's User schema"
        )
    canonical, host_model = binding.urn, binding.model
    schema = str(host_model.__schema__)  # type: ignore[attr-defined]
    # A core attribute sits at the top level of the payload, an extension's in its URN.
    host = payload if host_model is model else _child(payload, schema)
    names = canonical[len(schema) + 1 :].split(".")
    for name in names[:-1]:
        host = _child(host, name)
    host[attribute_key(host, names[-1]) or names[-1]] = value


def _child(mapping: Payload, name: str) -> Payload:
    """The complex value named ``name`` (any case), created empty when absent."""
    key = attribute_key(mapping, name) or name
    child = mapping.get(key)
    if not isinstance(child, dict):
        child = {}
    child = dict(child)
    mapping[key] = child
    return child


def apply_attribute_map(
    payload: Payload,
    model: Any,
    mapped: dict[str, str],
    custom_fields: tuple[tuple[str, str], ...] = (),
) -> tuple[Payload, list[str]]:
    """The payload with its custom schemas' attributes placed (``mapped``: folded
    ``urn:...:Attribute`` -> scimgw path), and the names of those left out.

    Raises:
        InvalidValueException: the map names a path the tenant's User lacks.
    """
    known = _schemas_of(model)
    result: Payload = {}
    placed: list[tuple[str, Any]] = []
    ignored: list[str] = []
    for key, value in payload.items():
        custom = key.lower().startswith("urn:") and key.lower() not in known
        if not custom:
            result[key] = value
        elif not isinstance(value, dict):
            ignored.append(key)
        else:
            for name, item in value.items():
                source = f"{key}:{name}"
                target = mapped.get(source.lower()) or custom_field_path(name, custom_fields)
                if target is None:
                    ignored.append(source)
                else:
                    placed.append((target, item))
    schemas_key = attribute_key(result, "schemas")
    if schemas_key is not None and isinstance(result[schemas_key], list):
        listed = result[schemas_key]
        result[schemas_key] = [s for s in listed if not isinstance(s, str) or s.lower() in known]
    for target, item in placed:
        place(result, model, target, item)
    return result, ignored
