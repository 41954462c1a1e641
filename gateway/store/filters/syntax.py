"""A quick reader of the filter grammar: the same tree as scim2-models, without lark.

Identity providers send a filter string they have never sent before on almost every
lookup (``userName eq "<a new name>"``): scim2-models' parse cache never hits, and its
LALR parser (lark) took half of such a request. :func:`read_filter` reads the filter
grammar (RFC 7644 §3.4.2.2, as scim2-models states it) by recursive descent, with the
grammar's own terminal patterns taken from scim2-models' parser, and builds the nodes
scim2-models builds. It only answers what it is sure of: anything it does not read
exactly (a syntax error, an attribute named like a keyword, deep nesting) gives None, and
the caller parses with scim2-models, which then accepts or refuses it with its own words.
tests/gateway/store/test_filter_syntax.py checks that both give the same tree.
"""

import json
import re
from math import isfinite
from typing import Any

from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from scim2_models.path.grammar import _PARSER as _REFERENCE


def _terminal(name: str) -> re.Pattern[str]:
    """One terminal of the reference grammar, as lark matches it."""
    return re.compile(_REFERENCE.get_terminal(name).pattern.to_regexp())


_ATTR_PATH = _terminal("ATTR_PATH")
_SUB_ATTR = _terminal("SUB_ATTR")
_COMPARE_OP = _terminal("COMPARE_OP")
_PR = _terminal("PR")
_STRING = _terminal("STRING")
_NUMBER = _terminal("NUMBER")
_AND = _terminal("_AND")
_OR = _terminal("_OR")
_NOT = _terminal("_NOT")
_LITERALS = {
    "true": (_terminal("TRUE"), True),
    "false": (_terminal("FALSE"), False),
    "null": (_terminal("NULL"), None),
}
_SPACE = re.compile(r"[ \t\f\r\n]*")

#: Words the grammar gives a meaning to: an attribute so named lexes by parser state.
_KEYWORDS = frozenset(
    {"and", "or", "not", "pr", "true", "false", "null", *(op.value for op in CompareOperator)}
)
#: The commonest filter, one attribute compared with a string without escapes, in one
#: match: the same terminals, blanks where the grammar ignores them.
_SIMPLE = re.compile(
    rf"[ \t\f\r\n]*({_ATTR_PATH.pattern})[ \t\f\r\n]*({_COMPARE_OP.pattern})"
    r'[ \t\f\r\n]*"([^"\\\x00-\x1f]*)"[ \t\f\r\n]*'
)

#: Deeper filters go to the reference parser (which bounds nesting at 32).
_MAX_DEPTH = 8


class _Unsure(Exception):
    """The reader does not read this filter exactly as the reference parser would."""


def read_filter(expression: str) -> FilterNode | None:
    """The tree of ``expression``, equal to ``ScimFilter(expression).ast``; None when the
    reference parser must decide (an invalid filter included)."""
    simple = _SIMPLE.fullmatch(expression)
    if simple is not None:
        raw, op, value = simple.groups()
        # The attribute must be the whole token the lexer reads there (the match above
        # may have backtracked into it: "userNameeq" is one attribute to the lexer).
        token = _ATTR_PATH.match(expression, simple.start(1))
        if raw.lower() not in _KEYWORDS and token and token.end() == simple.end(1):
            return Comparison(
                attr_path=_attr_path(raw), op=CompareOperator(op.lower()), value=value
            )
    try:
        reader = _Reader(expression)
        node = reader.filter(0, values=False)
        reader.end()
        return node
    except (_Unsure, ValueError, RecursionError):
        return None


