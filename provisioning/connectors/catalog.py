"""A vendor's tables read on demand: kept, and read again when they lack what is asked.

A field map names things the vendor knows by id (TalentHR's job titles and departments,
TalentLMS's custom fields, the custom fields Dynamics publishes in ``$metadata``). Each
vendor module used to keep its own cache of such a table and its own "read it again on a
miss" (an admin may have just created the entry). Both live here:

- :class:`Cached` keeps one table, reads it again when it lacks what a caller asks for (at
  most every ``every`` seconds), and lets one read serve callers that wait on it.
- :class:`Catalog` declares a list endpoint of named entries as data, and
  :class:`Catalogs` resolves a name to its entry's key through it::

    JOB_TITLES = Catalog(noun="job title", path="/job-titles", items=("data",))
    job_title_id = await self._catalogs.key(JOB_TITLES, "Engineer")
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from provisioning.connectors.paging import Path
from provisioning.connectors.profile import ApiClient
from provisioning.errors import PermanentError, TargetConfigError

T = TypeVar("T")
#: A catalog read into a table: an entry's name -> the entry.
Table = Mapping[str, Mapping[str, Any]]


class Cached(Generic[T]):
    """One table read by ``load``, kept until it lacks what a caller asks for.

    Args:
        load: reads the table from the vendor.
        every: the least time between two reads caused by a miss (``$metadata`` is tens
            of MB), or what reads it at each miss; 0 reads again on every miss.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        load: Callable[[], Awaitable[T]],
        *,
        every: float | Callable[[], float] = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._every = every
        self._clock = clock
        self._value: T | None = None
        self._read_at = float("-inf")
        self._reads = 0
        self._lock = asyncio.Lock()

    async def get(self, has: Callable[[T], bool] | None = None) -> T:
        """The table; read when never read, or again when ``has`` says it lacks what is
        asked and the last read is at least ``every`` seconds old."""
        value = self._value
        if value is not None and (has is None or has(value) or not self._stale()):
            return value
        return await self.reload()

    async def reload(self) -> T:
        """Read the table now, unless another caller read it while this one waited."""
        reads_before = self._reads
        async with self._lock:
            if self._value is not None and self._reads != reads_before:
                return self._value
            value = await self._load()
            self._value, self._read_at = value, self._clock()
            self._reads += 1
            return value

    def forget(self) -> None:
        """Drop the table: the next :meth:`get` reads it (the vendor refused what it said)."""
        self._value = None

    def _stale(self) -> bool:
        every = self._every() if callable(self._every) else self._every
        return self._clock() - self._read_at >= every


@dataclass(frozen=True)
class Catalog:
    """A vendor's list of named entries that a field map or the options name, as data.

    Attributes:
        noun: what an entry is ("job title", "custom user field"), in messages.
        path: the list's path below the API root (``GET``, one answer).
        items: where the list is in the answer (``("data",)``); ``()`` for the body.
        name: the entry's member holding its name.
        key: the entry's member the vendor takes instead of the name (its id).
        kind: the entry's member holding its type, when a caller asks for one.
        exact: names compare exactly; otherwise an exact match comes first, else the one
            entry equal case-insensitively (two such entries are no match).
        fix: what to do about a name the vendor lacks, ending the message.
        setting: what named the entry, for a type that does not match.
    """

    noun: str
    path: str
    items: Path = ()
    name: str = "name"
    key: str = "id"
    kind: str | None = None
    exact: bool = False
    fix: str = "create it in {vendor} or change the field map"
    setting: str = "the field map"


def table(catalog: Catalog, entries: Any, vendor: str) -> dict[str, Mapping[str, Any]]:
    """The entries of a catalog's answer by name (entries without a name or key dropped).

    Raises:
        PermanentError: the answer holds no list where the catalog says.
    """
    if not isinstance(entries, list):
        raise PermanentError(f"{vendor}'s GET {catalog.path} did not answer a list")
    return {
        str(entry[catalog.name]): entry
        for entry in entries
        if isinstance(entry, dict)
        and entry.get(catalog.name)
        and entry.get(catalog.key) not in (None, "")
    }


def find(catalog: Catalog, entries: Table, name: str) -> Mapping[str, Any] | None:
    """The entry called ``name`` (see :attr:`Catalog.exact`), or None."""
    if name in entries:
        return entries[name]
    if catalog.exact:
        return None
    folded = [entry for known, entry in entries.items() if known.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def pick(
    catalog: Catalog, entries: Table, name: str, vendor: str, kind: str | None = None
) -> Mapping[str, Any]:
    """The entry called ``name``, of type ``kind`` when given.

    Raises:
        TargetConfigError: no such entry, or one of another type; retryable, as an admin
            may create or fix it and the next attempt reads the catalog again.
    """
    entry = find(catalog, entries, name)
    if entry is None:
        where = "names match exactly, case-sensitively" if catalog.exact else f"GET {catalog.path}"
        fix = catalog.fix.format(vendor=vendor)
        raise TargetConfigError(f"{vendor} has no {catalog.noun} named {name!r} ({where}); {fix}")
    if kind is not None and catalog.kind is not None and entry.get(catalog.kind) != kind:
        raise TargetConfigError(
            f"{vendor} {catalog.noun} {name!r} is of type {entry.get(catalog.kind)!r}, "
            f"not {kind!r} as {catalog.setting} says"
        )
    return entry


class Catalogs:
    """The catalogs one connector reads through its :class:`ApiClient`, each kept in a
    :class:`Cached` and read again when it lacks a name asked for."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._tables: dict[Catalog, Cached[Table]] = {}

    async def key(self, catalog: Catalog, name: str, kind: str | None = None) -> Any:
        """The key of the entry called ``name`` (of type ``kind``); errors as :func:`pick`."""
        vendor = self._api.profile.vendor

        def fits(entries: Table) -> bool:
            entry = find(catalog, entries, name)
            unchecked = kind is None or catalog.kind is None
            return entry is not None and (unchecked or entry.get(catalog.kind or "") == kind)

        entries = await self._cached(catalog).get(fits)
        return pick(catalog, entries, name, vendor, kind)[catalog.key]

    async def reload(self, catalog: Catalog) -> Table:
        """Read the catalog now (a ``check()`` proving the credentials and the names)."""
        return await self._cached(catalog).reload()

    def _cached(self, catalog: Catalog) -> Cached[Table]:
        if catalog not in self._tables:

            async def load() -> Table:
                response = await self._api.call("GET", catalog.path)
                entries = self._api.json(response, *catalog.items)
                return table(catalog, entries, self._api.profile.vendor)

            self._tables[catalog] = Cached(load)
        return self._tables[catalog]
