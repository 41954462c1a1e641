"""Cached tables and catalogs of named entries: read once, read again on a miss.

The vendor is an httpx.MockTransport list endpoint whose entries a test edits (as an admin
would in the vendor's portal); it counts the reads, which is what a user pays for.
"""

import asyncio
from typing import Any

import httpx
import pytest

from provisioning.connectors.catalog import Cached, Catalog, Catalogs, find, pick, table
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.errors import PermanentError, TargetConfigError, TransientError

TITLES = Catalog(noun="job title", path="/job-titles", items=("data",))
FIELDS = Catalog(
    noun="custom field",
    path="/custom-fields",
    key="key",
    kind="type",
    exact=True,
    fix="create it in the portal",
    setting="options.custom_fields",
)


class Vendor:
    """``GET /job-titles`` -> ``{"data": [...]}``, ``GET /custom-fields`` -> ``[...]``."""

    def __init__(self) -> None:
        self.titles: list[Any] = [{"id": 1, "name": "Engineer"}, {"id": 2, "name": "Designer"}]
        self.fields: list[Any] = [{"key": "custom_field_1", "name": "City", "type": "text"}]
        self.reads = 0

    def catalogs(self) -> Catalogs:
        def handle(request: httpx.Request) -> httpx.Response:
            self.reads += 1
            if request.url.path.endswith("/job-titles"):
                return httpx.Response(200, json={"data": self.titles})
            return httpx.Response(200, json=self.fields)

        http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
        return Catalogs(ApiClient(http, "https://api.example.test/v1", ApiProfile("Acme")))


async def test_a_name_is_resolved_from_one_read_and_kept() -> None:
    vendor = Vendor()
    catalogs = vendor.catalogs()
    assert await catalogs.key(TITLES, "Engineer") == 1
    assert await catalogs.key(TITLES, "Designer") == 2
    assert vendor.reads == 1


async def test_a_name_created_since_the_last_read_is_found_by_reading_again() -> None:
    vendor = Vendor()
    catalogs = vendor.catalogs()
    await catalogs.key(TITLES, "Engineer")
    vendor.titles.append({"id": 3, "name": "Analyst"})  # the admin adds it
    assert await catalogs.key(TITLES, "Analyst") == 3
    assert vendor.reads == 2


async def test_a_missing_name_is_a_retryable_config_error_naming_the_list() -> None:
    vendor = Vendor()
    with pytest.raises(TargetConfigError) as caught:
        await vendor.catalogs().key(TITLES, "Pilot")
    assert str(caught.value) == (
        "Acme has no job title named 'Pilot' (GET /job-titles); "
        "create it in Acme or change the field map"
    )
    assert isinstance(caught.value, TransientError)  # retried: the admin may create it


async def test_names_fold_case_unless_the_catalog_is_exact_and_two_folds_are_no_match() -> None:
    entries = table(TITLES, [{"id": 1, "name": "Sales"}, {"id": 2, "name": "SALES"}], "Acme")
    assert find(TITLES, entries, "SALES") == {"id": 2, "name": "SALES"}  # exact first
    assert find(TITLES, entries, "sales") is None  # two entries fold to it
    one = table(TITLES, [{"id": 1, "name": "Sales"}], "Acme")
    assert find(TITLES, one, "sales") == {"id": 1, "name": "Sales"}
    assert find(FIELDS, table(FIELDS, [{"key": "k", "name": "City"}], "Acme"), "city") is None


async def test_an_entry_of_another_type_is_read_again_then_refused() -> None:
    vendor = Vendor()
    catalogs = vendor.catalogs()
    with pytest.raises(TargetConfigError, match="'City' is of type 'text', not 'date' as options"):
        await catalogs.key(FIELDS, "City", "date")
    assert vendor.reads == 1  # first read: nothing kept yet to read again
    vendor.fields[0]["type"] = "date"  # the admin fixes it
    assert await catalogs.key(FIELDS, "City", "date") == "custom_field_1"
    assert vendor.reads == 2


def test_an_exact_catalog_says_names_match_case_sensitively() -> None:
    with pytest.raises(TargetConfigError, match=r"\(names match exactly, case-sensitively\)"):
        pick(FIELDS, {}, "city", "Acme")


def test_entries_without_name_or_key_are_dropped_and_a_non_list_is_an_error() -> None:
    rows = [{"id": 1, "name": "A"}, {"id": None, "name": "B"}, {"name": "C"}, "D", {"id": 4}]
    assert list(table(TITLES, rows, "Acme")) == ["A"]
    with pytest.raises(PermanentError, match="Acme's GET /job-titles did not answer a list"):
        table(TITLES, {"data": []}, "Acme")


class Loads:
    def __init__(self) -> None:
        self.count = 0
        self.value = {"a"}

    async def __call__(self) -> set[str]:
        self.count += 1
        await asyncio.sleep(0)
        return set(self.value)


async def test_cached_reads_again_on_a_miss_only_once_the_interval_has_passed() -> None:
    load, now = Loads(), [0.0]
    cached = Cached(load, every=60.0, clock=lambda: now[0])
    assert await cached.get() == {"a"}
    assert await cached.get(lambda known: "b" in known) == {"a"}  # a miss, too soon
    load.value.add("b")
    now[0] = 60.0
    assert await cached.get(lambda known: "b" in known) == {"a", "b"}
    assert await cached.get(lambda known: "a" in known) == {"a", "b"}  # a hit reads nothing
    assert load.count == 2


async def test_cached_serves_concurrent_callers_with_one_read_and_forget_drops_it() -> None:
    load = Loads()
    cached: Cached[set[str]] = Cached(load)
    await asyncio.gather(*(cached.get() for _ in range(5)))
    assert load.count == 1
    cached.forget()
    await cached.get()
    assert load.count == 2