class _Reader:
    """Recursive descent over the filter grammar; see :func:`read_filter`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def skip(self) -> None:
        self.at = _SPACE.match(self.text, self.at).end()  # type: ignore[union-attr]

    def take(self, pattern: re.Pattern[str]) -> str | None:
        """The next token if ``pattern`` matches it (after blanks), consumed."""
        self.skip()
        match = pattern.match(self.text, self.at)
        if match is None or match.end() == self.at:
            return None
        self.at = match.end()
        return match.group()

    def char(self, char: str) -> bool:
        self.skip()
        if self.text.startswith(char, self.at):
            self.at += 1
            return True
        return False

    def expect(self, char: str) -> None:
        if not self.char(char):
            raise _Unsure

    def end(self) -> None:
        self.skip()
        if self.at != len(self.text):
            raise _Unsure

    # -- the grammar: or > and > not > primary; inside brackets, no value path ---------

    def filter(self, depth: int, values: bool) -> FilterNode:
        if depth > _MAX_DEPTH:
            raise _Unsure
        return self.chain(_OR, LogicalOperator.or_, depth, values)

    def chain(
        self, keyword: re.Pattern[str], op: LogicalOperator, depth: int, values: bool
    ) -> FilterNode:
        # The grammar joins a chain of one operator in one node: a or b or c.
        term = self.term if op is LogicalOperator.and_ else self.conjunction
        terms = [term(depth, values)]
        while self.take(keyword) is not None:
            terms.append(term(depth, values))
        return terms[0] if len(terms) == 1 else LogicalExpr(op=op, terms=tuple(terms))

    def conjunction(self, depth: int, values: bool) -> FilterNode:
        return self.chain(_AND, LogicalOperator.and_, depth, values)

    def term(self, depth: int, values: bool) -> FilterNode:
        if self.take(_NOT) is not None:
            self.expect("(")
            node: FilterNode = Not(expr=self.filter(depth + 1, values))
            self.expect(")")
            return node
        if self.char("("):  # parentheses leave no node (but count, to bound recursion)
            node = self.filter(depth + 1, values)
            self.expect(")")
            return node
        raw = self.take(_ATTR_PATH)
        if raw is None or raw.lower() in _KEYWORDS:
            raise _Unsure
        if self.char("["):
            if values:  # a value selection inside one: the reference refuses it
                raise _Unsure
            return self.value_path(raw, depth)
        return self.attribute(_attr_path(raw))

    def attribute(self, path: AttrPath) -> FilterNode:
        if self.take(_PR) is not None:
            return Present(attr_path=path)
        op = self.take(_COMPARE_OP)
        if op is None:
            raise _Unsure
        return Comparison(attr_path=path, op=CompareOperator(op.lower()), value=self.value())

    def value_path(self, raw: str, depth: int) -> FilterNode:
        path = _attr_path(raw)
        if path.sub_attr is not None:
            raise _Unsure
        inner = self.filter(depth + 1, values=True)
        self.expect("]")
        self.skip()
        if not self.text.startswith(".", self.at):
            return ValuePath(attr_path=path, val_filter=inner)
        # emails[type eq "work"].value eq "x" (Microsoft Entra) reads as
        # emails[type eq "work" and value eq "x"], as the reference builds it.
        self.at += 1
        sub = self.take(_SUB_ATTR)
        if sub is None:
            raise _Unsure
        last = self.attribute(AttrPath(attr=sub))
        terms = (
            inner.terms
            if isinstance(inner, LogicalExpr) and inner.op == LogicalOperator.and_
            else (inner,)
        )
        return ValuePath(
            attr_path=path, val_filter=LogicalExpr(op=LogicalOperator.and_, terms=(*terms, last))
        )

    def value(self) -> Any:
        self.skip()
        text = self.text[self.at : self.at + 1]
        if text == '"':
            raw = self.take(_STRING)
            if raw is None:
                raise _Unsure
            return raw[1:-1] if "\\" not in raw else json.loads(raw)
        if text in _LITERAL_STARTS:
            pattern, value = _LITERALS[_LITERAL_STARTS[text]]
            if self.take(pattern) is None:
                raise _Unsure
            return value
        raw = self.take(_NUMBER)
        if raw is None:
            raise _Unsure
        return _number(raw)


_LITERAL_STARTS = {first: word for word in _LITERALS for first in (word[0], word[0].upper())}


def _attr_path(raw: str) -> AttrPath:
    """An ``attrPath`` token split as the reference splits it: the URN up to the last
    colon, then the attribute and its sub-attribute."""
    uri: str | None = None
    rest = raw
    if raw[:4].lower() == "urn:":
        uri, _, rest = raw.rpartition(":")
    attr, _, sub_attr = rest.partition(".")
    return AttrPath(attr=attr, sub_attr=sub_attr or None, uri=uri)


def _number(raw: str) -> int | float:
    if not {".", "e", "E"} & set(raw):
        return int(raw)
    value = float(raw)
    if not isfinite(value):
        raise _Unsure  # the reference refuses it, in its words
    return value
