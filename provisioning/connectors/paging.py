"""How a vendor pages its lists, declared as data: three styles and the bound on pages.

A vendor's :class:`~provisioning.connectors.profile.ApiProfile` names one style (a
connector may pass another for one endpoint); :meth:`ApiClient.pages` and
:meth:`ApiClient.items` read it. A style only says which request comes next; the client
sends it, reads the page's list, and stops a looping or endless API (a repeated request,
more pages than ``max_pages``) with a :class:`~provisioning.errors.PermanentError`.

- :class:`PageNumber`: ``?page=1, 2, ...`` until an empty page or the declared total.
- :class:`Offset`: ``offset``/``limit`` parameters in the vendor's own spelling, advanced by
  the rows received, until an empty (or, if declared, short) page.
- :class:`NextLink`: the page names the next one's URL (OData ``@odata.nextLink``).
- :class:`Whole`: no paging, the whole list in one answer (TalentLMS v1).

A profile is a table, not a language: a vendor that pages some other way keeps its own
loop, and a fourth style is added here only when two vendors share it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: A member's place in a JSON body: its keys from the top (``("data", "rows")``).
Path = tuple[str, ...]
#: The default bound on the pages of one list: a full read of 100,000 people at 10 a page,
#: far beyond any honest lookup. A style or a call may declare its own.
MAX_PAGES = 10_000
#: The common spelling of :class:`Offset`'s parameters.
OFFSET_LIMIT: Mapping[str, str] = MappingProxyType({"offset": "{offset}", "limit": "{limit}"})


@dataclass(frozen=True)
class Step:
    """One page's request: a path below the API root (or a whole URL) and its parameters.

    ``position`` is the page number or the offset the request asks for.
    """

    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    position: int = 0

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What tells two requests apart (a repeat means the API loops)."""
        return self.path, tuple(sorted(self.params.items()))


@dataclass(frozen=True)
class PageNumber:
    """Pages numbered from ``first`` in the ``param`` query parameter.

    Attributes:
        items: where the page's list is.
        param: the page number's parameter.
        first: the first page's number.
        total_pages: where the page count is, if the vendor says it (the last page is then
            known without asking for an empty one).
        size_param: the page size's parameter, when one is sent.
        size: the page size sent with ``size_param``.
        max_pages: a bound no honest answer reaches.
    """

    items: Path
    param: str = "page"
    first: int = 1
    total_pages: Path | None = None
    size_param: str | None = None
    size: int = 100
    max_pages: int = MAX_PAGES

    def start(self, path: str, params: Mapping[str, str]) -> Step:
        """The first page's request."""
        return self._page(path, params, self.first)

    def after(self, step: Step, body: Any, rows: int) -> Step | None:
        """The next page's request, or None after the last."""
        total = member(body, self.total_pages) if self.total_pages else None
        last = isinstance(total, int) and step.position - self.first + 1 >= total
        if rows == 0 or last:
            return None
        return self._page(step.path, step.params, step.position + 1)

    def _page(self, path: str, params: Mapping[str, str], number: int) -> Step:
        sized = {self.size_param: str(self.size)} if self.size_param else {}
        return Step(path, {**params, **sized, self.param: str(number)}, number)


@dataclass(frozen=True)
class Offset:
    """Rows from an offset, the parameters spelt by ``params`` (``{offset}``, ``{limit}``).

    Attributes:
        items: where the page's list is.
        params: parameter name -> value template, e.g. ``{"offset": "{offset}", "limit":
            "{limit}"}`` or Lucca's ``{"paging": "{offset},{limit}"}``.
        size: the ``limit`` asked for.
        short_page_ends: a page shorter than ``size`` is the last (saves asking for an empty
            one); leave False for a server that may cap ``limit`` below ``size``.
        max_pages: a bound no honest answer reaches.
    """

    items: Path
    params: Mapping[str, str] = field(default_factory=lambda: OFFSET_LIMIT)
    size: int = 100
    short_page_ends: bool = False
    max_pages: int = MAX_PAGES

    def start(self, path: str, params: Mapping[str, str]) -> Step:
        """The first page's request."""
        return self._rows_from(path, params, 0)

    def after(self, step: Step, body: Any, rows: int) -> Step | None:
        """The next page's request, or None after the last."""
        if rows == 0 or (self.short_page_ends and rows < self.size):
            return None
        return self._rows_from(step.path, step.params, step.position + rows)

    def _rows_from(self, path: str, params: Mapping[str, str], offset: int) -> Step:
        spelt = {k: v.format(offset=offset, limit=self.size) for k, v in self.params.items()}
        return Step(path, {**params, **spelt}, offset)


@dataclass(frozen=True)
class NextLink:
    """Each page carries the whole URL of the next one (absent on the last).

    The client follows a link only below its own API root: the credentials go with every
    request, so a link elsewhere is an error, as is a link already followed.
    """

    items: Path
    link: Path
    max_pages: int = MAX_PAGES

    def start(self, path: str, params: Mapping[str, str]) -> Step:
        """The first page's request."""
        return Step(path, params)

    def after(self, step: Step, body: Any, rows: int) -> Step | None:
        """The next page's request, or None after the last."""
        link = member(body, self.link)
        return Step(str(link)) if link else None


@dataclass(frozen=True)
class Whole:
    """The whole list in one answer: an API without paging."""

    items: Path = ()
    max_pages: int = 1

    def start(self, path: str, params: Mapping[str, str]) -> Step:
        """The one request."""
        return Step(path, params)

    def after(self, step: Step, body: Any, rows: int) -> Step | None:
        """None: there is no next page."""
        return None


Paging = PageNumber | Offset | NextLink | Whole


def member(body: Any, path: Path) -> Any:
    """The value at ``path`` in a JSON body, or None where the body has no such member."""
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body
