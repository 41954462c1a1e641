"""SCIM filters (RFC 7644 §3.4.2.2) and ``sortBy`` (§3.4.2.3) compiled to SQLAlchemy.

scim2-models parses the expression and binds every attribute to the kind's model; this
module decides where each attribute lives and compiles a whitelist of node types. Where::

    kind.indexed        a column (folded or exact)   userName, externalId, meta.created
    _COMPUTED           an expression on the row     meta.resourceType, meta.version
    _RELATIONS          the membership table         Group members, User groups
    anything else       the JSON document            name.givenName, emails, extensions,
                                                     the HR extension's customFields.<name>

A dict-typed attribute is a free map: ``map.key`` reads the document and is typed by the
operand (``eq 3`` matches the number 3, not the string "3"). Declared custom fields are
ordinary typed sub-attributes.

Semantics chosen where the RFC is silent (``ne``, ``pr``, null, case) are those of
:mod:`gateway.store.comparison`, which the Python evaluators of provisioning read too; they
are also those of ``ScimFilter.match`` of scim2-models, so an in-memory store agrees.
"""

import operator
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import cached_property
from inspect import isclass
from typing import Any, Protocol, get_origin

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from pydantic.networks import EmailStr
from scim2_models import Path, ScimFilter
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
    coerce_value,
)

from gateway.errors import InvalidFilterException, InvalidValueException, SCIMException
from gateway.scim.kinds import Kind, fold
from gateway.scim.visibility import observable, unobservable
from gateway.store.comparison import (
    BOOLEAN_OPERATORS,
    NEGATED,
    ORDERING,
    SUBSTRING,
    null_means_present,
)
from gateway.store.database import fold_sql
from gateway.store.filter_limits import (
    DEFAULT_LIMITS,
    FilterLimits,
    check_filter_limits,
    check_filter_text,
)
from gateway.store.jsonpaths import Elements, JsonRef, json_document
from gateway.store.tables import Membership

__all__ = [
    "CompiledFilter",
    "compile_filter",
    "compile_parsed",
    "compile_sort",
    "filter_shape",
    "parse_filter",
]

Condition = sa.ColumnElement[bool]
MEMBERSHIP: sa.Table = Membership.__table__  # type: ignore[attr-defined]

_COMPARISONS = ORDERING  # the rules shared with the Python evaluators
_LIKE: dict[CompareOperator, str] = {op: rule.pattern for op, rule in SUBSTRING.items()}
# SQLite's LIKE ignores ASCII case, so caseExact substring tests use plain functions there.
# The operand's length is taken in SQL, so that the statement holds for any operand.
_EXACT_SQLITE: dict[CompareOperator, Callable[[Any, Any], Condition]] = {
    CompareOperator.co: lambda left, v: sa.func.instr(left, v) > 0,
    CompareOperator.sw: lambda left, v: sa.func.substr(left, 1, sa.func.length(v)) == v,
    CompareOperator.ew: lambda left, v: sa.func.substr(left, -sa.func.length(v)) == v,
}
_COMPUTED: dict[str, Callable[[Kind], sa.ColumnElement[Any]]] = {
    "meta.resourcetype": lambda kind: sa.literal(kind.name, sa.String()),
    "meta.version": lambda kind: (
        sa.literal('W/"', sa.String())
        + sa.cast(kind.table.c.version, sa.String())
        + sa.literal('"', sa.String())
    ),
}
#: Attributes the document does not hold: meta is rebuilt from columns, passwords dropped.
_NOT_STORED = frozenset({"meta", "password"})


@dataclass(frozen=True)
class _Relation:
    """A multi-valued attribute kept in the membership table rather than in the document."""

    owner: str  # the membership column holding the id of the filtered resource
    columns: dict[str, str]  # sub-attribute (lower case) -> membership column


_RELATIONS: dict[tuple[str, str], _Relation] = {
    ("Group", "members"): _Relation("group_id", {"value": "member_id", "type": "member_type"}),
    ("User", "groups"): _Relation("member_id", {"value": "group_id"}),
}


