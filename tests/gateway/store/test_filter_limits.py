"""Filter limits (server.max_filter_clauses, server.max_filter_depth) and the operands no
engine can compare, refused before any SQL is built with an error naming the limit."""

import pytest

from gateway.config import ServerConfig
from gateway.errors import InvalidFilterException
from gateway.scim.listing import parse_list_query
from gateway.store.filter_limits import DEFAULT_LIMITS, FilterLimits
from gateway.store.filters import parse_filter


def _refusal(expression: str, limits: FilterLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(InvalidFilterException) as error:
        parse_filter(expression, limits)
    assert error.value.scim_type == "invalidFilter"
    return str(error.value.detail)


def test_the_default_admits_a_thousand_equalities_and_refuses_one_more() -> None:
    chain = " or ".join(f'userName eq "u{i}"' for i in range(1000))
    parse_filter(chain)
    detail = _refusal(chain + ' or userName eq "one more"')
    assert "1001 clauses" in detail and "server.max_filter_clauses" in detail


def test_clauses_inside_value_filters_and_not_count() -> None:
    expression = 'emails[type eq "work" and value pr] and not (userName sw "a")'
    parse_filter(expression, FilterLimits(max_clauses=3))
    assert "4 clauses" in _refusal(expression + " and active eq true", FilterLimits(3))


def test_nesting_beyond_the_depth_limit_names_it() -> None:
    expression = 'userName eq "a"'
    for _ in range(3):
        expression = f"not ({expression})"
    parse_filter(expression, FilterLimits(max_depth=3))
    detail = _refusal(f"not ({expression})", FilterLimits(max_depth=3))
    assert "4 levels" in detail and "server.max_filter_depth" in detail


def test_a_flat_chain_is_one_level_whatever_its_length() -> None:
    parse_filter(" and ".join(["userName pr"] * 50), FilterLimits(max_depth=1))


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ('userName eq "a\\u0000b"', "NUL"),
        ('emails[value co "\\u0000"]', "NUL"),
        ('displayName sw "\\udc00"', "unpaired surrogate"),
    ],
)
def test_strings_an_engine_cannot_hold_are_refused(expression: str, words: str) -> None:
    assert words in _refusal(expression)


def test_the_server_configuration_sets_the_limits_of_list_requests() -> None:
    server = ServerConfig(max_filter_clauses=2, max_filter_depth=1)
    parse_list_query({"filter": "userName pr and active eq true"}, server, False)
    with pytest.raises(InvalidFilterException, match="server.max_filter_clauses"):
        parse_list_query({"filter": "userName pr and active eq true and id pr"}, server, False)
    with pytest.raises(InvalidFilterException, match="server.max_filter_depth"):
        parse_list_query({"filter": "not (userName pr and id pr)"}, server, False)


def test_operators_inside_strings_do_not_count_as_clauses() -> None:
    """The clause count taken before parsing skips quoted strings."""
    parse_filter('userName eq "eq pr ne \\" and co"', FilterLimits(max_clauses=1))


def test_a_huge_filter_is_refused_before_it_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 MB filter was parsed (2 s of grammar work) before its clauses were counted."""
    import gateway.store.filters.compilation as filters

    def parse_nothing(expression: str) -> None:
        raise AssertionError("the filter was parsed")

    monkeypatch.setattr(filters, "ScimFilter", parse_nothing)
    chain = " or ".join(f'userName eq "u{i}"' for i in range(30_000))
    assert "30000 clauses" in _refusal(chain)
