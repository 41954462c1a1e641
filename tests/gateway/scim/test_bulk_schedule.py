"""The order of a Bulk request's operations (gateway/scim/bulk_schedule.py), and that a
Bulk request leaves the event loop to other requests between its operations."""

import asyncio
import random
from typing import Any

import httpx

from gateway.scim.bulk_schedule import Schedule

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def passes(references: list[frozenset[str]], owners: dict[str, int]) -> tuple[list[int], list[int]]:
    """The reference order: repeated passes over the request, each running in request
    order every operation whose references are settled when its turn comes (the
    gateway's order before the schedule; quadratic). Returns (run order, blocked)."""
    settled: set[str] = set()
    order: list[int] = []
    pending = list(range(len(references)))
    while pending:
        waiting = []
        for index in pending:
            if (references[index] & owners.keys()) - settled:
                waiting.append(index)
            else:
                order.append(index)
                settled.update(b for b, owner in owners.items() if owner == index)
        if len(waiting) == len(pending):
            return order, waiting
        pending = waiting
    return order, []


def scheduled(
    references: list[frozenset[str]], owners: dict[str, int]
) -> tuple[list[int], list[int]]:
    schedule = Schedule(references, owners)
    order = []
    while (index := schedule.next()) is not None:
        order.append(index)
        schedule.settle(index)
    return order, schedule.blocked()


def random_request(rng: random.Random, size: int) -> tuple[list[frozenset[str]], dict[str, int]]:
    owners = {f"b{i}": i for i in range(size) if rng.random() < 0.7}
    names = [*owners, "unknown"]
    references = [
        frozenset(rng.sample(names, rng.randint(0, min(3, len(names))))) for _ in range(size)
    ]
    return references, owners


def test_schedule_runs_operations_in_the_order_of_repeated_passes() -> None:
    rng = random.Random(9)
    for _ in range(500):
        references, owners = random_request(rng, rng.randint(1, 12))
        assert scheduled(references, owners) == passes(references, owners)


def test_chain_depth_counts_the_longest_reference_chain() -> None:
    owners = {f"b{i}": i for i in range(5)}
    chain = [frozenset()] + [frozenset({f"b{i - 1}"}) for i in range(1, 5)]
    assert Schedule(chain, owners).depth() == 5
    assert Schedule(chain[::-1], {f"b{i}": 4 - i for i in range(5)}).depth() == 5
    assert Schedule([frozenset()] * 5, owners).depth() == 1


def test_reversed_chain_of_a_thousand_runs_in_one_pass_per_link_not_a_rescan() -> None:
    """Each operation references the one after it: the schedule still visits each
    operation once (the pass re-scan visited ~n²/2 = 500,000)."""
    size = 1000
    owners = {f"b{i}": i for i in range(size)}
    references = [frozenset({f"b{i + 1}"}) if i + 1 < size else frozenset() for i in range(size)]
    order, blocked = scheduled(references, owners)
    assert order == list(range(size - 1, -1, -1)) and blocked == []


def _create(index: int, manager: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {"schemas": [CORE], "userName": f"u{index}"}
    if manager is not None:
        data["schemas"] = [CORE, ENTERPRISE]
        data[ENTERPRISE] = {"manager": {"value": f"bulkId:b{manager}"}}
    return {"method": "POST", "bulkId": f"b{index}", "path": "/Users", "data": data}


async def test_bulk_lets_other_requests_in_between_its_operations(
    client: httpx.AsyncClient,
) -> None:
    """While a Bulk request runs, another client's requests are answered: it sees some,
    not all, of the bulk's users (before, on SQLite, it saw none or all of them)."""
    size = 60
    body = {"schemas": [BULK], "Operations": [_create(i, None) for i in range(size)]}
    bulk = asyncio.create_task(client.post("/Bulk", json=body))
    seen = []
    while not bulk.done():
        listing = await client.get("/Users?count=0")
        seen.append(listing.json()["totalResults"])
        await asyncio.sleep(0)  # in-process, a GET on SQLite never suspends by itself
    assert (await bulk).status_code == 200
    assert any(0 < total < size for total in seen), seen


async def test_chain_listed_in_reverse_order_creates_every_user_with_its_manager(
    client: httpx.AsyncClient,
) -> None:
    size = 30
    operations = [_create(i, i + 1 if i + 1 < size else None) for i in range(size)]
    response = await client.post("/Bulk", json={"schemas": [BULK], "Operations": operations})
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201"] * size
    ids = [r["location"].rsplit("/", 1)[1] for r in results]
    first = (await client.get(f"/Users/{ids[0]}")).json()
    assert first[ENTERPRISE]["manager"]["value"] == ids[1]
