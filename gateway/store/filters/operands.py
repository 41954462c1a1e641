"""Filter operands: numbered as the compiler meets them, checked against the operator and
the attribute's type, and turned into the parameter values both engines bind."""

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from inspect import isclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic.networks import EmailStr
from scim2_models.path import (
    AttributeBinding,
    CompareOperator,
)

from gateway.errors import InvalidFilterException
from gateway.store.comparison import (
    BOOLEAN_OPERATORS,
    ORDERING,
    SUBSTRING,
)
from gateway.store.filters.refusals import (
    _unsupported,
)

_COMPARISONS = ORDERING  # the rules shared with the Python evaluators
_LIKE: dict[CompareOperator, str] = {op: rule.pattern for op, rule in SUBSTRING.items()}


@dataclass
class _Operands:
    """The comparisons of one compilation, numbered in the order the compiler meets them."""

    unique: bool
    prepare: dict[int, Callable[[Any], Any]] = field(default_factory=dict)
    count: int = 0

    def take(self, value: Any) -> "_Operand":
        self.count += 1
        return _Operand(value, self.count - 1, self)


@dataclass(frozen=True)
class _Operand:
    """A value compared with an attribute: a filter's operand, or a constant of the SQL."""

    value: Any
    number: int = -1
    operands: _Operands | None = None  # None: a constant, bound as a fixed value

    def prepare(self, prepare: Callable[[Any], Any]) -> Any:
        """Turn the operand into its parameter value, remembering how for its number."""
        if self.operands is not None:
            self.operands.prepare[self.number] = prepare
        return prepare(self.value)

    def bind(self, value: Any, type_: sa.types.TypeEngine[Any]) -> sa.BindParameter[Any]:
        if self.operands is None:
            return sa.literal(value, type_)
        name = f"operand_{self.number}"
        return sa.bindparam(name, value, type_=type_, unique=self.operands.unique)


def _value_type(binding: AttributeBinding) -> str:
    """The type a comparison of the attribute uses; complex and binary ones have none."""
    target = binding.target_type
    if not isclass(target) or issubclass(target, bytes | BaseModel | dict):
        raise _unsupported(f"the value of '{binding.urn}'")
    if issubclass(target, bool):
        return "boolean"
    if issubclass(target, int | float):
        return "number"
    if issubclass(target, datetime):
        return "datetime"
    if issubclass(target, str | Enum) or target is EmailStr:
        return "string"
    raise _unsupported(f"the value of '{binding.urn}'")


def _compared(left: Any, op: CompareOperator, value: Any) -> sa.types.TypeEngine[Any]:
    """The type SQLAlchemy gives a plain value compared with ``left``."""
    return left.type.coerce_compared_value(_COMPARISONS.get(op, operator.eq), value)


_OPERAND_TYPES: dict[type, str] = {bool: "boolean", int: "number", float: "number", str: "string"}


def _operand_type(value: Any) -> str:
    name = _OPERAND_TYPES.get(type(value))  # the exact types first: once per operand
    if name is not None:
        return name
    for python_type, name in ((bool, "boolean"), (int | float, "number"), (str, "string")):
        if isinstance(value, python_type):
            return name
    raise InvalidFilterException(detail=f"{value!r} is not a value a filter can compare")


def _check_operator(op: CompareOperator, operand: Any, value_type: str) -> None:
    if op in _LIKE:
        if value_type != "string" or not isinstance(operand, str):
            raise InvalidFilterException(detail=f"'{op.value}' only compares strings")
        return
    if op not in BOOLEAN_OPERATORS and value_type == "boolean":
        raise InvalidFilterException(detail=f"'{op.value}' does not order booleans")
    actual = "datetime" if isinstance(operand, datetime) else _operand_type(operand)
    if actual != value_type:
        raise InvalidFilterException(detail=f"{operand!r} cannot be compared with a {value_type}")


def _number(value: float) -> float:
    """A number operand as the float JSON numbers are read as (gateway.store.jsonpaths).

    SQLite cannot bind an integer beyond 64 bits (``eq 10^30`` was a 500 there); as a
    float it compares on both engines as the stored numbers do.
    """
    try:
        return float(value)
    except OverflowError:
        raise InvalidFilterException(detail=f"{value} is beyond the range of a number") from None


def _plain(value: Any) -> Any:
    """Drop the wrappers coercion adds (enums, str subclasses), which drivers may refuse."""
    if isinstance(value, Enum):
        value = value.value
    return str(value) if isinstance(value, str) else value


def _utc(value: datetime) -> datetime:
    """The instant in UTC, the timezone of the timestamp columns; without offset, read as UTC.

    An instant beyond years 1-9999 in UTC (``9999-12-31T23:59:59-14:00``) becomes the
    nearest one within: no stored value lies beyond it, so every comparison answers the
    same, where neither driver could bind it (a 500 on both engines).
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.max if value.year == datetime.max.year else datetime.min).replace(
            tzinfo=UTC
        )


def _escape_like(value: str) -> str:
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")
