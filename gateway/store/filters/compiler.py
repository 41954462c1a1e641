"""The filter tree compiled to one SQLAlchemy condition, through a whitelist of node types."""

from collections.abc import Callable

import sqlalchemy as sa
from scim2_models.path import (
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from gateway.store.comparison import (
    null_means_present,
)
from gateway.store.filters.context import (
    Condition,
)
from gateway.store.filters.operands import (
    _Operands,
)
from gateway.store.filters.scopes import (
    _Scope,
)


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
