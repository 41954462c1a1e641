"""A list request (RFC 7644 §3.4.2), parsed: what :mod:`gateway.scim.listing` reads."""

import hashlib
from dataclasses import dataclass, field
from typing import Any

from scim2_models.path import FilterNode

from gateway.scim.kinds import GROUP, Kind
from gateway.scim.representation import Projection
from gateway.store.queries import Search

__all__ = ["ListQuery"]


@dataclass(frozen=True)
class ListQuery:
    """A list request, from query parameters or a ``.search`` body."""

    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    cursor: str | None = None
    projection: Projection = Projection()
    #: ``filter`` parsed (syntax only; the store checks it against each kind's model).
    filter_node: FilterNode | None = None
    #: The store's searches for this query, by kind and page (see :meth:`search`).
    searches: dict[tuple[Any, ...], Search] = field(default_factory=dict, compare=False, repr=False)

    def search(self, kind: Kind, offset: int, limit: int) -> Search:
        """The store's search for a page of this query over ``kind``, kept: a query
        parsed once (:class:`ListQueries`) gives the same search each time, and the store
        keeps that search's plan and operands on it."""
        key = (kind.name, kind.model, offset, limit)
        search = self.searches.get(key)
        if search is None:
            related = self.projection.wants("members" if kind.name == GROUP.name else "groups")
            search = Search(self.filter_node, self.sort_by, self.descending, offset, limit, related)
            if len(self.searches) >= 64:  # cursors page through one query: bounded
                self.searches.clear()
            self.searches[key] = search
        return search

    def fingerprint(self) -> str:
        """What a cursor is bound to: reusing it with another filter or sort is an error."""
        key = f"{self.filter}|{self.sort_by}|{self.descending}"
        return hashlib.sha256(key.encode()).hexdigest()[:12]
