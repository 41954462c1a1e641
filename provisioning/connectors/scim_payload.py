"""SCIM documents and PATCH operations built from the engine's flat map of paths.

The engine hands a connector ``{"name.givenName": "Ada", 'emails[type eq "work"].value':
"ada@example.com"}``. scim2-models parses each path (the RFC 7644 §3.5.2 grammar); this
module only decides where its value goes in a JSON document. Documents stay plain dicts
rather than scim2-models resources because a remote target may use extension schemas no
local model declares, and a PUT must send them back untouched.

A value filter in a path is read as the entry it describes: only ``eq`` comparisons
joined by ``and`` (``emails[type eq "work"]``), as scim2-models' ``UnmatchedPathFilter
.create`` policy reads them. Any other filter is a :class:`MappingError`.
"""

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scim2_models import Group, SCIMException, User
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Path,
    ValuePath,
)

from gateway.store.comparison import equal, is_empty
from provisioning.errors import MappingError

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

Document = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """Where one path points in a document.

    Attributes:
        schema: the extension URN holding the attribute, None for the core schema.
        attr: the attribute name.
        sub_attr: the sub-attribute name, if the path names one.
        selector: the entry a value filter describes (``{"type": "work"}``), if any.
    """

    schema: str | None
    attr: str
    sub_attr: str | None = None
    selector: Mapping[str, Any] | None = None


@lru_cache(maxsize=512)
def parse(path: str) -> Target:
    """Parse a target path; raise MappingError if it is not a writable attribute path."""
    try:
        node = Path(path).ast
    except (SCIMException, ValueError) as exc:
        raise MappingError(f"invalid SCIM path {path!r}: {exc}") from None
    if isinstance(node, ValuePath):
        selector = _describe(node.val_filter, path)
        return _target(node.attr_path, node.sub_attr, selector)
    if isinstance(node, AttrPath):
        return _target(node, node.sub_attr, None)
    raise MappingError(f"SCIM path {path!r} names no attribute")


def _target(attr_path: AttrPath, sub_attr: str | None, selector: Any) -> Target:
    schema = attr_path.uri
    if schema is not None and schema.lower() in (CORE_USER.lower(), CORE_GROUP.lower()):
        schema = None
    return Target(schema, attr_path.attr, sub_attr, selector)


def _describe(node: FilterNode, path: str) -> dict[str, Any]:
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        described: dict[str, Any] = {}
        for term in node.terms:
            described.update(_describe(term, path))
        return described
    if (
        isinstance(node, Comparison)
        and node.op == CompareOperator.eq
        and node.attr_path.sub_attr is None
        and node.attr_path.uri is None
    ):
        return {node.attr_path.attr: node.value}
    raise MappingError(f"SCIM path {path!r}: only eq comparisons joined by and select an entry")


# -- documents ---------------------------------------------------------------------------


def build(
    payload: Mapping[str, Any],
    *,
    base: Mapping[str, Any] | None = None,
    core: str = CORE_USER,
    schemas: Iterable[str] = (),
) -> Document:
    """A resource holding ``payload``, laid over a copy of ``base`` when given.

    A ``None`` value removes the attribute (RFC 7643 §2.5: unassigned and null are the
    same). ``schemas`` lists the core URN, the URNs of the extensions present and the
    extra ``schemas`` given (RFC 7643 §3: every extension used must be listed).
    """
    document: Document = copy.deepcopy(dict(base)) if base else {}
    for path, value in payload.items():
        if value is None:
            unset(document, parse(path))
        else:
            put(document, parse(path), value)
    listed = [*_as_list(get_attr(document, "schemas")), core, *schemas, *_extensions(document)]
    pop_attr(document, "schemas")
    return {"schemas": list(dict.fromkeys(listed)), **document}


def attributes(payload: Mapping[str, Any]) -> Document:
    """The attributes of ``payload`` (its non-null values) as one object, without schemas."""
    document = build({path: value for path, value in payload.items() if value is not None})
    pop_attr(document, "schemas")
    return document


def put(document: Document, target: Target, value: Any) -> None:
    """Write ``value`` where ``target`` points, creating the objects and entry on the way."""
    container = _container(document, target)
    if target.selector is None:
        _put_plain(container, target, value)
        return
    entries = _list(container, target.attr)
    entry = next(iter(_matching(entries, target.selector)), None) or _new_entry(entries, target)
    if target.sub_attr is not None:
        set_attr(entry, target.sub_attr, value)
    elif isinstance(value, Mapping):
        entry.update(value)
    else:
        raise MappingError(f"{target.attr}[...] takes an object, not {type(value).__name__}")


