"""A delivery sink for the worker benchmark: answers every POST after 50 ms.

Run as ``python -m benchmarks.slow_target PORT [DELAY_MS]``; counts requests per second
of arrival so the benchmark can check a configured rate from the target's side.
"""

import asyncio
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ARRIVALS: list[float] = []


def app(delay: float) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        ARRIVALS.append(time.monotonic())
        await request.body()
        await asyncio.sleep(delay)
        return JSONResponse({})

    async def arrivals(_request: Request) -> JSONResponse:
        return JSONResponse(ARRIVALS)

    return Starlette(
        routes=[Route("/hooks", receive, methods=["POST"]), Route("/arrivals", arrivals)]
    )


if __name__ == "__main__":
    port, delay_ms = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
    uvicorn.run(app(delay_ms / 1000), host="127.0.0.1", port=port, log_level="warning")