def compile_filter(kind: Kind, expression: str, dialect: str) -> Condition:
    """Compile a SCIM filter into a condition on ``kind.table``.

    The caller adds the tenant condition; subqueries over the membership table carry their
    own. Every operand is a bound parameter, named uniquely, so conditions combine.

    Args:
        kind: the resource kind filtered.
        expression: the ``filter`` parameter as received.
        dialect: ``engine.dialect.name``, ``"sqlite"`` or ``"postgresql"``.

    Raises:
        InvalidFilterException: bad syntax, an unknown attribute, an operator the attribute
            does not take, or anything this module cannot compile.
    """
    return compile_parsed(kind, parse_filter(expression), dialect, unique=True).condition


def parse_filter(expression: str, limits: FilterLimits = DEFAULT_LIMITS) -> FilterNode:
    """The syntax tree of a filter, not yet bound to any model (see :func:`compile_parsed`).

    Raises:
        InvalidFilterException: bad syntax, or a filter over ``limits`` or holding a string
            an engine cannot compare (gateway.store.filter_limits).
    """
    check_filter_text(expression, limits)
    try:
        node = ScimFilter(expression).ast
    except (SCIMException, ValidationError, ValueError, TypeError) as exc:
        raise _invalid_filter(exc) from exc
    check_filter_limits(node, limits)
    return node


