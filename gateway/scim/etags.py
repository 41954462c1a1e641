"""Versions and ETags (RFC 7644 §3.14): ``meta.version`` and the ETag are ``W/"<n>"``."""

from gateway.errors import NotModified, PreconditionFailedException


def etag(version: int) -> str:
    return f'W/"{version}"'


def _tags(header: str) -> set[str]:
    # Compare weakly (RFC 9110 §8.8.3.2): W/"3" and "3" name the same version.
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def check_if_match(header: str | None, version: int) -> None:
    """Refuse a write whose If-Match names another version: 412."""
    if header is None:
        return
    tags = _tags(header)
    if "*" not in tags and f'"{version}"' not in tags:
        raise PreconditionFailedException(
            detail=f"If-Match {header} does not match the current version {etag(version)}"
        )


def check_if_none_match(header: str | None, version: int) -> None:
    """Answer 304 to a GET whose If-None-Match names the current version."""
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags or f'"{version}"' in tags:
        raise NotModified()
