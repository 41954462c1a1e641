"""What a filter may hold before any SQL is built: its size, its nesting, its strings.

Every clause of a filter costs a comparison or a correlated subquery per row, and the
filter arrives from the network: its clauses and nesting are bounded
(``server.max_filter_clauses``, ``server.max_filter_depth``). The default admits an IdP's
1,000-clause chain of ``userName eq`` lookups (a client resolving a batch of accounts in
one request), which compiles to a balanced tree (gateway.store.filters).

Operands are checked here for what one engine stores and the other refuses: PostgreSQL
text cannot hold NUL (a filter ``userName eq "a\\u0000"`` was a 500 there and an empty
list on SQLite), and neither driver sends an unpaired surrogate. Both engines must accept
and refuse the same input, so such a filter is refused first, with ``invalidFilter``.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from scim2_models.path import Comparison, FilterNode, LogicalExpr, Not, Present, ValuePath

from gateway.errors import InvalidFilterException

__all__ = ["DEFAULT_LIMITS", "FilterLimits", "check_filter_limits", "check_filter_text"]


@dataclass(frozen=True)
class FilterLimits:
    """The bounds of one server (gateway.config.file.ServerConfig names them)."""

    #: Comparisons and ``pr`` tests in one filter.
    max_clauses: int = 1000
    #: Operators nested in one another: ``and``/``or`` groups, ``not``, value filters.
    max_depth: int = 10


#: The limits of a filter not sent by a SCIM client (a connection's scope, for instance).
DEFAULT_LIMITS = FilterLimits()


#: A quoted string of the filter grammar (RFC 7644 §3.4.2.2: JSON string rules).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
#: The attribute operators; each one is one clause of the parsed filter.
_OPERATOR = re.compile(r"(?<![\w.:$-])(?:eq|ne|co|sw|ew|gt|ge|lt|le|pr)(?![\w.:$-])", re.I)


def check_filter_text(expression: str, limits: FilterLimits) -> None:
    """Refuse a filter with too many clauses before parsing it.

    Parsing costs about 60 µs a clause (scim2-models' grammar): a 1 MB ``.search`` filter
    took 2 s, on the event loop, only to be refused after. Counting the operators outside
    quoted strings is two regular-expression passes, linear and in C; it can only
    over-count where an attribute is named like an operator, which no schema does.

    Raises:
        InvalidFilterException: naming ``server.max_filter_clauses``.
    """
    clauses = len(_OPERATOR.findall(_STRING.sub('""', expression)))
    if clauses > limits.max_clauses:
        raise InvalidFilterException(
            detail=f"the filter has {clauses} clauses; this server accepts at most"
            f" {limits.max_clauses} (server.max_filter_clauses)"
        )


def check_filter_limits(node: FilterNode, limits: FilterLimits) -> None:
    """Refuse a filter over the limits, or holding a string no engine can compare.

    Raises:
        InvalidFilterException: naming the limit exceeded, or the operand refused.
    """
    clauses = sum(1 for _ in _clauses(node))
    if clauses > limits.max_clauses:
        raise InvalidFilterException(
            detail=f"the filter has {clauses} clauses; this server accepts at most"
            f" {limits.max_clauses} (server.max_filter_clauses)"
        )
    depth = _depth(node)
    if depth > limits.max_depth:
        raise InvalidFilterException(
            detail=f"the filter nests {depth} levels of operators; this server accepts at"
            f" most {limits.max_depth} (server.max_filter_depth)"
        )
    for clause in _clauses(node):
        if isinstance(clause, Comparison) and isinstance(clause.value, str):
            _check_string(clause)


def _clauses(node: FilterNode) -> Iterator[Comparison | Present]:
    if isinstance(node, Comparison | Present):
        yield node
    elif isinstance(node, LogicalExpr):
        for term in node.terms:
            yield from _clauses(term)
    elif isinstance(node, Not):
        yield from _clauses(node.expr)
    elif isinstance(node, ValuePath):
        yield from _clauses(node.val_filter)


def _depth(node: FilterNode) -> int:
    """Operators on the deepest path; the parser already joins ``a or b or c`` as one."""
    if isinstance(node, LogicalExpr):
        return 1 + max(_depth(term) for term in node.terms)
    if isinstance(node, Not):
        return 1 + _depth(node.expr)
    if isinstance(node, ValuePath):
        return 1 + _depth(node.val_filter)
    return 0


def _check_string(clause: Comparison) -> None:
    value = str(clause.value)
    if "\x00" in value:
        raise InvalidFilterException(
            detail=f"the value compared with '{clause.attr_path}' contains a NUL character"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFilterException(
            detail=f"the value compared with '{clause.attr_path}' is not valid Unicode"
            " (an unpaired surrogate)"
        ) from None