def _put_plain(container: Document, target: Target, value: Any) -> None:
    if target.sub_attr is None:
        set_attr(container, target.attr, value)
        return
    if _multi_valued(target) or isinstance(get_attr(container, target.attr), list):
        raise MappingError(
            f"{target.attr} is multi-valued: select an entry, e.g. "
            f'{target.attr}[type eq "work"].{target.sub_attr}'
        )
    set_attr(_child(container, target.attr), target.sub_attr, value)


def _multi_valued(target: Target) -> bool:
    """Whether the core User or Group schema, as scim2-models declares it, makes the
    attribute multi-valued: ``emails.value`` would not say which entry to write."""
    if target.schema is not None:
        return False
    # Path is bound to each model in turn at run time: no static type argument says that.
    bindings = (
        Path[model](target.attr).resolve()  # type: ignore[valid-type]
        for model in (User, Group)
    )
    return any(binding is not None and binding.is_multivalued for binding in bindings)


def _new_entry(entries: list[Any], target: Target) -> Document:
    entry = dict(target.selector or {})
    # The first value of an attribute is its preferred one (RFC 7643 §2.4, "primary").
    if not entries and "primary" not in {key.lower() for key in entry}:
        entry["primary"] = True
    entries.append(entry)
    return entry


def unset(document: Document, target: Target) -> None:
    """Remove what ``target`` points at; an entry whose ``value`` goes is removed whole."""
    container = document if target.schema is None else get_attr(document, target.schema)
    if not isinstance(container, dict):
        return
    if target.selector is None and target.sub_attr is None:
        pop_attr(container, target.attr)
    elif target.selector is None:
        child = get_attr(container, target.attr)
        if isinstance(child, dict):
            pop_attr(child, target.sub_attr or "")
    elif target.sub_attr is None or target.sub_attr.lower() == "value":
        entries = _as_list(get_attr(container, target.attr))
        doomed = {id(entry) for entry in _matching(entries, target.selector)}
        if doomed:
            set_attr(container, target.attr, [e for e in entries if id(e) not in doomed])
    else:
        for entry in _matching(_as_list(get_attr(container, target.attr)), target.selector):
            pop_attr(entry, target.sub_attr)


def values(document: Mapping[str, Any], target: Target) -> list[Any]:
    """Every value at ``target`` (several when it crosses a multi-valued attribute)."""
    container = get_attr(document, target.schema) if target.schema else document
    if not isinstance(container, Mapping):
        return []
    found = get_attr(container, target.attr)
    items = _as_list(found) if isinstance(found, list) else [found]
    if target.selector is not None:
        items = list(_matching(items, target.selector))
    if target.sub_attr is not None:
        items = [get_attr(item, target.sub_attr) for item in items if isinstance(item, Mapping)]
    return [item for item in items if item is not None]


# -- PATCH operations --------------------------------------------------------------------


def path_operations(payload: Mapping[str, Any]) -> list[Document]:
    """One ``replace`` per path, ``remove`` for a null (the form Microsoft Entra sends)."""
    return [
        {"op": "replace", "path": path, "value": value}
        if value is not None
        else {"op": "remove", "path": removal_path(path)}
        for path, value in payload.items()
    ]


def value_operations(payload: Mapping[str, Any]) -> list[Document]:
    """One path-less ``replace`` of every non-null attribute (the form Okta sends).

    RFC 7644 §3.5.2.3: sub-attributes of a complex attribute left out are kept, but a
    multi-valued attribute is replaced whole. Nulls become ``remove`` operations.
    """
    value = attributes(payload)
    operations = [{"op": "replace", "value": value}] if value else []
    removed = {path: None for path, item in payload.items() if item is None}
    return operations + path_operations(removed)


def removal_path(path: str) -> str:
    """The path a ``remove`` takes: an entry selected for its ``value`` goes whole."""
    target = parse(path)
    if target.selector is not None and (target.sub_attr or "value").lower() == "value":
        return path[: path.rindex("]") + 1]
    return path


def patch_request(operations: list[Document]) -> Document:
    """A PatchOp message (RFC 7644 §3.5.2)."""
    return {"schemas": [PATCH_OP], "Operations": operations}


def membership_operations(current: list[str], wanted: Iterable[str]) -> list[Document]:
    """``add`` and ``remove`` operations turning the ``current`` member ids into ``wanted``.

    Sending the difference rather than replacing ``members`` keeps large groups cheap and
    is the form Microsoft Entra sends, so targets built for it accept it.
    """
    wanted = list(dict.fromkeys(wanted))
    present, kept = set(current), set(wanted)
    added = [{"value": member} for member in wanted if member not in present]
    operations = [{"op": "add", "path": "members", "value": added}] if added else []
    return operations + [
        {"op": "remove", "path": f"members[value eq {filter_literal(member)}]"}
        for member in current
        if member not in kept
    ]


# -- queries and answers -----------------------------------------------------------------


def filter_literal(value: str) -> str:
    """A filter's string literal: JSON-quoted (RFC 7644 §3.4.2.2), so ``"`` and ``\\`` are
    escaped. Non-ASCII stays as is: valid JSON, and some servers do not decode ``\\u``.
    """
    return json.dumps(value, ensure_ascii=False)


def equality_filter(path: str, value: str) -> str:
    """The filter matching resources whose ``path`` equals ``value``.

    ``emails[type eq "work"].value eq "x"`` is not RFC 7644 filter grammar, so a selected
    entry's sub-attribute joins its filter: ``emails[type eq "work" and value eq "x"]``.
    """
    target = parse(path)
    literal = filter_literal(value)
    if target.selector is None:
        return f"{path} eq {literal}"
    return f"{path[: path.rindex(']')]} and {target.sub_attr or 'value'} eq {literal}]"


def matches(resource: Mapping[str, Any], path: str, value: str) -> bool:
    """Whether ``resource`` holds ``value`` at ``path``, compared case-insensitively."""
    wanted = value.casefold()
    return any(
        isinstance(found, str) and found.casefold() == wanted
        for found in values(resource, parse(path))
    )


def resources(body: Any) -> list[Document]:
    """The resources of a ListResponse (RFC 7644 §3.4.2), those without an id left out."""
    found = get_attr(body, "Resources") if isinstance(body, dict) else None
    return [item for item in _as_list(found) if isinstance(item, dict) and item.get("id")]


def member_ids(group: Any) -> list[str]:
    """The ``value`` of each member of a group document."""
    members = get_attr(group, "members") if isinstance(group, dict) else None
    return [str(m["value"]) for m in _as_list(members) if isinstance(m, dict) and "value" in m]


def active_flag(resource: Mapping[str, Any]) -> bool | None:
    """``active`` as a bool; some servers send the strings ``"True"``/``"False"``."""
    active = get_attr(resource, "active")
    if isinstance(active, str):
        return {"true": True, "false": False}.get(active.lower())
    return active if isinstance(active, bool) else None


# -- dict helpers: SCIM attribute names are case-insensitive (RFC 7643 §2.1) --------------


def _key(obj: Mapping[str, Any], name: str) -> str | None:
    lowered = name.lower()
    return next((key for key in obj if key.lower() == lowered), None)


def get_attr(obj: Mapping[str, Any], name: str) -> Any:
    """The value of attribute ``name`` whatever its spelling, None if absent."""
    key = _key(obj, name)
    return None if key is None else obj[key]


def set_attr(obj: Document, name: str, value: Any) -> None:
    """Set attribute ``name``, replacing it under any other spelling."""
    pop_attr(obj, name)
    obj[name] = value


def pop_attr(obj: Document, name: str) -> None:
    """Remove attribute ``name`` whatever its spelling, if present."""
    key = _key(obj, name)
    if key is not None:
        del obj[key]


def _child(obj: Document, name: str) -> Document:
    child = get_attr(obj, name)
    if not isinstance(child, dict):
        child = {}
        set_attr(obj, name, child)
    return child


def _list(obj: Document, name: str) -> list[Any]:
    entries = get_attr(obj, name)
    if not isinstance(entries, list):
        entries = []
        set_attr(obj, name, entries)
    return entries


def _container(document: Document, target: Target) -> Document:
    return document if target.schema is None else _child(document, target.schema)


def _matching(entries: Iterable[Any], selector: Mapping[str, Any]) -> Iterable[Document]:
    for entry in entries:
        if isinstance(entry, dict) and all(
            _same(get_attr(entry, name), wanted) for name, wanted in selector.items()
        ):
            yield entry


def _same(value: Any, wanted: Any) -> bool:
    # Canonical values such as ``type`` are not case-exact (RFC 7643 §4.1.2); a remote
    # schema is unknown here, so every string compares as a non-caseExact one.
    if wanted is None:  # eq null: the entry lacks the attribute (RFC 7643 §2.5)
        return is_empty(value)
    return equal(value, wanted, case_exact=False)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _extensions(document: Mapping[str, Any]) -> list[str]:
    return [key for key, value in document.items() if key.startswith("urn:") and value]
