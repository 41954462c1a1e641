"""What a lenient tenant's write ignored: unknown attributes and schema extensions.

Real IdPs send attributes no schema of ours declares (Entra's own extensions, Okta's
profile fields); by default they are dropped rather than failing the whole write
(scim2-models' ``ScimPolicy.Unknown.ignore``), and the write's audit entry names them so
an admin can map them if they matter. Names only, never values: a value may be sensitive.
"""

from typing import Any

from scim2_models import BaseModel, Extension, Resource

#: An audit detail holds at most 1,000 characters: a few names say enough.
MAX_NAMES = 20
MAX_NAME_LENGTH = 100


def ignored_attributes(resource: Resource[Any]) -> list[str]:
    """The paths of the attributes validation set aside, and of unknown ``schemas`` URNs,
    which are removed from the resource (it must not list an extension it lacks)."""
    found = _unknown_in(resource, "")
    known = {str(resource.__schema__), *type(resource).get_extension_models()}
    unknown_schemas = [s for s in resource.schemas or [] if s not in known]
    if unknown_schemas:
        resource.schemas = [s for s in resource.schemas if s in known]
    found += [s for s in unknown_schemas if s not in found]
    return [name[:MAX_NAME_LENGTH] for name in found[:MAX_NAMES]]


def _unknown_in(model: BaseModel, prefix: str) -> list[str]:
    found = [f"{prefix}{name}" for name in model.unknown_attributes]
    for name, field in type(model).model_fields.items():
        value = getattr(model, name, None)
        path = _path(prefix, field.serialization_alias or name, value)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, BaseModel):
                found += [p for p in _unknown_in(item, path) if p not in found]
    return found


def _path(prefix: str, alias: str, value: Any) -> str:
    if isinstance(value, Extension):
        return f"{value.__schema__}:"
    return f"{prefix}{alias}."
