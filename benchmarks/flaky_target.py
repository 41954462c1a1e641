"""A delivery sink that can be down: the target of the outage benchmark.

Run as ``python -m benchmarks.flaky_target PORT``. It starts down: every POST to ``/hooks``
is answered 503 until ``POST /up`` (``POST /down`` takes it down again). ``GET /stats``
returns every request's arrival (seconds since the sink started) and status, and the time
it came back up, so the benchmark counts requests from the target's side.
"""

import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def app() -> Starlette:
    started = time.monotonic()
    state: dict[str, object] = {"down": True, "up_at": None}
    arrivals: list[tuple[float, int]] = []

    async def receive(request: Request) -> Response:
        await request.body()
        status = 503 if state["down"] else 200
        arrivals.append((time.monotonic() - started, status))
        return JSONResponse({}, status)

    async def up(_request: Request) -> JSONResponse:
        state["down"], state["up_at"] = False, time.monotonic() - started
        return JSONResponse({"up_at": state["up_at"]})

    async def down(_request: Request) -> JSONResponse:
        state["down"] = True
        return JSONResponse({})

    async def stats(_request: Request) -> JSONResponse:
        return JSONResponse({"arrivals": arrivals, "up_at": state["up_at"]})

    return Starlette(
        routes=[
            Route("/hooks", receive, methods=["POST"]),
            Route("/up", up, methods=["POST"]),
            Route("/down", down, methods=["POST"]),
            Route("/stats", stats),
        ]
    )


if __name__ == "__main__":
    uvicorn.run(app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
