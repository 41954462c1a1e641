"""A full read of 100,000 people through ``ApiClient.items()``: ``python -m benchmarks.paging``.

Each paging style is served by an in-process list API (httpx.MockTransport, no socket, so
the figure is CPU, stable on a busy machine) holding 100,000 people: page numbers 25 at a
time (Tribal Habits), offsets 100 at a time (TalentHR), next links 1,000 at a time (OData).
For each: the requests sent, the CPU time (``time.process_time``, the client's and the
in-process server's together) per 1,000 people, and the peak of memory allocated while
reading (``tracemalloc``, in a second read), which stays near one page's worth because
``items()`` holds one page at a time (100,000 such dicts in a list would take tens of MB).
"""

import asyncio
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx

from provisioning.connectors.paging import NextLink, Offset, PageNumber, Paging
from provisioning.connectors.profile import ApiClient, ApiProfile

PEOPLE = 100_000
ROOT = "https://api.example.test/v1"
Answer = Callable[[httpx.Request], dict[str, Any]]


def person(n: int) -> dict[str, Any]:
    return {"id": str(n), "email": f"person{n}@acme.example", "first_name": "P", "active": True}


def numbered(request: httpx.Request) -> dict[str, Any]:
    page = int(request.url.params["page"])
    start = (page - 1) * 25
    rows = [person(n) for n in range(start, min(start + 25, PEOPLE))]
    return {"total_pages": -(-PEOPLE // 25), "records": rows}


def offsets(request: httpx.Request) -> dict[str, Any]:
    start = int(request.url.params["offset"])
    return {"data": {"rows": [person(n) for n in range(start, min(start + 100, PEOPLE))]}}


def linked(request: httpx.Request) -> dict[str, Any]:
    start = int(request.url.params.get("$skiptoken", "0"))
    body: dict[str, Any] = {"value": [person(n) for n in range(start, min(start + 1000, PEOPLE))]}
    if start + 1000 < PEOPLE:
        body["@odata.nextLink"] = f"{ROOT}/people?$skiptoken={start + 1000}"
    return body


STYLES: list[tuple[str, Paging, Answer]] = [
    (
        "PageNumber, 25 a page",
        PageNumber(items=("records",), total_pages=("total_pages",)),
        numbered,
    ),
    ("Offset, 100 a page", Offset(items=("data", "rows"), size=100), offsets),
    ("NextLink, 1,000 a page", NextLink(items=("value",), link=("@odata.nextLink",)), linked),
]


async def read_all(paging: Paging, answer: Answer) -> tuple[int, int]:
    """People read and requests sent."""
    sent = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        return httpx.Response(200, json=answer(request))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        api = ApiClient(http, ROOT, ApiProfile(vendor="Bench", paging=paging))
        people = 0
        async for _ in api.items("/people"):
            people += 1
    return people, sent


def measure(paging: Paging, answer: Answer) -> dict[str, float]:
    started = time.process_time()
    people, sent = asyncio.run(read_all(paging, answer))
    cpu = time.process_time() - started
    if people != PEOPLE:
        raise SystemExit(f"read {people} people, not {PEOPLE}")
    tracemalloc.start()
    asyncio.run(read_all(paging, answer))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "requests": sent,
        "cpu_ms_per_1000": cpu * 1000 / (PEOPLE / 1000),
        "peak_kib": peak / 1024,
    }


def main() -> None:
    print(f"A full read of {PEOPLE:,} people through ApiClient.items() (in-process server)")
    print("| style | requests | CPU ms per 1,000 people | peak memory, KiB |")
    print("|---|---|---|---|")
    for name, paging, answer in STYLES:
        figures = measure(paging, answer)
        print(
            f"| {name} | {figures['requests']:,.0f} | {figures['cpu_ms_per_1000']:.1f} "
            f"| {figures['peak_kib']:,.0f} |"
        )


if __name__ == "__main__":
    main()
