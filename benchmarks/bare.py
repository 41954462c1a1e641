"""The baseline: a bare starlette app serving one fixed SCIM user, on the same uvicorn.

No authentication, no database, no validation: what starlette, uvicorn and orjson cost
on their own, so the gateway's figures can be read as a fraction of it.

    python -m benchmarks.bare --port 8081 --workers 1
"""

import argparse

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks.seed import created_at, document

USER_ID = "2819c223-7f76-453a-919d-413861904646"
#: The document the gateway returns for a seeded user, with its location.
USER = document(1, USER_ID, created_at(1))
USER["meta"]["location"] = f"http://127.0.0.1/scim/v2/Users/{USER_ID}"


async def get_user(_request: Request) -> Response:
    return Response(orjson.dumps(USER), media_type="application/scim+json")


app = Starlette(routes=[Route("/scim/v2/Users/{id}", get_user, methods=["GET"])])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="bare starlette baseline")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # The same uvicorn.run arguments as `scimgw serve` (scimgw/cli.py): loop and http
    # stay "auto", which is uvloop and httptools when installed (uvicorn[standard]).
    uvicorn.run(
        "benchmarks.bare:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
