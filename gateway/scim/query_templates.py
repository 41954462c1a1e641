"""List query strings that differ from one seen before only in their filter's string.

Identity providers look a user up before each create, with a name they have not asked for
before: ``?filter=userName eq "<new name>"``. The memo of whole query strings
(:class:`gateway.scim.listing.ListQueries`) never hits for them, and parsing the query
string and the filter was half of such a request. A query whose only quoted string is
its filter's one comparison (``attr op "value"``) has a *template*: the query string with
that string cut out. The next query of the same template is the first one with another
value: no query-string parsing, no filter parsing, only the value percent-decoded and
checked as the grammar and the filter limits check it.

Anything else (two quoted strings, escapes, a quote or a control character in the value,
a logical filter) goes through the full parse, which decides and words any refusal.
"""

import re
from dataclasses import dataclass
from urllib.parse import unquote

from scim2_models.path import Comparison

from gateway.scim.list_query import ListQuery

__all__ = ["QueryTemplates", "Split", "split_query"]

#: A double quote in a raw query string, percent-encoded or not.
_QUOTE = re.compile(rb'%22|"')
#: What a filter string may hold for the quick path: the grammar's string without
#: escapes (gateway.store.filters.syntax), nor a quote or a backslash.
_PLAIN_VALUE = re.compile(r'[^"\\\x00-\x1f]*')
#: Raw bytes that would end the parameter or escape inside the literal.
_UNSAFE_RAW = re.compile(rb"[&\\]|%5[cC]")


@dataclass(frozen=True)
class Split:
    """A raw query string cut at its one quoted string."""

    #: The query string with the quoted string's content cut out: the template's key.
    key: tuple[bytes, bytes]
    #: The raw (percent-encoded) content between the quotes.
    literal: bytes


def split_query(query_string: bytes) -> Split | None:
    """The query string around its only quoted string; None when it has not exactly one."""
    quotes = list(_QUOTE.finditer(query_string))
    if len(quotes) != 2:
        return None
    opening, closing = quotes
    literal = query_string[opening.end() : closing.start()]
    if _UNSAFE_RAW.search(literal):
        return None
    return Split((query_string[: opening.end()], query_string[closing.start() :]), literal)


def decoded(literal: bytes) -> str:
    """The literal as ``parse_qsl`` decodes the query string (latin-1, ``+``, UTF-8)."""
    return unquote(literal.decode("latin-1").replace("+", " "))


@dataclass(frozen=True)
class _Template:
    query: ListQuery
    #: The filter expression before and after its string.
    before: str
    after: str
    comparison: Comparison


class QueryTemplates:
    """Templates of list queries; bounded, since clients choose their query strings."""

    MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._templates: dict[tuple[tuple[bytes, bytes], bool], _Template] = {}

    def query(self, split: Split, privileged: bool) -> ListQuery | None:
        """The query of the template with the split's value; None when there is none."""
        template = self._templates.get((split.key, privileged))
        if template is None:
            return None
        value = decoded(split.literal)
        # The filter limits' checks of a string (gateway.store.filter_limits) hold here:
        # a NUL or another control character goes to the full parse (next line), which
        # refuses it; an unpaired surrogate cannot come out of a UTF-8 decoding.
        if _PLAIN_VALUE.fullmatch(value) is None:
            return None  # the full parse decides (and words the refusal)
        comparison, query = template.comparison, template.query
        return ListQuery(
            filter=f'{template.before}"{value}"{template.after}',
            sort_by=query.sort_by,
            descending=query.descending,
            start_index=query.start_index,
            count=query.count,
            cursor=query.cursor,
            projection=query.projection,
            filter_node=Comparison(attr_path=comparison.attr_path, op=comparison.op, value=value),
        )

    def learn(self, split: Split, privileged: bool, query: ListQuery) -> None:
        """Keep ``query`` (fully parsed from the split's query string) as a template
        when its filter is one comparison with the split's value as its string."""
        node, expression = query.filter_node, query.filter
        if not isinstance(node, Comparison) or not isinstance(node.value, str):
            return
        if expression is None or expression.count('"') != 2:
            return
        before, value, after = expression.split('"')
        if value != node.value or value != decoded(split.literal):
            return  # the quoted string is not the filter's (another parameter's)
        if len(self._templates) >= self.MAX_ENTRIES:
            self._templates.clear()
        self._templates[(split.key, privileged)] = _Template(query, before, after, node)
