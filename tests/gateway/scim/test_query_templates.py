"""A lookup with a new string reuses the parse of an earlier one (gateway.scim.query_templates),
and gets exactly what the full parse gives: the same query, or the same refusal."""

from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_models import SCIMException as ScimError
from scim2_models.path import Comparison

from gateway.config import ServerConfig
from gateway.scim.listing import ListQueries, parse_list_query
from gateway.scim.query_templates import split_query

SERVER = ServerConfig()

#: Query strings as IdPs send them, ``{}`` where the (encoded) string goes.
SHAPES = [
    "filter=userName+eq+%22{}%22",  # Entra
    "filter=userName%20eq%20%22{}%22&startIndex=1&count=100",  # Okta
    'filter=userName eq "{}"',
    "filter=externalId%20eq%20%22{}%22&attributes=id,userName",
    "count=2&filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22{}%22",  # two strings
    "filter=displayName+co+%22{}%22&sortBy=displayName&sortOrder=descending",
    "filter=meta.lastModified+gt+%22{}%22",
    "filter=userName+eq+%22{}%22+and+active+eq+true",
    "attributes=%22{}%22&filter=userName+pr",  # the quoted string is not the filter's
    "filter=%20userName%20EQ%20%22{}%22%20",
]

#: Values, raw: what an IdP percent-encodes into the string.
VALUES = st.one_of(
    st.sampled_from(["bjensen@example.com", "Ada Lovelace", "é", "", "2024-01-01T00:00:00Z"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.text(alphabet='ab"\\%+& \x00\x01\t=#', max_size=6),
)


def full_parse(query_string: bytes, privileged: bool) -> Any:
    """What the query string gives without templates: the query, or the refusal's words."""
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        return parse_list_query(dict(pairs), SERVER, privileged)
    except ScimError as refused:
        return (type(refused), refused.status, str(refused))


def through(queries: ListQueries, query_string: bytes, privileged: bool) -> Any:
    try:
        return queries(query_string, privileged)
    except ScimError as refused:
        return (type(refused), refused.status, str(refused))


def encoded(shape: str, value: str, plus: bool) -> bytes:
    text = quote(value, safe="") if "%" in shape else value
    if plus:
        text = text.replace("%20", "+")
    return shape.format(text).encode("utf-8")


@settings(max_examples=600, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    first=VALUES,
    second=VALUES,
    plus=st.booleans(),
    privileged=st.booleans(),
)
def test_a_query_from_a_template_is_what_the_full_parse_gives(
    shape: str, first: str, second: str, plus: bool, privileged: bool
) -> None:
    queries = ListQueries(SERVER)
    through(queries, encoded(shape, first, plus), privileged)  # may teach a template
    later = encoded(shape, second, plus)
    assert through(queries, later, privileged) == full_parse(later, privileged)


def test_an_idp_lookup_with_a_new_name_is_read_from_the_template() -> None:
    queries = ListQueries(SERVER)
    queries(b"filter=userName+eq+%22ada%40example.com%22", False)
    later = b"filter=userName+eq+%22Grace.Hopper%40example.com%22"
    split = split_query(later)
    assert split is not None
    from_template = queries.templates.query(split, False)
    assert from_template is not None  # no parse: the template answered
    assert from_template == full_parse(later, False)
    node = from_template.filter_node
    assert isinstance(node, Comparison) and node.value == "Grace.Hopper@example.com"
    assert from_template.filter == 'userName eq "Grace.Hopper@example.com"'


@pytest.mark.parametrize(
    "later",
    [
        b"filter=userName+eq+%22a%5C%22b%22",  # an escaped quote: two more quotes
        b"filter=userName+eq+%22a%00b%22",  # NUL: refused by the full parse
        b"filter=userName+eq+%22a%0Ab%22",  # a control character
        b"filter=userName+eq+%22a&count=1%22",  # & ends the parameter
    ],
)
def test_a_string_the_quick_path_cannot_vouch_for_goes_to_the_full_parse(later: bytes) -> None:
    queries = ListQueries(SERVER)
    queries(b"filter=userName+eq+%22ada%22", False)
    split = split_query(later)
    assert split is None or queries.templates.query(split, False) is None
    assert through(queries, later, False) == full_parse(later, False)


def test_a_template_learned_for_one_caller_is_not_used_for_another() -> None:
    queries = ListQueries(SERVER)
    queries(b"filter=userName+eq+%22ada%22", True)
    split = split_query(b"filter=userName+eq+%22bob%22")
    assert split is not None
    assert queries.templates.query(split, False) is None
    assert queries.templates.query(split, True) is not None
