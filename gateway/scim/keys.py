"""Attribute names as a payload spells them: SCIM names are case-insensitive (RFC 7643 §2.1)."""

from collections.abc import Mapping
from typing import Any

__all__ = ["attribute_key"]


def attribute_key(mapping: Mapping[str, Any], name: str) -> str | None:
    """The key of ``mapping`` naming the attribute ``name``, in any case; None if absent."""
    folded = name.lower()
    return next((key for key in mapping if key.lower() == folded), None)
