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
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
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
    """A SCIM JSON document as a response (a 2xx with a body)."""
    return ScimResponse(orjson.dumps(body), status_code, headers)


class ScimResponse(Response):
    """A response whose headers are encoded directly: starlette's generic encoding
    (lower-casing, searching the given headers for content-type and -length) is a
    measurable share of a ``GET /Users/{id}``, and these two headers are always the same
    kind of value."""

    media_type = SCIM_MEDIA_TYPE
    _CONTENT_TYPE = (b"content-type", SCIM_MEDIA_TYPE.encode())

    def __init__(
        self, body: bytes, status_code: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        raw = [self._CONTENT_TYPE, (b"content-length", str(len(body)).encode())]
        if headers:
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw
