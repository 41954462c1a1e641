"""The invalidFilter errors this package raises, worded for a SCIM client."""

from gateway.errors import InvalidFilterException, SCIMException


def _detail(exc: Exception) -> str:
    return exc.detail if isinstance(exc, SCIMException) else str(exc)


def _invalid_filter(exc: Exception) -> InvalidFilterException:
    if isinstance(exc, InvalidFilterException):
        return exc
    return InvalidFilterException(detail=_detail(exc))


def _unsupported(what: str) -> InvalidFilterException:
    return InvalidFilterException(detail=f"{what} cannot be used in a filter")
