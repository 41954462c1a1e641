"""The quick filter reader gives scim2-models' tree, or leaves the filter to it.

scim2-models is the reference grammar: for every filter of the test corpus, for filters
generated from the shapes IdPs send (with the grammar's freedoms: case, blanks,
escapes, number forms) and for arbitrary text, :func:`read_filter` either gives exactly
the reference tree (operand types included: ``1`` is not ``true`` here) or None, and
``parse_filter`` accepts and refuses exactly what the reference accepts and refuses,
with the same words.
"""

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scim2_models import ScimFilter
from scim2_models.path import Comparison, FilterNode, LogicalExpr, Not, Present, ValuePath

from gateway.errors import InvalidFilterException
from gateway.store.filter_limits import DEFAULT_LIMITS, check_filter_limits, check_filter_text
from gateway.store.filters import parse_filter
from gateway.store.filters.refusals import _invalid_filter
from gateway.store.filters.syntax import read_filter

HERE = Path(__file__).parent
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def strict(node: Any) -> Any:
    """A node as nested tuples in which operands keep their type (1 == True in Python)."""
    if isinstance(node, Comparison):
        return ("cmp", str(node.attr_path), node.attr_path, node.op, type(node.value), node.value)
    if isinstance(node, Present):
        return ("pr", node.attr_path)
    if isinstance(node, Not):
        return ("not", strict(node.expr))
    if isinstance(node, LogicalExpr):
        return (node.op, tuple(strict(term) for term in node.terms))
    if isinstance(node, ValuePath):
        return ("vp", node.attr_path, node.sub_attr, strict(node.val_filter))
    raise AssertionError(node)


def reference(expression: str) -> Any:
    """The reference tree (strict), or the refusal's detail."""
    try:
        return strict(ScimFilter(expression).ast)
    except Exception as exc:  # noqa: BLE001 - the reference's own refusal, whatever it is
        return ("refused", _invalid_filter(exc).detail)


def gateway_reference(expression: str) -> Any:
    """What ``parse_filter`` gave before the reader: the gateway's limits around the
    reference parser."""
    try:
        check_filter_text(expression, DEFAULT_LIMITS)
        try:
            node = ScimFilter(expression).ast
        except Exception as exc:  # noqa: BLE001 - as parse_filter catches them
            raise _invalid_filter(exc) from exc
        check_filter_limits(node, DEFAULT_LIMITS)
        return strict(node)
    except InvalidFilterException as exc:
        return ("refused", exc.detail)


def assert_agrees(expression: str) -> FilterNode | None:
    node = read_filter(expression)
    if node is not None:
        assert strict(node) == reference(expression), expression
    gateway: Any
    try:
        gateway = strict(parse_filter(expression))
    except InvalidFilterException as exc:
        gateway = ("refused", exc.detail)
    assert gateway == gateway_reference(expression), expression
    return node


