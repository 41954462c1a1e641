"""The SCIM comparison rules every filter evaluator reads (RFC 7644 §3.4.2.2).

Three evaluators answer SCIM filters: the SQL compiler (:mod:`gateway.store.filters`),
the predicate of a field map's value selection (``provisioning.mapping.paths``) and the
entry selector of a target path (``provisioning.connectors.scim_payload``). Where the RFC
is silent they must still agree, so the rules live here, as data, and
tests/gateway/store/test_comparison.py runs every rule through every evaluator:

- ``ne`` is the negation of ``eq`` (:data:`NEGATED`): it matches a resource or element
  lacking the attribute, and on a multi-valued attribute it means "no value equals".
- Unassigned and null are one state (RFC 7643 §2.5): null, ``""``, ``[]`` and ``{}`` are
  absent (:func:`is_empty`); ``pr`` is "not absent"; ``eq null`` is ``not pr`` and
  ``ne null`` is ``pr`` (:data:`NULL_MEANS_PRESENT`); no other operator takes null.
- Strings compare case-insensitively unless the attribute is caseExact (RFC 7643 §2.2),
  on the key :func:`text_key` gives, the same as scim2-models' default comparison key.
- Booleans take only ``eq`` and ``ne`` (:data:`BOOLEAN_OPERATORS`); ``co``, ``sw`` and
  ``ew`` only strings (:data:`SUBSTRING`).
- ``not`` treats an unknown comparison (SQL NULL) as false before negating it.

:data:`ORDERING` and :data:`SUBSTRING` hold functions that apply to Python values and, for
the operators, to SQLAlchemy expressions alike (``operator.gt(column, value)``).
"""

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scim2_models.path import CompareOperator

from gateway.errors import InvalidFilterException
from gateway.store.folding import fold

__all__ = [
    "BOOLEAN_OPERATORS",
    "NEGATED",
    "NULL_MEANS_PRESENT",
    "ORDERING",
    "SUBSTRING",
    "Substring",
    "equal",
    "is_empty",
    "null_means_present",
    "text_key",
]

#: The operators that compare two values directly (Python values or SQL expressions).
ORDERING: dict[CompareOperator, Callable[[Any, Any], Any]] = {
    CompareOperator.eq: operator.eq,
    CompareOperator.gt: operator.gt,
    CompareOperator.ge: operator.ge,
    CompareOperator.lt: operator.lt,
    CompareOperator.le: operator.le,
}


@dataclass(frozen=True)
class Substring:
    """A substring operator: its Python test and its SQL LIKE pattern (``{}`` the operand)."""

    test: Callable[[str, str], bool]  # (actual, expected)
    pattern: str


SUBSTRING: dict[CompareOperator, Substring] = {
    CompareOperator.co: Substring(lambda actual, expected: expected in actual, "%{}%"),
    CompareOperator.sw: Substring(str.startswith, "{}%"),
    CompareOperator.ew: Substring(str.endswith, "%{}"),
}

#: Operators answered as the negation of another one.
NEGATED: dict[CompareOperator, CompareOperator] = {CompareOperator.ne: CompareOperator.eq}

#: Comparing with null tests presence: ``eq null`` is ``not pr``, ``ne null`` is ``pr``.
NULL_MEANS_PRESENT: dict[CompareOperator, bool] = {
    CompareOperator.eq: False,
    CompareOperator.ne: True,
}

#: The operators a boolean takes: booleans have no order.
BOOLEAN_OPERATORS = frozenset({CompareOperator.eq, CompareOperator.ne})


def is_empty(value: Any) -> bool:
    """Whether a value counts as absent: null, ``""``, ``[]`` or ``{}`` (RFC 7643 §2.5).

    ``False`` and ``0`` are values.
    """
    return value is None or (isinstance(value, str | list | dict) and not value)


def null_means_present(op: CompareOperator) -> bool:
    """What a comparison with null tests: True for presence, False for absence.

    Raises:
        InvalidFilterException: ``op`` is not ``eq`` or ``ne``.
    """
    if op not in NULL_MEANS_PRESENT:
        raise InvalidFilterException(detail="null is only compared with eq and ne")
    return NULL_MEANS_PRESENT[op]


def text_key(value: str, case_exact: bool) -> str:
    """What a string compares as: itself when caseExact, else its folded form."""
    return value if case_exact else str(fold(value))


def equal(actual: Any, expected: Any, case_exact: bool = False) -> bool:
    """``actual eq expected`` for two JSON values; values of other types never match.

    A boolean is not a number here (``true eq 1`` is false), as in SQL and JSON.
    """
    if isinstance(actual, str) and isinstance(expected, str):
        return text_key(actual, case_exact) == text_key(expected, case_exact)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return bool(actual == expected)
