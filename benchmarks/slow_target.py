"""A delivery sink for the worker benchmark: answers every POST after 50 ms.

Run as ``python -m benchmarks.slow_target PORT [DELAY_MS]``; counts requests per second
of arrival so the benchmark can check a configured rate from the target's side, and keeps
the first request it received (``/sample``: body and headers) so that the delivery
benchmark's yardstick can send the very same request.
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
SAMPLE: dict[str, object] = {}


def app(delay: float) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        ARRIVALS.append(time.monotonic())
        body = await request.body()
        if not SAMPLE:
            SAMPLE.update(body=body.decode(), headers=dict(request.headers))
        await asyncio.sleep(delay)
        return JSONResponse({})

    async def arrivals(_request: Request) -> JSONResponse:
        return JSONResponse(ARRIVALS)

    async def sample(_request: Request) -> JSONResponse:
        return JSONResponse(SAMPLE)

    return Starlette(
        routes=[
            Route("/hooks", receive, methods=["POST"]),
            Route("/arrivals", arrivals),
            Route("/sample", sample),
        ]
    )


if __name__ == "__main__":
    port, delay_ms = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
    uvicorn.run(app(delay_ms / 1000), host="127.0.0.1", port=port, log_level="warning")
