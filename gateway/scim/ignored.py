"""What a lenient tenant's write ignored: unknown attributes and schema extensions.

Real IdPs send attributes no schema of ours declares (Entra's own extensions, Okta's
profile fields); by default they are dropped rather than failing the whole write
(scim2-models' ``ScimPolicy.Unknown.ignore``), and the write's audit entry names them so
an admin can map them if they matter. Names only, never values: a value may be sensitive.
"""

from typing import Any

from scim2_models import BaseModel, Extension, Path, Resource, SCIMException

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
    # What ``model.unknown_attributes`` returns, read from pydantic's dict of private
    # values: the property goes through pydantic's __getattr__, 7 µs per model. This runs
    # on every write; reading every field through its accessor cost a quarter of a User's
    # validation, hence the instance's own values, scalars skipped first.
    private = model.__pydantic_private__ or {}
    found = [f"{prefix}{name}" for name in private.get("_unknown_attributes") or ()]
    for name, value in model.__dict__.items():
        if isinstance(value, BaseModel):
            nested = [value]
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            nested = value
        else:
            continue
        field = type(model).model_fields[name]
        path = _path(prefix, field.serialization_alias or name, nested[0])
        for item in nested:
            found += [p for p in _unknown_in(item, path) if p not in found]
    return found


def _path(prefix: str, alias: str, value: Any) -> str:
    if isinstance(value, Extension):
        return f"{value.__schema__}:"
    return f"{prefix}{alias}."


def ignored_in_patch(model: type[Resource[Any]], operations: list[Any]) -> list[str]:
    """The paths of PATCH operations, and keys of path-less values, that name no attribute
    of ``model``: scim2-models' lenient policy applies them as changing nothing."""
    found: list[str] = []
    for operation in operations:
        if operation.path is not None:
            paths = [str(operation.path)]
        else:
            paths = list(operation.value) if isinstance(operation.value, dict) else []
        found += [p for p in paths if p not in found and not _resolves(model, p)]
    return [name[:MAX_NAME_LENGTH] for name in found[:MAX_NAMES]]


def _resolves(model: type[Resource[Any]], path: str) -> bool:
    # A bare extension URN (a path-less value's key) names a model, which never resolves.
    if path.lower() in {urn.lower() for urn in model.get_extension_models()}:
        return True
    try:
        return Path[model](path).resolve() is not None  # type: ignore[valid-type]
    except (SCIMException, ValueError):
        return True  # not a path at all: validation has its own word for that
