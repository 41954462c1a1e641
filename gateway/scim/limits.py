"""Request bounds: what one SCIM request may hold, checked before anything else reads it.

Two reasons, both from probing the gateway from outside (issue 9):

- Availability. scim2-models' projection matches every value against every requested
  name (a user with 20,000 emails and 1,000 names in ``attributes`` took 48 s), and
  validation costs about 0.2 ms per email address. Bounding the values per attribute and
  the names per projection bounds that work; nothing a client sends is unbounded.
- Engine parity. PostgreSQL refuses a NUL character in text and strings wider than an
  indexed column; SQLite stores both. Refusing them here, with a SCIM error, means both
  engines only ever see input they both accept.

One linear pass over the decoded JSON (:func:`check_resource`, :func:`check_patch`,
:func:`check_bulk_operation`) enforces them for POST, PUT, PATCH and Bulk alike, before
scim2-models validates anything. Every refusal is 400 ``invalidValue`` naming the
attribute and the limit.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gateway.config import ServerConfig
from gateway.errors import InvalidValueException
from gateway.scim.models import CustomFieldSpec
from gateway.store.folding import fold
from gateway.store.tables import GroupRow, Membership, UserRow

#: Attributes stored in an indexed column too, as (attribute path in lower case, without
#: its schema URN; table; column). PostgreSQL refuses a value wider than its column, so
#: the column's width is the attribute's limit, measured after case folding (the column
#: holds the folded value, and folding may lengthen a string: "İ" becomes two characters).
COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("username", UserRow, "user_name_key"),
    ("externalid", UserRow, "external_id"),
    ("externalid", GroupRow, "external_id"),
    ("displayname", UserRow, "display_name_key"),
    ("displayname", GroupRow, "display_name_key"),
    ("emails.value", UserRow, "email_key"),
    ("employeenumber", UserRow, "employee_number"),
    ("members.display", Membership, "display"),
)

#: Multi-valued attributes bounded only by the body size (``max_request_size``): a
#: group's membership is legitimately large and costs one row per member, and a PATCH
#: request's operations are each a small change.
UNBOUNDED_LISTS = frozenset({"members", "operations"})

#: Deepest nesting of a body: a SCIM resource needs four levels (extension, complex
#: attribute, list, sub-attribute), a Bulk operation two more. Deeper input is refused
#: here rather than exhausting Python's recursion limit in a validator.
MAX_NESTING = 12

INT64 = (-(2**63), 2**63 - 1)

#: Above this many JSON nodes, a body's write runs in a worker thread even on SQLite
#: (whose calls otherwise run on the event loop, gateway.store.calls): validating a
#: resource costs about 10 µs per node, so this keeps each inline write under ~5 ms.
INLINE_NODES = 500

#: The last segment of a schema URN used as a key (``...:2.0:User``): its attributes
#: are top-level attributes, not children of a "user" attribute.
RESOURCE_SCHEMA_NAMES = frozenset({"user", "group"})

_FILTER = re.compile(r"\[[^\]]*\]")


def _width(table: Any, column: str) -> int:
    return int(table.__table__.c[column].type.length)


def _column_widths() -> dict[str, int]:
    widths: dict[str, int] = {}
    for name, table, column in COLUMNS:
        widths[name] = min(widths.get(name, _width(table, column)), _width(table, column))
    return widths


@dataclass(frozen=True)
class Limits:
    """The bounds one request is held to (``server:`` in the configuration)."""

    max_values: int = 100
    max_string_length: int = 4096
    max_attribute_names: int = 50
    bulk_max_depth: int = 100
    #: Attribute path -> longest value, for attributes kept in an indexed column.
    widths: Mapping[str, int] = field(default_factory=_column_widths)

    @staticmethod
    @cache
    def of(server: ServerConfig) -> "Limits":
        return Limits(
            max_values=server.max_values,
            max_string_length=server.max_string_length,
            max_attribute_names=server.max_attribute_names,
            bulk_max_depth=server.bulk_max_depth,
        )


#: The bounds of a default configuration.
DEFAULTS = Limits()


@cache
def integer_paths(custom_fields: CustomFieldSpec) -> frozenset[str]:
    """The paths of a tenant's integer custom fields, whose strings scim2-models reads as
    integers (``"42"``): those strings are bounded like JSON integers."""
    return frozenset(
        f"customfields.{name.lower()}" for name, kind in custom_fields if kind == "integer"
    )


def refuse(detail: str) -> InvalidValueException:
    return InvalidValueException(detail=detail)


class Walk:
    """One pass over a JSON value, refusing what is over a limit.

    Each node is visited once with its attribute path (``emails.value``); the path's
    lower-case form, without schema URNs, is what the limit tables are keyed by.
    ``nodes`` counts what was visited: the handlers use it to tell a heavy request.
    """

    def __init__(self, limits: Limits, integers: frozenset[str] = frozenset()) -> None:
        self.limits, self.integers = limits, integers
        self.nodes = 0

    def value(self, value: Any, path: str, depth: int = 0) -> None:
        self.nodes += 1
        if depth > MAX_NESTING:
            raise refuse(f"{path or 'the body'}: nested deeper than {MAX_NESTING} levels")
        if isinstance(value, str):
            self._string(value, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._name(key, path)
                self.value(item, child(path, key), depth + 1)
        elif isinstance(value, list):
            self._list(value, path, depth)
        elif isinstance(value, int) and not isinstance(value, bool):
            _integer(value, path)

    def _list(self, items: list[Any], path: str, depth: int) -> None:
        name = path.lower()
        if len(items) > self.limits.max_values and name not in UNBOUNDED_LISTS:
            raise refuse(
                f"{path}: {len(items)} values, over the limit of {self.limits.max_values}"
                " per multi-valued attribute (server.max_values)"
            )
        for item in items:
            self.value(item, path, depth + 1)

    def _name(self, key: str, path: str) -> None:
        if "\x00" in key or len(key) > self.limits.max_string_length:
            where = f"{path}: " if path else ""
            raise refuse(f"{where}an attribute name holds a NUL character or is too long")

    def _string(self, text: str, path: str) -> None:
        if "\x00" in text:
            raise refuse(f"{path}: contains a NUL character (U+0000), which is not allowed")
        name = path.lower()
        width = self.limits.widths.get(name)
        longest = width or self.limits.max_string_length
        length = len(text) if width is None or len(text) > width else len(fold(text) or "")
        if length > longest:
            setting = "an indexed column's width" if width else "server.max_string_length"
            raise refuse(f"{path}: {length} characters, over the limit of {longest} ({setting})")
        if name in self.integers:
            _integer_text(text, path)


def child(path: str, key: str) -> str:
    """The path of ``key`` inside the attribute at ``path``.

    A schema URN key (``urn:...:2.0:User``) holds top-level attributes; a URN-qualified
    attribute (``urn:...:2.0:User:employeeNumber``) is its last segment.
    """
    if key[:4].lower() == "urn:":
        attribute = key.rpartition(":")[2]
        return "" if attribute.lower() in RESOURCE_SCHEMA_NAMES else attribute
    return f"{path}.{key}" if path else key


def patch_path(path: Any) -> str:
    """The attribute a PATCH operation's ``path`` names, without filters or schema URN:
    ``emails[type eq "work"].value`` is ``emails.value``."""
    if not isinstance(path, str):
        return ""
    return child("", _FILTER.sub("", path))


def _integer(value: int, path: str) -> None:
    if not INT64[0] <= value <= INT64[1]:
        raise refuse(f"{path}: {value} is outside the 64-bit integer range")


def _integer_text(text: str, path: str) -> None:
    try:
        number = int(text.strip())
    except ValueError:
        return  # not an integer at all: scim2-models refuses it with its own message
    _integer(number, path)


# -- the bodies ------------------------------------------------------------------------


def check_resource(payload: Any, limits: Limits, integers: frozenset[str] = frozenset()) -> int:
    """Refuse a POST or PUT body over a limit; return the number of nodes it holds."""
    walk = Walk(limits, integers)
    walk.value(payload, "")
    return walk.nodes


def check_patch(payload: Any, limits: Limits, integers: frozenset[str] = frozenset()) -> int:
    """Refuse a PatchOp body over a limit; each operation's ``value`` is checked as the
    attribute its ``path`` names. Returns the number of nodes."""
    walk = Walk(limits, integers)
    if not isinstance(payload, dict):
        walk.value(payload, "")
        return walk.nodes
    for key, item in payload.items():
        if key.lower() == "operations" and isinstance(item, list):
            for operation in item:
                _operation(walk, operation)
        else:
            walk.value({key: item}, "")
    return walk.nodes


def _operation(walk: Walk, operation: Any) -> None:
    if not isinstance(operation, dict):
        walk.value(operation, "Operations", 1)
        return
    path = next((v for k, v in operation.items() if k.lower() == "path"), None)
    for key, item in operation.items():
        if key.lower() == "value":
            walk.value(item, patch_path(path), 2)
        else:
            walk.value({key: item}, "Operations", 1)


def check_bulk_operation(
    operation: Any, limits: Limits, integers: frozenset[str] = frozenset()
) -> None:
    """Refuse a Bulk operation over a limit: its envelope (``path``, ``bulkId``...) as
    strings, its ``data`` as the POST, PUT or PATCH body it stands for."""
    walk = Walk(limits, integers)
    if not isinstance(operation, dict):
        walk.value(operation, "Operations")
        return
    patch = any(k.lower() == "method" and str(v).upper() == "PATCH" for k, v in operation.items())
    for key, item in operation.items():
        if key.lower() != "data":
            walk.value({key: item}, "")
        elif patch:
            check_patch(item, limits, integers)
        else:
            check_resource(item, limits, integers)


def check_projection(
    attributes: tuple[str, ...], excluded: tuple[str, ...], limits: Limits
) -> None:
    """Refuse ``attributes``/``excludedAttributes`` lists longer than the limit: the
    projection's cost grows with values times names."""
    check_attribute_names(attributes, "attributes", limits)
    check_attribute_names(excluded, "excludedAttributes", limits)


def check_attribute_names(names: tuple[str, ...], parameter: str, limits: Limits) -> None:
    """Refuse an ``attributes``/``excludedAttributes`` list longer than the limit."""
    if len(names) > limits.max_attribute_names:
        raise refuse(
            f"{parameter}: {len(names)} names, over the limit of"
            f" {limits.max_attribute_names} (server.max_attribute_names)"
        )
    for name in names:
        if "\x00" in name:
            raise refuse(f"{parameter}: contains a NUL character (U+0000), which is not allowed")
