"""Request-bound benchmark: ``python -m benchmarks.limits`` (issue 9, §2).

1. stall: the heaviest requests the default limits allow, sent back to back by one
   client for ``--seconds``, while a second client measures ``GET /ServiceProviderConfig``
   on its own connection every 5 ms (target: p99 under 50 ms). Heavy requests: a
   projected GET of the largest user the limits allow (100 values in each of seven
   multi-valued attributes, 50 names in ``attributes``), a PUT of that user, and a Bulk
   request of 1,000 creates; then the projected GET from four clients at once.
2. bulk: one Bulk request of 1,000 independent creates (each user's manager an existing
   user), then a chain of 1,000 (each user's manager the previous operation's bulkId;
   ``bulk_max_depth`` raised to 1000 for it), ``--rounds`` times (medians).

One ``scimgw serve --workers 1 --no-worker`` on a fresh SQLite database with 1,000 seeded
users. Load comes from aiohttp: httpx's async client saturates at ~200 req/s here.
Prints the figures and writes benchmarks/results/limits.json.
"""

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from benchmarks import databases, machine
from benchmarks.servers import CONFIG, start_gateway
from gateway.config import load_config

RESULTS = Path(__file__).parent / "results"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SCIM = "application/scim+json"
VALUES = 100
#: 50 names, the default ``max_attribute_names``: real ones first, then unknown
#: sub-attributes of name (accepted, and each costs a comparison).
NAMES = ",".join(
    ["userName", "emails.value", "emails.type", "addresses.locality", "phoneNumbers"]
    + [f"name.extra{i}" for i in range(45)]
)


