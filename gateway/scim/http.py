"""Reading SCIM request bodies and writing SCIM responses."""

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import (
    SCIM_MEDIA_TYPE,
    InvalidSyntaxException,
    PayloadTooLargeException,
    UnsupportedMediaType,
)

ACCEPTED_MEDIA_TYPES = ("application/scim+json", "application/json")


def header(request: Request, name: bytes) -> str | None:
    """The first value of a request header; ``name`` in lower case, as ASGI gives names.

    Read from the scope: ``request.headers`` builds a Headers object to scan the same
    list, which cost more than the scan on the busiest requests.
    """
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object; 415, 413 or 400 ``invalidSyntax`` when it is not one."""
    media_type = (header(request, b"content-type") or "").split(";")[0].strip().lower()
    # RFC 7644 §3.1 requires the header, but IdPs' connection probes sometimes omit it:
    # an absent type is read as JSON, a wrong one is refused.
    if media_type and media_type not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType()
    declared = header(request, b"content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeException(detail=f"request body exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLargeException(detail=f"request body exceeds {limit} bytes")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidSyntaxException(detail=f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="request body must be a JSON object")
    return payload


def scim_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status_code, media_type=SCIM_MEDIA_TYPE, headers=headers
    )
