"""A filter's shape: what decides its SQL, so one compiled statement serves many operands."""

from collections.abc import Hashable, Iterator

from scim2_models.path import (
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    Not,
    Present,
    ValuePath,
)


def filter_shape(node: FilterNode) -> Hashable:
    """What decides a filter's SQL: its tree with each operand replaced by its type.

    An empty string is told apart: ``co ""`` compiles to a presence test. Two filters of
    the same shape and kind compile to the same statement with other parameter values.
    """
    return _Shape().visit(node)


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
