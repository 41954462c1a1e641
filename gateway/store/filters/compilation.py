"""The entry points: parse a filter, compile it or a ``sortBy`` for a kind."""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from scim2_models import Path, ScimFilter
from scim2_models.path import (
    AttrPath,
    FilterNode,
    Present,
)

from gateway.errors import InvalidValueException, SCIMException
from gateway.scim.kinds import Kind
from gateway.store.filter_limits import (
    DEFAULT_LIMITS,
    FilterLimits,
    check_filter_limits,
    check_filter_text,
)
from gateway.store.filters.compiler import (
    _Compiler,
)
from gateway.store.filters.context import (
    Condition,
    _Context,
)
from gateway.store.filters.document import (
    _Document,
)
from gateway.store.filters.operands import (
    _Operands,
)
from gateway.store.filters.refusals import (
    _detail,
    _invalid_filter,
)
from gateway.store.filters.shape import (
    _comparisons,
)
from gateway.store.filters.syntax import read_filter


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
    # New filter strings are the common case (IdPs look up one new userName after
    # another): the quick reader takes them, the reference parser anything it is unsure of.
    node = read_filter(expression)
    if node is None:
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