@dataclass(frozen=True)
class CompiledFilter:
    """A filter compiled with its operands as parameters, reusable for its whole shape.

    The n-th comparison of the tree (pre-order) binds as ``operand_<n>``. Building the SQL
    costs about ten times running it, and IdPs send a few shapes with ever new values
    (``userName eq "..."``): a statement compiled from one filter serves every filter of
    the same :func:`filter_shape`, given :meth:`parameters`.
    """

    condition: Condition
    #: Per operand number: what turns that operand into its parameter's value (coercion
    #: to the attribute's type, the operator checks, case folding, LIKE escaping).
    prepare: dict[int, Callable[[Any], Any]]
    #: Parameters already prepared, by operands (see :meth:`parameters`).
    _prepared: dict[tuple[tuple[type, Any], ...], dict[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    #: Bound on the prepared parameters kept: clients choose the operands they send.
    MAX_PREPARED = 1024

    def parameters(self, node: FilterNode) -> dict[str, Any]:
        """The parameter values for a filter of the same shape.

        Preparing operands (coercion, checks, folding) cost as much as running the query;
        the same operands give the same parameters, so they are kept, keyed by each
        operand's type and value (``1`` and ``true`` are equal in Python, not here).
        Operands that raise are not kept: they raise again next time.

        Raises:
            InvalidFilterException: an operand this filter's attribute refuses, exactly as
                compiling that filter would have.
        """
        values = [comparison.value for comparison in _comparisons(node)]
        # The grammar's operands are JSON scalars, so hashable (RFC 7644 §3.4.2.2).
        key = tuple((type(value), value) for value in values)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = {name: prepare(values[n]) for name, n, prepare in self._operands}
            if len(self._prepared) >= self.MAX_PREPARED:
                self._prepared.clear()
            self._prepared[key] = prepared
        return prepared

    @property
    def names(self) -> list[str]:
        """The parameter names :meth:`parameters` gives values for."""
        return [name for name, _n, _prepare in self._operands]

    @cached_property
    def _operands(self) -> list[tuple[str, int, Callable[[Any], Any]]]:
        return [(f"operand_{n}", n, prepare) for n, prepare in self.prepare.items()]


def compile_parsed(
    kind: Kind, node: FilterNode, dialect: str, *, unique: bool = False
) -> CompiledFilter:
    """Bind a parsed filter to the kind's model and compile it.

    Binding runs scim2-models' checks of the whole filter (operators, values, value
    selections); :meth:`CompiledFilter.parameters` repeats the only ones that depend on
    the values, so a filter of the same shape need not be bound again.

    ``unique`` renames the parameters at SQL compile time, for a condition that may meet
    another one in the same statement; a prepared statement wants the names as they are.

    Raises:
        InvalidFilterException: see :func:`compile_filter`.
    """
    try:
        scim_filter = ScimFilter[kind.model](node)  # type: ignore[name-defined]
    except (SCIMException, ValidationError, ValueError, TypeError) as exc:
        raise _invalid_filter(exc) from exc
    operands = _Operands(unique)
    scope = _Document(_Context(kind, scim_filter, dialect))
    condition = _Compiler(scope, operands).visit(node)
    return CompiledFilter(condition, operands.prepare)


def filter_shape(node: FilterNode) -> Hashable:
    """What decides a filter's SQL: its tree with each operand replaced by its type.

    An empty string is told apart: ``co ""`` compiles to a presence test. Two filters of
    the same shape and kind compile to the same statement with other parameter values.
    """
    return _Shape().visit(node)


def compile_sort(kind: Kind, sort_by: str, dialect: str) -> sa.ColumnElement[Any]:
    """The expression to order ``kind.table`` by for ``sortBy`` (RFC 7644 §3.4.2.3).

    Strings that are not caseExact sort case-insensitively. A multi-valued attribute sorts
    by its primary value, else its first one. Missing values are NULL: order with
    ``.asc().nulls_last()`` / ``.desc().nulls_first()`` as the RFC asks.

    Raises:
        InvalidValueException: ``sort_by`` is not an attribute path of the kind, or names
            one that cannot be sorted on (a complex attribute, members).
    """
    try:
        path = Path[kind.model](sort_by).ast  # type: ignore[name-defined]
        if not isinstance(path, AttrPath):
            raise InvalidValueException(detail=f"sortBy {sort_by!r} is not an attribute path")
        resolver = ScimFilter[kind.model](Present(path))  # type: ignore[name-defined]
        return _Document(_Context(kind, resolver, dialect)).target(path, True).sort_key()
    except InvalidValueException:
        raise
    except (SCIMException, ValidationError, ValueError) as exc:
        raise InvalidValueException(detail=f"sortBy {sort_by!r}: {_detail(exc)}") from exc


def _detail(exc: Exception) -> str:
    return exc.detail if isinstance(exc, SCIMException) else str(exc)


def _invalid_filter(exc: Exception) -> InvalidFilterException:
    if isinstance(exc, InvalidFilterException):
        return exc
    return InvalidFilterException(detail=_detail(exc))


def _unsupported(what: str) -> InvalidFilterException:
    return InvalidFilterException(detail=f"{what} cannot be used in a filter")


@dataclass(frozen=True)
class _Context:
    """What every scope of one compilation shares."""

    kind: Kind
    resolver: ScimFilter[Any]
    dialect: str

    def resolve(self, path: AttrPath, comparison: bool) -> AttributeBinding:
        """Bind a path to the kind's model; an unknown attribute raises invalidFilter."""
        resolve = self.resolver.resolve_comparison if comparison else self.resolver.resolve
        binding = resolve(path, strict=True)
        assert binding is not None  # the resolver is always bound to one model
        if not observable(binding):
            raise unobservable(path)
        return binding

    def keys(self, binding: AttributeBinding) -> tuple[str, ...]:
        """The member names of the attribute in the document, extension URN first."""
        schema = str(getattr(binding.model, "__schema__", ""))
        names = tuple(binding.urn[len(schema) + 1 :].split("."))
        core = str(getattr(self.kind.model, "__schema__", ""))
        return names if schema == core else (schema, *names)

    def text_mode(self, binding: AttributeBinding, name: str = "") -> str:
        if name in self.kind.folded:
            return "folded"
        return "exact" if binding.case_exact else "lower"


def _name(keys: tuple[str, ...]) -> str:
    """The lower-cased attribute path, as :attr:`Kind.indexed` spells it."""
    if keys[0].lower().startswith("urn:"):
        return f"{keys[0]}:{'.'.join(keys[1:])}".lower()
    return ".".join(keys).lower()


@dataclass(frozen=True)
class _Slot:
    """Where one compared value lives in SQL."""

    read: Callable[[str], sa.ColumnElement[Any]]  # the value, given its type
    presence: Condition
    binding: AttributeBinding | None  # None: an entry of a free map, typed by its operand
    text: str  # "exact", "lower" or "folded" (the column holds fold(value))
    dialect: str

    def present(self) -> Condition:
        return self.presence

    def compare(self, op: CompareOperator, operand: "_Operand") -> Condition:
        value = operand.prepare(self.preparer(op))
        value_type = self._type(value)
        left = self.read(value_type)
        if value_type == "string" and self.text == "lower":
            left = fold_sql(left, self.dialect)
        if op in _LIKE:
            if not value:  # every string contains "", starts and ends with it
                return self.read(value_type).is_not(None)
            right = operand.bind(value, sa.String())
            if self.text == "exact" and self.dialect == "sqlite":
                return _EXACT_SQLITE[op](left, right)
            return left.like(right, escape="/")
        # Strings bind as text; other values take the type they are compared with, as
        # SQLAlchemy types a plain Python value (a datetime as the column stores one).
        string = value_type == "string"
        right = operand.bind(value, sa.String() if string else _compared(left, op, value))
        if op in NEGATED:
            equal = _COMPARISONS[NEGATED[op]](left, right)
            return sa.not_(sa.func.coalesce(equal, sa.false()))
        return _COMPARISONS[op](left, right)

    def preparer(self, op: CompareOperator) -> Callable[[Any], Any]:
        """What turns an operand into the value it binds as: coerced to the attribute's
        type, checked against the operator, then folded or made a LIKE pattern. It raises
        InvalidFilterException for an operand the attribute refuses."""
        binding, text = self.binding, self.text
        attribute_type = _value_type(binding) if binding is not None else None
        as_is = text == "exact" and self.dialect == "sqlite"  # instr/substr, no pattern

        def prepare(raw: Any) -> Any:
            operand = _plain(coerce_value(binding, raw, op)) if binding is not None else raw
            value_type = attribute_type or _operand_type(operand)
            _check_operator(op, operand, value_type)
            if op in _LIKE:
                if not operand or as_is:
                    return operand
                pattern = _LIKE[op].format(_escape_like(operand))
                return pattern if text == "exact" else fold(pattern)
            if isinstance(operand, datetime):
                return _utc(operand)
            if value_type == "number":
                return _number(operand)
            if value_type == "string" and text != "exact":
                return fold(operand)  # "folded" columns hold fold(value); "lower" folds in SQL
            return operand

        return prepare

    def _type(self, operand: Any) -> str:
        return _value_type(self.binding) if self.binding else _operand_type(operand)

    def sort_key(self) -> sa.ColumnElement[Any]:
        if self.binding is None:
            raise InvalidValueException(detail="entries of a free map have no type to sort by")
        value_type = _value_type(self.binding)
        value = self.read(value_type)
        if value_type == "string" and self.text == "lower":
            return fold_sql(value, self.dialect)
        return value


class _Target(Protocol):
    """Something a comparison, ``pr`` or ``sortBy`` applies to: a slot, or any element's."""

    def compare(self, op: CompareOperator, operand: "_Operand") -> Condition: ...
    def present(self) -> Condition: ...
    def sort_key(self) -> sa.ColumnElement[Any]: ...


class _Scope(Protocol):
    """Where attribute paths are resolved: the resource, or one element inside ``[...]``."""

    def target(self, path: AttrPath, comparison: bool = False) -> _Target: ...
    def collection(self, path: AttrPath) -> "_Collection": ...


class _Collection(Protocol):
    """The values of a multi-valued attribute, as rows of a correlated subquery."""

    def exists(self, where: Callable[[_Scope], Condition]) -> Condition: ...
    def present(self) -> Condition: ...
    def first(self, read: Callable[[_Scope], sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]: ...


@dataclass
class _Operands:
    """The comparisons of one compilation, numbered in the order the compiler meets them."""

    unique: bool
    prepare: dict[int, Callable[[Any], Any]] = field(default_factory=dict)
    count: int = 0

    def take(self, value: Any) -> "_Operand":
        self.count += 1
        return _Operand(value, self.count - 1, self)


@dataclass(frozen=True)
class _Operand:
    """A value compared with an attribute: a filter's operand, or a constant of the SQL."""

    value: Any
    number: int = -1
    operands: _Operands | None = None  # None: a constant, bound as a fixed value

    def prepare(self, prepare: Callable[[Any], Any]) -> Any:
        """Turn the operand into its parameter value, remembering how for its number."""
        if self.operands is not None:
            self.operands.prepare[self.number] = prepare
        return prepare(self.value)

    def bind(self, value: Any, type_: sa.types.TypeEngine[Any]) -> sa.BindParameter[Any]:
        if self.operands is None:
            return sa.literal(value, type_)
        name = f"operand_{self.number}"
        return sa.bindparam(name, value, type_=type_, unique=self.operands.unique)


class _Compiler(FilterVisitor[Condition]):
    """Compile a filter tree within one scope; nodes outside the grammar raise TypeError."""

    def __init__(self, scope: _Scope, operands: _Operands) -> None:
        self.scope = scope
        self.operands = operands

    def visit_comparison(self, node: Comparison) -> Condition:
        operand = self.operands.take(node.value)  # numbered even when null, as _comparisons
        target = self.scope.target(node.attr_path, True)
        if node.value is not None:
            return target.compare(node.op, operand)
        return target.present() if null_means_present(node.op) else sa.not_(target.present())

    def visit_present(self, node: Present) -> Condition:
        return self.scope.target(node.attr_path).present()

    def visit_not(self, node: Not) -> Condition:
        return sa.not_(sa.func.coalesce(self.visit(node.expr), sa.false()))

    def visit_logical_expr(self, node: LogicalExpr) -> Condition:
        join = sa.and_ if node.op is LogicalOperator.and_ else sa.or_
        return _balanced(join, [self.visit(term) for term in node.terms])

    def visit_value_path(self, node: ValuePath) -> Condition:
        values = self.scope.collection(node.attr_path)
        return values.exists(lambda scope: _Compiler(scope, self.operands).visit(node.val_filter))


#: Terms joined flat; longer chains are split in halves (see :func:`_balanced`).
_FLAT_TERMS = 16


def _balanced(join: Callable[..., Condition], terms: list[Condition]) -> Condition:
    """``a OR b OR ...`` as a balanced tree of parenthesised halves.

    SQLite nests a flat chain one level per term and refuses more than 1,000 levels
    ("Expression tree is too large"): a 1,000-clause ``or`` of ``userName eq`` was a 500
    there and fine on PostgreSQL. Halves nest log2(n) levels on both engines. The halves
    are wrapped (``type_coerce``) because SQLAlchemy flattens nested same-operator lists.
    """
    if len(terms) <= _FLAT_TERMS:
        return join(*terms)
    middle = len(terms) // 2
    halves = (_balanced(join, terms[:middle]), _balanced(join, terms[middle:]))
    return join(*(sa.type_coerce(half, sa.Boolean()).self_group() for half in halves))


class _Shape(FilterVisitor[Hashable]):
    """See :func:`filter_shape`."""

    def visit_comparison(self, node: Comparison) -> Hashable:
        return (Comparison, node.attr_path, node.op, type(node.value), node.value == "")

    def visit_present(self, node: Present) -> Hashable:
        return node

    def visit_not(self, node: Not) -> Hashable:
        return (Not, self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> Hashable:
        return (node.op, tuple(self.visit(term) for term in node.terms))

    def visit_value_path(self, node: ValuePath) -> Hashable:
        return (ValuePath, node.attr_path, node.sub_attr, self.visit(node.val_filter))


def _comparisons(node: FilterNode) -> Iterator[Comparison]:
    """The comparisons of a tree in the order :class:`_Compiler` numbers them."""
    if isinstance(node, Comparison):
        yield node
    elif isinstance(node, LogicalExpr):
        for term in node.terms:
            yield from _comparisons(term)
    elif isinstance(node, Not):
        yield from _comparisons(node.expr)
    elif isinstance(node, ValuePath):
        yield from _comparisons(node.val_filter)


@dataclass(frozen=True)
class _Document:
    """The resource row: its columns, its membership rows and its JSON document."""

    ctx: _Context

    @property
    def doc(self) -> JsonRef:
        return json_document(self.ctx.kind.table.c.doc, self.ctx.dialect)

    def target(self, path: AttrPath, comparison: bool = False) -> _Target:
        ctx = self.ctx
        if (entry := _map_entry(ctx, path)) is not None:
            return _json_slot(self.doc.child(*entry), None, "lower", ctx.dialect)
        binding = ctx.resolve(path, comparison)
        keys = ctx.keys(binding)
        name = _name(keys)
        if name in ctx.kind.indexed:
            column = ctx.kind.table.c[ctx.kind.indexed[name]]
            return _column_slot(column, binding, ctx.text_mode(binding, name), ctx.dialect)
        if name in _COMPUTED:
            expression = _COMPUTED[name](ctx.kind)
            return _column_slot(expression, binding, ctx.text_mode(binding), ctx.dialect)
        if keys[0] in _NOT_STORED:
            raise _unsupported(f"'{path}'")
        if binding.is_multivalued:
            return _AnyOf(self.collection(path), _element_path(binding, keys))
        return _json_slot(self.doc.child(*keys), binding, ctx.text_mode(binding), ctx.dialect)

    def collection(self, path: AttrPath) -> _Collection:
        binding = self.ctx.resolve(AttrPath(path.attr, None, path.uri), False)
        keys = self.ctx.keys(binding)
        if (relation := _RELATIONS.get((self.ctx.kind.name, keys[0]))) is not None:
            return _Members(self.ctx, path, relation)
        return _JsonArray(self.ctx, path, self.doc.child(*keys), binding)


def _map_entry(ctx: _Context, path: AttrPath) -> tuple[str, ...] | None:
    """The document keys of ``map.key`` when ``map`` is a free map (a dict attribute).

    scim2-models has no schema to resolve ``key`` in, so the entry is typed by the operand.
    """
    if not path.sub_attr:
        return None
    head = ctx.resolver.resolve(AttrPath(path.attr, None, path.uri), strict=False)
    if head is None or dict not in (head.field_type, get_origin(head.field_type)):
        return None
    if not observable(head):
        raise unobservable(path)
    return (*ctx.keys(head), path.sub_attr)


def _is_complex(field_type: Any) -> bool:
    return isclass(field_type) and issubclass(field_type, BaseModel)


def _element_path(binding: AttributeBinding, keys: tuple[str, ...]) -> AttrPath | None:
    """What a comparison on a multi-valued attribute compares in each element."""
    if binding.sub_field_name:
        return AttrPath(keys[-1])
    return None if _is_complex(binding.field_type) else AttrPath("value")


@dataclass(frozen=True)
class _AnyOf:
    """A multi-valued attribute's sub-attribute: matches when some element matches."""

    values: _Collection
    sub: AttrPath | None  # None: the attribute itself, which only ``pr`` applies to

    def _in(self, scope: _Scope) -> _Target:
        if self.sub is None:
            raise _unsupported("a complex attribute compared as a whole")
        return scope.target(self.sub)

    def compare(self, op: CompareOperator, operand: _Operand) -> Condition:
        if op in NEGATED:  # no element equals (gateway.store.comparison)
            eq = NEGATED[op]
            return sa.not_(self.values.exists(lambda scope: self._in(scope).compare(eq, operand)))
        return self.values.exists(lambda scope: self._in(scope).compare(op, operand))

    def present(self) -> Condition:
        if self.sub is None:
            return self.values.present()
        return self.values.exists(lambda scope: self._in(scope).present())

    def sort_key(self) -> sa.ColumnElement[Any]:
        return self.values.first(lambda scope: self._in(scope).sort_key())


@dataclass(frozen=True)
class _Element:
    """One value of a multi-valued attribute: the scope of the filter in ``emails[...]``."""

    ctx: _Context
    outer: AttrPath
    slot: Callable[[AttributeBinding], _Slot]  # where a sub-attribute of the value lives

    def target(self, path: AttrPath, comparison: bool = False) -> _Target:
        if path.uri or path.sub_attr:
            raise InvalidFilterException(detail=f"'{path}' is no sub-attribute of {self.outer}")
        head = self.ctx.resolve(AttrPath(self.outer.attr, None, self.outer.uri), False)
        if _is_complex(head.field_type):
            sub = AttrPath(self.outer.attr, path.attr, self.outer.uri)
            return self.slot(self.ctx.resolve(sub, False))
        if path.attr.lower() == "value":  # a list of plain values: "value" is the value
            return self.slot(head)
        raise InvalidFilterException(detail=f"'{self.outer}' holds plain values, named 'value'")

    def collection(self, path: AttrPath) -> _Collection:
        raise InvalidFilterException(detail="value filters cannot nest")


@dataclass(frozen=True)
class _JsonArray:
    """An array in the document, walked with json_each / jsonb_array_elements."""

    ctx: _Context
    outer: AttrPath
    array: JsonRef
    binding: AttributeBinding

    def _rows(self) -> tuple[Elements, _Element]:
        rows = self.array.elements()

        def slot(binding: AttributeBinding) -> _Slot:
            ref = (
                rows.item.child(self.ctx.keys(binding)[-1]) if binding.sub_field_name else rows.item
            )
            return _json_slot(ref, binding, self.ctx.text_mode(binding), self.ctx.dialect)

        return rows, _Element(self.ctx, self.outer, slot)

    def exists(self, where: Callable[[_Scope], Condition]) -> Condition:
        rows, element = self._rows()
        query = sa.select(1).select_from(rows.source)
        return sa.exists(query.where(sa.and_(rows.guard, where(element))))

    def present(self) -> Condition:
        return self.array.present()

    def first(self, read: Callable[[_Scope], sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        """The primary value, else the first one (RFC 7644 §3.4.2.3)."""
        rows, element = self._rows()
        order: list[Any] = [rows.position]
        if "primary" in getattr(self.binding.field_type, "model_fields", {}):
            primary = element.target(AttrPath("primary"))
            is_primary = primary.compare(CompareOperator.eq, _Operand(True))
            order.insert(0, sa.case((is_primary, 0), else_=1))
        query = sa.select(read(element)).select_from(rows.source).where(rows.guard)
        return query.order_by(*order).limit(1).scalar_subquery()


@dataclass(frozen=True)
class _Members:
    """Group members or User groups: rows of the membership table, same tenant."""

    ctx: _Context
    outer: AttrPath
    relation: _Relation

    def _slot(self, binding: AttributeBinding) -> _Slot:
        column = self.relation.columns.get(self.ctx.keys(binding)[-1].lower())
        if column is None:
            names = ", ".join(f"{self.outer.attr}.{name}" for name in self.relation.columns)
            raise _unsupported(f"'{binding.urn}' (only {names})")
        text = self.ctx.text_mode(binding)
        return _column_slot(MEMBERSHIP.c[column], binding, text, self.ctx.dialect)

    def exists(self, where: Callable[[_Scope], Condition]) -> Condition:
        table = self.ctx.kind.table
        return sa.exists().where(
            MEMBERSHIP.c[self.relation.owner] == table.c.id,
            MEMBERSHIP.c.tenant_id == table.c.tenant_id,
            where(_Element(self.ctx, self.outer, self._slot)),
        )

    def present(self) -> Condition:
        return self.exists(lambda _scope: sa.true())

    def first(self, read: Callable[[_Scope], sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        raise InvalidValueException(detail=f"cannot sort by '{self.outer}'")


def _json_slot(ref: JsonRef, binding: AttributeBinding | None, text: str, dialect: str) -> _Slot:
    return _Slot(ref.value, ref.present(), binding, text, dialect)  # type: ignore[arg-type]


def _column_slot(
    column: sa.ColumnElement[Any], binding: AttributeBinding, text: str, dialect: str
) -> _Slot:
    present: Condition = column.is_not(None)
    if _value_type(binding) == "string":
        present = sa.and_(present, column != "")
    return _Slot(lambda _type: column, present, binding, text, dialect)


def _value_type(binding: AttributeBinding) -> str:
    """The type a comparison of the attribute uses; complex and binary ones have none."""
    target = binding.target_type
    if not isclass(target) or issubclass(target, bytes | BaseModel | dict):
        raise _unsupported(f"the value of '{binding.urn}'")
    if issubclass(target, bool):
        return "boolean"
    if issubclass(target, int | float):
        return "number"
    if issubclass(target, datetime):
        return "datetime"
    if issubclass(target, str | Enum) or target is EmailStr:
        return "string"
    raise _unsupported(f"the value of '{binding.urn}'")


def _compared(left: Any, op: CompareOperator, value: Any) -> sa.types.TypeEngine[Any]:
    """The type SQLAlchemy gives a plain value compared with ``left``."""
    return left.type.coerce_compared_value(_COMPARISONS.get(op, operator.eq), value)


_OPERAND_TYPES: dict[type, str] = {bool: "boolean", int: "number", float: "number", str: "string"}


def _operand_type(value: Any) -> str:
    name = _OPERAND_TYPES.get(type(value))  # the exact types first: once per operand
    if name is not None:
        return name
    for python_type, name in ((bool, "boolean"), (int | float, "number"), (str, "string")):
        if isinstance(value, python_type):
            return name
    raise InvalidFilterException(detail=f"{value!r} is not a value a filter can compare")


def _check_operator(op: CompareOperator, operand: Any, value_type: str) -> None:
    if op in _LIKE:
        if value_type != "string" or not isinstance(operand, str):
            raise InvalidFilterException(detail=f"'{op.value}' only compares strings")
        return
    if op not in BOOLEAN_OPERATORS and value_type == "boolean":
        raise InvalidFilterException(detail=f"'{op.value}' does not order booleans")
    actual = "datetime" if isinstance(operand, datetime) else _operand_type(operand)
    if actual != value_type:
        raise InvalidFilterException(detail=f"{operand!r} cannot be compared with a {value_type}")


def _number(value: float) -> float:
    """A number operand as the float JSON numbers are read as (gateway.store.jsonpaths).

    SQLite cannot bind an integer beyond 64 bits (``eq 10^30`` was a 500 there); as a
    float it compares on both engines as the stored numbers do.
    """
    try:
        return float(value)
    except OverflowError:
        raise InvalidFilterException(detail=f"{value} is beyond the range of a number") from None


def _plain(value: Any) -> Any:
    """Drop the wrappers coercion adds (enums, str subclasses), which drivers may refuse."""
    if isinstance(value, Enum):
        value = value.value
    return str(value) if isinstance(value, str) else value


def _utc(value: datetime) -> datetime:
    """The instant in UTC, the timezone of the timestamp columns; without offset, read as UTC.

    An instant beyond years 1-9999 in UTC (``9999-12-31T23:59:59-14:00``) becomes the
    nearest one within: no stored value lies beyond it, so every comparison answers the
    same, where neither driver could bind it (a 500 on both engines).
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.max if value.year == datetime.max.year else datetime.min).replace(
            tzinfo=UTC
        )


def _escape_like(value: str) -> str:
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")