def largest_user(name: str) -> dict[str, Any]:
    """A user at the default bounds: 100 values in seven multi-valued attributes."""

    def values(make: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
        return [make(i) for i in range(VALUES)]

    return {
        "schemas": [CORE],
        "userName": name,
        "displayName": "d" * 300,
        "title": "t" * 4096,
        "emails": values(lambda i: {"value": f"u{i}@example.com", "type": "work"}),
        "phoneNumbers": values(lambda i: {"value": f"+33 1 00 00 {i:04}", "type": "work"}),
        "ims": values(lambda i: {"value": f"im{i}", "type": "xmpp"}),
        "photos": values(lambda i: {"value": f"https://photos.example.com/{i}"}),
        "addresses": values(
            lambda i: {"streetAddress": "s" * 200, "locality": f"City {i}", "type": "work"}
        ),
        "entitlements": values(lambda i: {"value": f"entitlement-{i}"}),
        "roles": values(lambda i: {"value": f"role-{i}"}),
    }


def bulk_creates(count: int, manager: str | None = None) -> dict[str, Any]:
    """``count`` creates, each user's manager being ``manager`` (an existing user's id),
    or, without one, the user the previous operation creates (``bulkId:b<i-1>``): the
    same documents, with or without a chain of references to resolve."""
    prefix = uuid.uuid4().hex[:8]
    operations = []
    for i in range(count):
        data: dict[str, Any] = {"schemas": [CORE], "userName": f"{prefix}-{i}"}
        boss = manager or (f"bulkId:b{i - 1}" if i else None)
        if boss:
            data["schemas"] = [CORE, ENTERPRISE]
            data[ENTERPRISE] = {"manager": {"value": boss}}
        operations.append({"method": "POST", "bulkId": f"b{i}", "path": "/Users", "data": data})
    return {"schemas": [BULK], "Operations": operations}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Probe:
    """The second client: GET /ServiceProviderConfig, one at a time, every 5 ms."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.url, self.headers = f"{base}/scim/v2/ServiceProviderConfig", headers
        self.latencies: list[float] = []

    async def run(self, session: aiohttp.ClientSession, until: float) -> None:
        while time.monotonic() < until:
            start = time.perf_counter()
            async with session.get(self.url, headers=self.headers) as response:
                await response.read()
                assert response.status == 200, response.status
            self.latencies.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.005)

    def summary(self) -> dict[str, float]:
        samples = self.latencies
        return {
            "probes": len(samples),
            "p50_ms": round(statistics.median(samples), 2),
            "p99_ms": round(percentile(samples, 0.99), 2),
            "max_ms": round(max(samples), 2),
        }


async def heavy(
    base: str, headers: dict[str, str], send: Callable[..., Any], seconds: float, clients: int
) -> dict[str, Any]:
    """``clients`` connections sending ``send`` while the probe measures."""
    probe = Probe(base, headers)
    done: list[float] = []
    until = time.monotonic() + seconds

    async def load(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < until:
            start = time.perf_counter()
            status = await send(session)
            assert status < 300, status
            done.append(time.perf_counter() - start)

    timeout = aiohttp.ClientTimeout(total=120)
    async with (
        aiohttp.ClientSession(timeout=timeout) as probing,
        aiohttp.ClientSession(timeout=timeout) as loading,
    ):
        await asyncio.gather(probe.run(probing, until), *(load(loading) for _ in range(clients)))
    return {
        "requests": len(done),
        "request_s": round(len(done) / seconds, 1),
        "request_ms_median": round(statistics.median(done) * 1000, 1) if done else None,
        **probe.summary(),
    }


async def stall_phase(base: str, token: str, seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        body = largest_user(f"largest-{uuid.uuid4().hex[:8]}")
        async with session.post(f"{base}/scim/v2/Users", json=body, headers=headers) as made:
            created = await made.json(content_type=None)
            assert made.status == 201, created
    user_url = f"{base}/scim/v2/Users/{created['id']}"
    size = len(json.dumps(body))
    counter = iter(range(10**9))

    async def projected(session: aiohttp.ClientSession) -> int:
        params = {"attributes": NAMES}
        async with session.get(user_url, params=params, headers=headers) as response:
            await response.read()
            return response.status

    async def put(session: aiohttp.ClientSession) -> int:
        replacement = {**body, "title": f"title {next(counter)}"}
        async with session.put(user_url, json=replacement, headers=headers) as response:
            await response.read()
            return response.status

    async def bulk(session: aiohttp.ClientSession) -> int:
        payload = bulk_creates(1000, created["id"])
        async with session.post(f"{base}/scim/v2/Bulk", json=payload, headers=headers) as r:
            await r.read()
            return r.status

    results: dict[str, Any] = {"largest_user_bytes": size}
    results["idle"] = await heavy(base, headers, _idle, seconds, 1)
    for name, send in (("projected-get", projected), ("put-largest", put), ("bulk-1000", bulk)):
        results[name] = await heavy(base, headers, send, seconds, 1)
    results["projected-get-4-clients"] = await heavy(base, headers, projected, seconds, 4)
    return results


async def _idle(_session: aiohttp.ClientSession) -> int:
    await asyncio.sleep(0.05)
    return 200


async def bulk_phase(base: str, token: str, rounds: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM}
    timings: dict[str, list[float]] = {"independent": [], "chain": []}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        boss = {"schemas": [CORE], "userName": f"boss-{uuid.uuid4().hex[:8]}"}
        async with session.post(f"{base}/scim/v2/Users", json=boss, headers=headers) as made:
            manager = (await made.json(content_type=None))["id"]
        for _ in range(rounds):
            for label in timings:
                payload = bulk_creates(1000, None if label == "chain" else manager)
                start = time.perf_counter()
                async with session.post(f"{base}/scim/v2/Bulk", json=payload, headers=headers) as r:
                    answer = await r.json(content_type=None)
                    assert r.status == 200, answer
                    assert {o["status"] for o in answer["Operations"]} == {"201"}, answer
                timings[label].append(time.perf_counter() - start)
    medians = {label: round(statistics.median(t), 2) for label, t in timings.items()}
    return {"seconds": medians, "chain_ratio": round(medians["chain"] / medians["independent"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS / "limits.json")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    settings = yaml.safe_load(CONFIG.read_text())
    settings["server"]["bulk_max_depth"] = 1000  # the chain of phase 2
    with tempfile.TemporaryDirectory() as scratch:
        config_path = Path(scratch) / "gateway.yaml"
        config_path.write_text(yaml.safe_dump(settings))
        config = load_config(config_path)
        url = databases.fresh_sqlite(Path(scratch) / "limits.db", config, 1000)
        token = databases.new_token(url)
        log = RESULTS / "limits-server.log"
        with start_gateway(url, 1, log, config_path, worker=False) as server:
            stall = asyncio.run(stall_phase(server.url, token, args.seconds))
            bulk = asyncio.run(bulk_phase(server.url, token, args.rounds))
    print(json.dumps({"stall": stall, "bulk": bulk}, indent=2))
    # machine.describe() asks wrk for its version; this benchmark does not use wrk.
    host = {"cpus": os.cpu_count(), "load": os.getloadavg(), **machine.code()}
    results = {"machine": host, "stall": stall, "bulk": bulk}
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
