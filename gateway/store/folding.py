"""Case folding shared by the stored columns, the filter operands and SQLite's SQL."""

from unicodedata import normalize


def fold(value: str | None) -> str | None:
    """Return the case-insensitive comparison key of a string.

    The same function as scim2-models' default comparison key (NFC, then lower case), so
    that a value folded at write time matches a filter operand folded at query time.
    """
    if value is None:
        return None
    return normalize("NFC", normalize("NFC", value).lower())