def corpus() -> list[str]:
    """Every string literal of the filter tests: the corpus of filters they hold."""
    strings: set[str] = set()
    for name in ("test_filters.py", "test_filter_limits.py"):
        tree = ast.parse((HERE / name).read_text())
        strings |= {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and len(n.value) < 500
        }
    parity = HERE.parent / "scim" / "test_filter_parity.py"
    tree = ast.parse(parity.read_text())
    strings |= {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    return sorted(strings)


def test_the_corpus_reads_as_the_reference_reads_it() -> None:
    read = [expression for expression in corpus() if assert_agrees(expression) is not None]
    assert len(read) > 50  # the corpus is mostly valid filters, and the reader takes them


@pytest.mark.parametrize(
    "expression",
    [
        'userName eq "bjensen@example.com"',
        'externalId eq "00u1"',
        'emails[type eq "work"].value eq "a@example.com"',
        'emails[type eq "work" and primary eq true]',
        'userName eq "a" and active eq true',
        f'{ENTERPRISE}:employeeNumber eq "E1"',
        f'{ENTERPRISE}:manager.value eq "x"',
        'meta.lastModified gt "2024-01-01T00:00:00Z"',
        'displayName co "\\"quoted\\" \\u00e9"',
        "not (title pr) or age ge -1.5E+2",
        "(a eq 1 or b eq 2) or c eq 3",
        "a eq 1and b eq TRUE",
        'userName Eq "X"',
    ],
)
def test_identity_provider_filters_are_read_quickly(expression: str) -> None:
    assert assert_agrees(expression) is not None


@pytest.mark.parametrize(
    "expression",
    [
        "and eq 1",  # an attribute named like a keyword
        'userNameeq "x"',  # one attribute to the lexer, not userName eq
        'a.b.c eq "x"',
        'userName eq "a',
        "userName eq 01",
        "emails[value[type eq 1]]",
        "emails.value[type eq 1]",
        'emails[type eq "work"].value',
        "a eq 1e999",
        "userName eq",
        "",
        "a eq 1 b eq 2",
        "not(" * 20 + "a pr" + ")" * 20,
    ],
)
def test_what_the_reader_is_unsure_of_goes_to_the_reference(expression: str) -> None:
    assert read_filter(expression) is None
    assert_agrees(expression)


# -- generated: the shapes of the corpus, with the grammar's freedoms ------------------

NAMES = st.sampled_from(
    [
        "userName", "externalId", "title", "active", "emails", "emails.value", "name.givenName",
        "meta.lastModified", "notes", "prize", "orange", "andy", "eqx", "$ref", "x-y_z",
        f"{ENTERPRISE}:employeeNumber", f"{ENTERPRISE}:manager.value", "urn:a:b:c.d",
        "and", "or", "not", "pr", "true", "null", "EQ",
    ]
)  # fmt: skip
BLANK = st.sampled_from([" ", "  ", "\t", "\n ", ""])
SPACE = st.sampled_from([" ", "  ", "\t", "\n "])


def cased(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.capitalize()])


STRINGS = st.one_of(
    st.text(max_size=12).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.text(max_size=8).map(json.dumps),
    st.sampled_from(['"a\\/b"', '"\\ud800"', '"\\u0000"', '"x\\"y"', '"tab\there"']),
)
NUMBERS = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "-0", "1.5e3", "1E-2", "01", "1.", ".5", "1e999", "-"]),
)
VALUES = st.one_of(
    STRINGS, NUMBERS, st.sampled_from(["true", "false", "null", "TRUE", "False", "nULL"])
)
OPS = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]).flatmap(cased)


@st.composite
def attribute_expressions(draw: st.DrawFn, name: st.SearchStrategy[str] = NAMES) -> str:
    attribute = draw(name)
    if draw(st.integers(0, 5)) == 0:
        return f"{attribute}{draw(SPACE)}{draw(cased('pr'))}"
    return f"{attribute}{draw(BLANK)}{draw(OPS)}{draw(BLANK)}{draw(VALUES)}"


def combined(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def join(pair: tuple[list[str], str]) -> str:
        terms, word = pair
        return f" {word} ".join(terms)

    chains = st.tuples(
        st.lists(inner, min_size=2, max_size=4), st.sampled_from(["and", "or", "AND", "Or"])
    ).map(join)
    grouped = inner.map(lambda t: f"({t})")
    negated = st.tuples(cased("not"), BLANK, inner).map(lambda p: f"{p[0]}{p[1]}({p[2]})")
    return st.one_of(chains, grouped, negated)


VALUE_FILTERS = st.recursive(attribute_expressions(), combined, max_leaves=5)


@st.composite
def value_paths(draw: st.DrawFn) -> str:
    attribute = draw(st.sampled_from(["emails", "members", "addresses", "emails.value"]))
    inner = draw(VALUE_FILTERS)
    path = f"{attribute}[{inner}]"
    if draw(st.booleans()):
        return path
    sub = draw(st.sampled_from(["value", "type", "and", "pr"]))
    return f"{path}{draw(BLANK)}.{draw(BLANK)}{draw(attribute_expressions(st.just(sub)))}"


FILTERS = st.recursive(st.one_of(attribute_expressions(), value_paths()), combined, max_leaves=8)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILTERS)
@example('userName eq "bjensen"')
def test_generated_filters_read_as_the_reference_reads_them(expression: str) -> None:
    assert_agrees(expression)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet='aeqnrotpu.:[]()" \\01-$ETu', max_size=40))
def test_arbitrary_text_reads_as_the_reference_reads_it(expression: str) -> None:
    assert_agrees(expression)
