"""The gateway's exceptions, and the one place that turns any of them into HTTP.

Hierarchy::

    SCIMException (scim2-models: one class per scimType / status)
     ├── InvalidFilterException, InvalidSyntaxException, UniquenessException, ...
     ├── UnauthorizedException          401, no credentials or bad ones
     ├── ForbiddenException             403, the token lacks a scope
     ├── NotFoundException              404
     ├── PreconditionFailedException    412, If-Match mismatch
     ├── PayloadTooLargeException       413
     └── gateway extras below: NotModified (304), MethodNotAllowed (405),
         UnsupportedMediaType (415)

Everything else reaching :func:`error_response` is a bug: it is logged and answered with
a 500 SCIM Error that reveals nothing.
"""

from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from scim2_models import (
    ConflictException,
    Error,
    ForbiddenException,
    InvalidFilterException,
    InvalidSyntaxException,
    InvalidValueException,
    MutabilityException,
    NotFoundException,
    NotImplementedException,
    PayloadTooLargeException,
    PreconditionFailedException,
    SCIMException,
    TooManyException,
    UnauthorizedException,
    UniquenessException,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "ConflictException",
    "ForbiddenException",
    "InvalidFilterException",
    "InvalidSyntaxException",
    "InvalidValueException",
    "MethodNotAllowed",
    "MutabilityException",
    "NotFoundException",
    "NotImplementedException",
    "NotModified",
    "PayloadTooLargeException",
    "PreconditionFailedException",
    "SCIMException",
    "TooManyException",
    "UnauthorizedException",
    "UniquenessException",
    "UnsupportedMediaType",
    "error_body",
    "error_response",
    "from_validation_error",
]

SCIM_MEDIA_TYPE = "application/scim+json"
log = structlog.get_logger("gateway.errors")


class NotModified(SCIMException):
    """If-None-Match matched the current version (RFC 7644 §3.14): 304, no body."""

    status = 304


class MethodNotAllowed(SCIMException):
    """The endpoint exists but does not take this method."""

    status = 405
    _default_detail = "Method not allowed on this endpoint"


class UnsupportedMediaType(SCIMException):
    """The body is not ``application/scim+json`` or ``application/json`` (RFC 7644 §3.1)."""

    status = 415
    _default_detail = "Content-Type must be application/scim+json or application/json"


def from_validation_error(exc: ValidationError) -> SCIMException:
    """Turn a pydantic validation error from scim2-models into the SCIM error it carries.

    scim2-models raises its SCIM exceptions inside validators, where pydantic wraps them;
    their ``scimType`` and status travel in the error context. An error without one is a
    value the schema refuses: 400 ``invalidValue``.
    """
    details = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "")
        message = error.get("msg", "invalid value")
        details.append(f"{location}: {message}" if location else message)
        context = error.get("ctx") or {}
        if context.get("scim_type") or context.get("status"):
            return _scim_exception(context, "; ".join(details))
    return InvalidValueException(detail="; ".join(details))


def _scim_exception(context: dict[str, Any], detail: str) -> SCIMException:
    error = Error(
        status=int(context.get("status") or 400),
        scim_type=context.get("scim_type") or None,
        detail=detail,
    )
    return SCIMException.from_error(error)


def error_body(exc: SCIMException) -> dict[str, Any]:
    """The SCIM Error document for an exception (RFC 7644 §3.12)."""
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(exc.status),
        "detail": exc.detail,
    }
    if exc.scim_type:
        body["scimType"] = exc.scim_type
    return body


def as_scim_exception(exc: Exception) -> SCIMException:
    """Classify any exception raised while serving a request."""
    if isinstance(exc, SCIMException):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, HTTPException):
        error = SCIMException(detail=exc.detail or "HTTP error")
        error.status = exc.status_code
        return error
    log.exception("unhandled_error", error_type=type(exc).__name__)
    internal = SCIMException(detail="Internal server error; the request was not applied")
    internal.status = 500
    return internal


def error_response(exc: Exception, headers: dict[str, str] | None = None) -> Response:
    """The HTTP response for any exception: the only place exceptions become HTTP."""
    scim_exc = as_scim_exception(exc)
    if scim_exc.status == 304:
        return Response(status_code=304, headers=headers)
    extra = dict(headers or {})
    if scim_exc.status == 401:
        extra.setdefault("WWW-Authenticate", 'Bearer realm="scimgw"')
    return Response(
        orjson.dumps(error_body(scim_exc)),
        status_code=scim_exc.status,
        media_type=SCIM_MEDIA_TYPE,
        headers=extra,
    )


async def handle_exception(_request: Request, exc: Exception) -> Response:
    """Starlette exception handler delegating to :func:`error_response`."""
    return error_response(exc)
