"""SCIM attribute paths read out of a stored User document, for field maps.

A field map names the values it sends by SCIM path (RFC 7644 §3.10, with the value
selection of §3.5.2). scim2-models parses each path and binds it to the User model once,
when the field map is parsed; reading it for a user is then a walk of the JSON document::

    userName, name.givenName                  an attribute, a sub-attribute
    emails.value                              every email's value, as a list
    emails[type eq "work"].value              the value of the first email selected
    urn:...:enterprise:2.0:User:manager.value an extension attribute, by schema URN
    enterprise:manager.value                  the same, short form ("hr:" for the HR one)
    hr:customFields.skip_elevo_sync           a custom field of the HR extension

Attribute names are case-insensitive (RFC 7643 §2.1). Custom field names are not: HR
systems tell fields apart by exact name (seed S2.3), and the store keeps them as declared.
Inside brackets, comparisons follow the rules of gateway.store.comparison, as the
gateway's filters do: strings compare case-insensitively unless the attribute is
caseExact, and ``ne`` matches an element lacking the attribute.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from inspect import isclass
from typing import Any

from pydantic import BaseModel
from scim2_models import Path, SCIMException, ScimFilter
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
    coerce_value,
)

from gateway.scim.models import ENTERPRISE_SCHEMA, HR_SCHEMA, UserResource
from gateway.store.comparison import NEGATED, ORDERING, SUBSTRING, is_empty, null_means_present

__all__ = ["ScimPath", "first_value", "is_empty", "parse_path"]

#: Short prefixes for the two extension URNs, so field maps stay readable.
SHORT_FORMS = {"enterprise:": f"{ENTERPRISE_SCHEMA}:", "hr:": f"{HR_SCHEMA}:"}
_CORE_SCHEMA = str(UserResource.__schema__)
_CUSTOM_FIELDS = "customFields"

Element = Any
Predicate = Callable[[Element], bool]


@dataclass(frozen=True)
class ScimPath:
    """A parsed path: where its attribute lives in the document and which values it reads.

    Attributes:
        text: the path as the field map wrote it.
        keys: document keys down to the attribute, the extension URN first.
        exact_last: the last key is a custom field name, compared exactly.
        multivalued: the attribute holds a list (``emails``, ``phoneNumbers``...).
        element_key: the sub-attribute read in each element of a multi-valued attribute.
        select: the value filter in brackets; the path then reads one value, not a list.
    """

    text: str
    keys: tuple[str, ...]
    exact_last: bool = False
    multivalued: bool = False
    element_key: str | None = None
    select: Predicate | None = None

    def read(self, doc: Mapping[str, Any]) -> Any:
        """The value at this path in ``doc``, or None.

        A multi-valued attribute reads as the list of its (non-empty) values; with a value
        filter, as the first value selected, in document order.
        """
        value = _walk(doc, self.keys, self.exact_last)
        if not self.multivalued:
            return value
        if not isinstance(value, list):
            return None
        values = [item for item in value if self.select is None or self.select(item)]
        if self.element_key is not None:
            values = [_get(item, self.element_key) for item in values]
        values = [item for item in values if not is_empty(item)]
        if self.select is not None:
            return values[0] if values else None
        return values


def first_value(paths: Sequence[ScimPath], doc: Mapping[str, Any]) -> Any:
    """The value of the first path that has one in ``doc``, or None."""
    for path in paths:
        value = path.read(doc)
        if not is_empty(value):
            return value
    return None


def parse_path(text: str) -> ScimPath:
    """Parse and bind a SCIM path of a User.

    Args:
        text: the path, e.g. ``emails[type eq "work"].value`` or ``enterprise:department``.

    Raises:
        ValueError: bad syntax, an attribute the User schema lacks, a filter the attribute
            does not take, or a filter where a path is expected. The message quotes the
            path, never a user's data.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a path is a non-empty string")
    try:
        node = Path[UserResource](_expand(text)).ast
    except (SCIMException, ValueError) as exc:
        raise ValueError(f"{text!r} is not a SCIM path: {_detail(exc)}") from None
    if isinstance(node, AttrPath):
        return _attribute(text, node)
    if isinstance(node, ValuePath):
        return _selection(text, node)
    raise ValueError(f"{text!r} is a filter, not an attribute path")


def _expand(text: str) -> str:
    for short, urn in SHORT_FORMS.items():
        if text[: len(short)].lower() == short:
            return urn + text[len(short) :]
    return text


def _detail(exc: Exception) -> str:
    return str(exc.detail) if isinstance(exc, SCIMException) else str(exc)


def _attribute(text: str, node: AttrPath) -> ScimPath:
    if (custom := _custom_field(text, node)) is not None:
        return custom
    binding = _bind(text, node)
    keys = _keys(binding)
    if not binding.is_multivalued:
        return ScimPath(text, keys)
    if binding.sub_field_name:  # emails.value: the value of each element
        return ScimPath(text, keys[:-1], multivalued=True, element_key=keys[-1])
    return ScimPath(text, keys, multivalued=True)


def _custom_field(text: str, node: AttrPath) -> ScimPath | None:
    """``customFields.<name>`` of the HR extension: declared per tenant, so not in the model."""
    if (node.uri or "").lower() != HR_SCHEMA.lower() or node.attr.lower() != "customfields":
        return None
    if node.sub_attr is None:
        raise ValueError(f"{text!r}: name one custom field, as in customFields.<name>")
    return ScimPath(text, (HR_SCHEMA, _CUSTOM_FIELDS, node.sub_attr), exact_last=True)


def _selection(text: str, node: ValuePath) -> ScimPath:
    outer = node.attr_path
    head = _bind(text, outer)
    element_key = None
    if node.sub_attr is not None:
        element_key = _keys(_bind(text, AttrPath(outer.attr, node.sub_attr, outer.uri)))[-1]
    try:
        # Building the filter checks operators and operands against the attribute types.
        ScimFilter[UserResource](str(ValuePath(outer, node.val_filter)))
        select = _FilterCompiler(text, outer, head).visit(node.val_filter)
    except SCIMException as exc:
        raise ValueError(f"{text!r}: {_detail(exc)}") from None
    return ScimPath(text, _keys(head), multivalued=True, element_key=element_key, select=select)


def _bind(text: str, node: AttrPath) -> AttributeBinding:
    binding = Path[UserResource](str(node)).resolve()
    if binding is None:
        raise ValueError(f"{text!r} names no attribute of the User schema")
    return binding


def _keys(binding: AttributeBinding) -> tuple[str, ...]:
    """The document keys of a bound attribute, spelled as the schema declares them."""
    schema = str(getattr(binding.model, "__schema__", ""))
    names = tuple(binding.urn[len(schema) + 1 :].split("."))
    return names if schema == _CORE_SCHEMA else (schema, *names)


def _get(item: Any, key: str, exact: bool = False) -> Any:
    """``item[key]``, matching the key case-insensitively unless ``exact``."""
    if not isinstance(item, Mapping):
        return None
    if key in item or exact:
        return item.get(key)
    folded = key.casefold()
    return next((v for k, v in item.items() if str(k).casefold() == folded), None)


def _walk(doc: Mapping[str, Any], keys: tuple[str, ...], exact_last: bool) -> Any:
    value: Any = doc
    for index, key in enumerate(keys):
        value = _get(value, key, exact=exact_last and index == len(keys) - 1)
    return value


class _FilterCompiler(FilterVisitor[Predicate]):
    """Compile the filter in brackets into a predicate on one element of the attribute.

    Sub-attributes are bound here, once; the predicate only reads dicts.
    """

    def __init__(self, text: str, outer: AttrPath, head: AttributeBinding) -> None:
        self.text = text
        self.outer = outer  # the multi-valued attribute, as the path spells it
        self.head = head

    def _slot(self, path: AttrPath) -> tuple[Callable[[Element], Any], AttributeBinding]:
        """How to read ``path`` in an element, and its binding (for type and case)."""
        if path.uri or path.sub_attr:
            raise ValueError(f"{self.text!r}: '{path}' is no sub-attribute of the element")
        item_type = self.head.field_type
        if not (isclass(item_type) and issubclass(item_type, BaseModel)):
            if path.attr.lower() != "value":  # a list of plain values: "value" is the value
                raise ValueError(f"{self.text!r}: its elements are plain values, named 'value'")
            return (lambda element: element), self.head
        sub = AttrPath(self.outer.attr, path.attr, self.outer.uri)
        binding = Path[UserResource](str(sub)).resolve()
        if binding is None:
            raise ValueError(f"{self.text!r}: {self.outer} has no sub-attribute '{path.attr}'")
        key = _keys(binding)[-1]
        return (lambda element: _get(element, key)), binding

    def visit_comparison(self, node: Comparison) -> Predicate:
        read, binding = self._slot(node.attr_path)
        if node.value is None:  # eq null is "not pr" (RFC 7643 §2.5)
            present = null_means_present(node.op)
            return lambda element: (not is_empty(read(element))) is present
        expected = _comparable(binding, _operand(binding, node.value, node.op))
        if node.op in NEGATED:
            eq = NEGATED[node.op]
            return lambda element: not _compare(binding, read(element), eq, expected)
        return lambda element: _compare(binding, read(element), node.op, expected)

    def visit_present(self, node: Present) -> Predicate:
        read, _ = self._slot(node.attr_path)
        return lambda element: not is_empty(read(element))

    def visit_not(self, node: Not) -> Predicate:
        inner = self.visit(node.expr)
        return lambda element: not inner(element)

    def visit_logical_expr(self, node: LogicalExpr) -> Predicate:
        terms = [self.visit(term) for term in node.terms]
        join = all if node.op is LogicalOperator.and_ else any
        return lambda element: join(term(element) for term in terms)

    def visit_value_path(self, node: ValuePath) -> Predicate:
        raise ValueError(f"{self.text!r}: value filters cannot nest")


def _operand(binding: AttributeBinding, value: Any, op: CompareOperator) -> Any:
    """The filter's operand as a JSON value of the attribute's type ("true" -> True)."""
    coerced = coerce_value(binding, value, op)
    if isinstance(coerced, Enum):
        return coerced.value
    # The document holds dateTimes and binaries as strings: compare them as written.
    return value if isinstance(coerced, datetime | bytes) else coerced


def _comparable(binding: AttributeBinding, value: Any) -> Any:
    try:
        return binding.comparable(value)
    except ValueError:
        return None


def _compare(binding: AttributeBinding, actual: Any, op: CompareOperator, expected: Any) -> bool:
    """One comparison of an element's value; values of other types never match."""
    actual = _comparable(binding, actual)
    if actual is None or expected is None:
        return False
    if op in SUBSTRING:
        both_strings = isinstance(actual, str) and isinstance(expected, str)
        return both_strings and SUBSTRING[op].test(actual, expected)
    try:
        return bool(ORDERING[op](actual, expected))
    except TypeError:
        return False
