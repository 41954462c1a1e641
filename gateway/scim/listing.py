"""List and search parameters (RFC 7644 §3.4.2) and cursor paging (RFC 9865)."""

import base64
from typing import Any
from urllib.parse import parse_qsl

import orjson
from scim2_models import InvalidCursorException

from gateway.config import ServerConfig
from gateway.errors import InvalidValueException
from gateway.scim.limits import Limits, check_projection
from gateway.scim.list_query import ListQuery
from gateway.scim.query_templates import QueryTemplates, split_query
from gateway.scim.representation import Projection, parse_attribute_list
from gateway.store.filter_limits import FilterLimits
from gateway.store.filters import parse_filter

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#: The largest startIndex (and cursor position) taken: far beyond any collection, and an
#: OFFSET both engines bind (``startIndex=10^30`` was a 500 on both). RFC 7644 §3.4.2.4
#: gives no upper bound; a larger one is 400 invalidValue rather than an empty page, so a
#: client learns its paging went wrong.
MAX_START_INDEX = 2**31 - 1


def _integer(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidValueException(detail=f"{name} must be an integer") from None


#: What each list parameter may be in a ``.search`` body (RFC 7644 §3.4.3); a query
#: string gives only strings. null is taken as absent, as for any SCIM attribute.
_PARAMETER_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "filter": ((str,), "a filter string"),
    "sortBy": ((str,), "an attribute name"),
    "sortOrder": ((str,), '"ascending" or "descending"'),
    "cursor": ((str,), "a cursor string"),
    # A JSON integer past 64 bits arrives as a float (orjson): integral, it is one.
    "startIndex": ((int, float, str), "an integer"),
    "count": ((int, float, str), "an integer"),
    "attributes": ((list, str), "a list of attribute names"),
    "excludedAttributes": ((list, str), "a list of attribute names"),
}


def _check_parameter_types(params: dict[str, Any]) -> None:
    """Refuse a parameter of the wrong JSON type with 400 ``invalidValue``."""
    for name, (types, expected) in _PARAMETER_TYPES.items():
        value = params.get(name)
        if value is None:
            continue
        wrong = isinstance(value, bool) or not isinstance(value, types)
        if not wrong and isinstance(value, float):
            wrong = not value.is_integer()
        if not wrong and isinstance(value, list):
            wrong = not all(isinstance(item, str) for item in value)
        if wrong:
            raise InvalidValueException(detail=f"{name} must be {expected}")


def parse_list_query(params: dict[str, Any], server: ServerConfig, privileged: bool) -> ListQuery:
    """Build a ListQuery from query parameters or a SearchRequest body (same names)."""
    _check_parameter_types(params)
    attributes = parse_attribute_list(params.get("attributes"))
    excluded = parse_attribute_list(params.get("excludedAttributes"))
    check_projection(attributes, excluded, Limits.of(server))
    if attributes and excluded:
        raise InvalidValueException(detail="attributes and excludedAttributes are exclusive")
    start = _integer(params.get("startIndex"), "startIndex")
    count = _integer(params.get("count"), "count")
    cursor = params.get("cursor")
    if cursor is not None and start is not None:
        raise InvalidValueException(detail="cursor and startIndex cannot be combined")
    order = str(params.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValueException(detail="sortOrder must be ascending or descending")
    if start is not None and start > MAX_START_INDEX:
        raise InvalidValueException(detail=f"startIndex must be at most {MAX_START_INDEX}")
    # RFC 7644 §3.4.2.4: startIndex < 1 means 1, a negative count means 0, and a count
    # over the server's page size is that page size.
    count = server.default_count if count is None else max(0, min(count, server.max_results))
    expression = params.get("filter") or None
    limits = FilterLimits(server.max_filter_clauses, server.max_filter_depth)
    return ListQuery(
        filter=expression,
        sort_by=params.get("sortBy") or None,
        descending=order == "descending",
        start_index=max(1, start or 1),
        count=count,
        cursor=None if cursor is None else str(cursor),
        projection=Projection(attributes, excluded, privileged),
        filter_node=parse_filter(expression, limits) if expression else None,
    )


class ListQueries:
    """List requests' query strings, parsed once each.

    Parsing a query string (percent-decoding, the parameters, the filter's syntax) cost
    a third of a filtered ``GET /Users`` on SQLite. A :class:`ListQuery` depends on the
    query string, the server's paging limits and whether the caller may see sensitive
    attributes, and holds nothing read from the database, so it is kept, keyed by those.
    Clients choose query strings: the memo is bounded. Query strings that fail to parse
    are not kept; they fail again.
    """

    MAX_ENTRIES = 1024

    def __init__(self, server: ServerConfig) -> None:
        self.server = server
        self._memo: dict[tuple[bytes, bool], ListQuery] = {}
        self.templates = QueryTemplates()

    def __call__(self, query_string: bytes, privileged: bool) -> ListQuery:
        """The query of ``GET /<collection>?<query_string>``; 400 when it is not one."""
        key = (query_string, privileged)
        query = self._memo.get(key)
        if query is not None:
            return query
        # A lookup of a name not asked for before: the template of an earlier one
        # (gateway.scim.query_templates), else the full parse.
        split = split_query(query_string)
        query = None if split is None else self.templates.query(split, privileged)
        if query is None:
            # The last value of each name, as dict(request.query_params) would give.
            pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
            query = parse_list_query(dict(pairs), self.server, privileged)
            if split is not None:
                self.templates.learn(split, privileged, query)
        if len(self._memo) >= self.MAX_ENTRIES:
            self._memo.clear()
        self._memo[key] = query
        return query


def cursor_offset(query: ListQuery) -> int:
    """The 0-based offset a cursor stands for; 400 ``invalidCursor`` when it is foreign."""
    if not query.cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
        data = orjson.loads(raw)
        offset, fingerprint = int(data["o"]), str(data["q"])
        if not 0 <= offset < MAX_START_INDEX:  # no cursor this server issued says that
            raise ValueError(offset)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidCursorException(detail="the cursor is not one this server issued") from None
    if fingerprint != query.fingerprint():
        raise InvalidCursorException(detail="the cursor belongs to another filter or sort")
    return offset


def make_cursor(query: ListQuery, offset: int) -> str:
    raw = orjson.dumps({"o": offset, "q": query.fingerprint()})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def list_response(
    query: ListQuery, resources: list[dict[str, Any]], total: int, offset: int
) -> dict[str, Any]:
    """A ListResponse in index or cursor mode."""
    body: dict[str, Any] = {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
    }
    if query.cursor is None:
        body["startIndex"] = offset + 1
    else:
        if offset + len(resources) < total and resources:
            body["nextCursor"] = make_cursor(query, offset + len(resources))
        if offset > 0:
            body["previousCursor"] = make_cursor(query, max(0, offset - query.count))
    body["Resources"] = resources
    return body
