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
         UnsupportedMediaType (415), TooManyRequests (429)

Everything else reaching :func:`error_response` is a bug: it is logged and answered with
a 500 SCIM Error that reveals nothing.
"""

from typing import Any, get_args

import orjson
import structlog
from pydantic import ValidationError
from pydantic_core.core_schema import ErrorType
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
    "TooManyRequests",
    "UnauthorizedException",
    "UniquenessException",
    "UnsupportedMediaType",
    "error_body",
    "error_response",
    "from_validation_error",
    "reworded",
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


class TooManyRequests(SCIMException):
    """The caller is over its request rate (RFC 6585 §4); answered with ``Retry-After``."""

    status = 429
    _default_detail = "Too many requests; retry after the number of seconds in Retry-After"


#: What an attribute expected, worded for a SCIM client, by pydantic's error type
#: (RFC 7643 §2.3 names the types). pydantic's own sentences name Python notions.
EXPECTED: dict[str, str] = {
    **dict.fromkeys(("bool_parsing", "bool_type"), "expected a boolean (true or false)"),
    **dict.fromkeys(("int_parsing", "int_type", "int_from_float"), "expected an integer"),
    **dict.fromkeys(("float_parsing", "float_type"), "expected a decimal number"),
    **dict.fromkeys(("string_type", "string_sub_type"), "expected a string"),
    **dict.fromkeys(
        ("datetime_parsing", "datetime_type", "datetime_from_date_parsing", "timezone_aware"),
        "expected a dateTime such as 2024-05-01T09:00:00Z (RFC 7643 §2.3.5)",
    ),
    **dict.fromkeys(
        ("dict_type", "model_type", "model_attributes_type", "mapping_type"),
        "expected a complex value (a JSON object)",
    ),
    **dict.fromkeys(("list_type", "iterable_type"), "expected a list of values"),
    **dict.fromkeys(("url_parsing", "url_type", "url_scheme"), "expected a URI"),
    **dict.fromkeys(("enum", "literal_error"), "expected one of the canonical values"),
    "extra_forbidden": "is not an attribute of the resource's schemas",
    "missing": "is required",
    "required_error": "is required",  # scim2-models': a required attribute null or empty
}
#: Error types pydantic itself raises; the other types are the validators' own (those
#: of scim2-models and of scimgw), whose messages are written for SCIM clients already.
PYDANTIC_ERROR_TYPES = frozenset(get_args(ErrorType)) - {"value_error", "assertion_error"}


def from_validation_error(exc: ValidationError) -> SCIMException:
    """Turn a pydantic validation error from scim2-models into the SCIM error it carries.

    scim2-models raises its SCIM exceptions inside validators, where pydantic wraps them;
    their ``scimType`` and status travel in the error context. An error without one is a
    value the schema refuses: 400 ``invalidValue``, its detail naming the attribute path
    and what was expected, never pydantic's wording nor the value (it may be sensitive).
    """
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        details.append(_describe(error))
        context = error.get("ctx") or {}
        if context.get("scim_type") or context.get("status"):
            return _scim_exception(context, "; ".join(details))
    return InvalidValueException(detail="; ".join(details))


def _describe(error: Any) -> str:
    """``emails[0].value: expected a string``, for one pydantic error."""
    kind = str(error.get("type", ""))
    message = EXPECTED.get(kind)
    if message is None:
        own = str(error.get("msg", "")).removeprefix("Value error, ")
        message = (
            "invalid value"
            if kind in PYDANTIC_ERROR_TYPES
            else own.removeprefix("Assertion failed, ")
        )
    # scim2-models' model-wide checks name their attribute in the context, not the location.
    named = (error.get("ctx") or {}).get("field_name")
    location = attribute_path((*error.get("loc", ()), *([named] if named else [])))
    return f"{location}: {message}" if location else message


def attribute_path(location: tuple[Any, ...]) -> str:
    """A pydantic location as a SCIM attribute path: ``urn:...:User:manager``,
    ``emails[0].value``; Python field names (a PATCH's assignments) in their SCIM
    spelling, and pydantic's own steps (``function-after[...]``) left out."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and "[" not in str(part):
            name = _camel(str(part))
            separator = ":" if path.startswith("urn:") and ":" not in path[-1:] else "."
            path = f"{path}{separator}{name}" if path else name
    return path


def _camel(name: str) -> str:
    if name.startswith("urn:") or "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


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
        return reworded(exc)
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


def reworded(exc: SCIMException, within: str = "") -> SCIMException:
    """scim2-models' PATCH puts a ValidationError's raw text in its detail: say it again
    in SCIM terms, keeping the status and scimType it chose."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationError):
        return exc
    errors = cause.errors(include_url=False, include_input=False)
    detail = "; ".join(_describe({**e, "loc": (within, *e["loc"])}) for e in errors)
    return SCIMException.from_error(
        Error(status=exc.status, scim_type=exc.scim_type or None, detail=detail)
    )


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
