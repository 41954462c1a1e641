"""Which attributes a caller may observe: the one rule every filter, sort and PATCH path obeys.

An attribute that is never returned must not be learnt another way. A filter answers one
bit per request (``ssn sw "1"``), and a sort against a planted value halves the candidates
each time: through ``filter`` and ``sortBy`` a read-only token recovered a whole ssn in
about 65 requests. So an attribute whose schema says ``returned: never`` or
``mutability: writeOnly`` (RFC 7643 §7), or that sits inside such an attribute, cannot be
named in a filter (400 ``invalidFilter``) or a ``sortBy`` (400 ``invalidValue``).

Which schema: the one the caller's ``/Schemas`` publishes (gateway.scim.discovery). A
token with ``scim:sensitive`` reads dateOfBirth and ssn, its schema says so
(gateway.scim.models.SensitiveReaderHRUser), and it filters and sorts on them like on any
attribute; the filter compiler binds paths to that model (gateway.scim.kinds.kinds_for).
"""

from collections.abc import Iterator
from typing import Any

from scim2_models import Mutability, Path, Returned, ScimFilter
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
    Comparison,
    FilterNode,
    LogicalExpr,
    Not,
    Present,
    ValuePath,
)

from gateway.errors import InvalidFilterException, SCIMException

__all__ = ["check_patch_filters", "observable", "unobservable"]


def observable(binding: AttributeBinding) -> bool:
    """Whether the caller whose model ``binding`` was made with may learn its values."""
    return not any(_hidden(model, name) for model, name in _holders(binding))


def unobservable(path: object) -> InvalidFilterException:
    """The error for a filter naming an attribute its caller may not observe."""
    return InvalidFilterException(
        detail=f"'{path}' is never returned to this token (writeOnly in its /Schemas), so"
        " it cannot be used in a filter or sortBy"
    )


def check_patch_filters(model: Any, payload: dict[str, Any]) -> None:
    """Refuse a PATCH whose value filter (``emails[type eq "work"].value``) names an
    attribute the caller may not observe: which values a PATCH touched is observable.

    Only that is checked; everything else about the operations is left to validation.

    Raises:
        InvalidFilterException: see :func:`unobservable`.
    """
    for node in _value_filters(payload):
        outer = node.attr_path
        try:  # a resolver only: the filter's own checks are validation's to make
            resolver = ScimFilter[model](Present(AttrPath(outer.attr, None, outer.uri)))
        except (SCIMException, ValueError, TypeError):
            continue  # no such attribute: validation refuses it with its own words
        for inner in _paths(node.val_filter):
            path = AttrPath(outer.attr, inner.attr, outer.uri)
            binding = resolver.resolve(path, strict=False)
            if binding is not None and not observable(binding):
                raise unobservable(path)


def _hidden(model: Any, name: str) -> bool:
    returned = model.get_field_annotation(name, Returned)
    mutability = model.get_field_annotation(name, Mutability)
    return bool(returned is Returned.never or mutability is Mutability.write_only)


def _holders(binding: AttributeBinding) -> Iterator[tuple[Any, str]]:
    """The attribute named and, for ``a.b``, the attribute holding it."""
    yield binding.model, binding.field_name
    if binding.sub_field_name and binding.target_model is not None:
        yield binding.target_model, binding.sub_field_name


def _value_filters(payload: dict[str, Any]) -> Iterator[ValuePath]:
    operations = next((v for k, v in payload.items() if k.lower() == "operations"), None)
    for operation in operations if isinstance(operations, list) else []:
        if not isinstance(operation, dict):
            continue
        path = next((v for k, v in operation.items() if k.lower() == "path"), None)
        if not isinstance(path, str) or "[" not in path:
            continue
        try:
            node = Path(path).ast
        except (SCIMException, ValueError, TypeError):
            continue
        if isinstance(node, ValuePath):
            yield node


def _paths(node: FilterNode) -> Iterator[AttrPath]:
    if isinstance(node, Comparison | Present):
        yield node.attr_path
    elif isinstance(node, LogicalExpr):
        for term in node.terms:
            yield from _paths(term)
    elif isinstance(node, Not):
        yield from _paths(node.expr)
