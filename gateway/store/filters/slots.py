"""Where one compared value lives in SQL (a column or a JSON member), and its comparisons."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from scim2_models.path import (
    AttributeBinding,
    CompareOperator,
    coerce_value,
)

from gateway.errors import InvalidValueException
from gateway.scim.kinds import fold
from gateway.store.comparison import (
    NEGATED,
)
from gateway.store.database import fold_sql
from gateway.store.filters.context import (
    Condition,
)
from gateway.store.filters.operands import (
    _COMPARISONS,
    _LIKE,
    _check_operator,
    _compared,
    _escape_like,
    _number,
    _Operand,
    _operand_type,
    _plain,
    _utc,
    _value_type,
)
from gateway.store.jsonpaths import JsonRef

# SQLite's LIKE ignores ASCII case, so caseExact substring tests use plain functions there.
# The operand's length is taken in SQL, so that the statement holds for any operand.
_EXACT_SQLITE: dict[CompareOperator, Callable[[Any, Any], Condition]] = {
    CompareOperator.co: lambda left, v: sa.func.instr(left, v) > 0,
    CompareOperator.sw: lambda left, v: sa.func.substr(left, 1, sa.func.length(v)) == v,
    CompareOperator.ew: lambda left, v: sa.func.substr(left, -sa.func.length(v)) == v,
}


@dataclass(frozen=True)
class _Slot:
    """Where one compared value lives in SQL."""

    read: Callable[[str], sa.ColumnElement[Any]]  # the value, given its type
    presence: Condition
    binding: AttributeBinding | None  # None: an entry of a free map, typed by its operand
    text: str  # "exact", "lower" or "folded" (the column holds fold(value))
    dialect: str

    def present(self) -> Condition:
        return self.presence

    def compare(self, op: CompareOperator, operand: "_Operand") -> Condition:
        value = operand.prepare(self.preparer(op))
        value_type = self._type(value)
        left = self.read(value_type)
        if value_type == "string" and self.text == "lower":
            left = fold_sql(left, self.dialect)
        if op in _LIKE:
            if not value:  # every string contains "", starts and ends with it
                return self.read(value_type).is_not(None)
            right = operand.bind(value, sa.String())
            if self.text == "exact" and self.dialect == "sqlite":
                return _EXACT_SQLITE[op](left, right)
            return left.like(right, escape="/")
        # Strings bind as text; other values take the type they are compared with, as
        # SQLAlchemy types a plain Python value (a datetime as the column stores one).
        string = value_type == "string"
        right = operand.bind(value, sa.String() if string else _compared(left, op, value))
        if op in NEGATED:
            equal = _COMPARISONS[NEGATED[op]](left, right)
            return sa.not_(sa.func.coalesce(equal, sa.false()))
        return _COMPARISONS[op](left, right)

    def preparer(self, op: CompareOperator) -> Callable[[Any], Any]:
        """What turns an operand into the value it binds as: coerced to the attribute's
        type, checked against the operator, then folded or made a LIKE pattern. It raises
        InvalidFilterException for an operand the attribute refuses."""
        binding, text = self.binding, self.text
        attribute_type = _value_type(binding) if binding is not None else None
        as_is = text == "exact" and self.dialect == "sqlite"  # instr/substr, no pattern

        def prepare(raw: Any) -> Any:
            operand = _plain(coerce_value(binding, raw, op)) if binding is not None else raw
            value_type = attribute_type or _operand_type(operand)
            _check_operator(op, operand, value_type)
            if op in _LIKE:
                if not operand or as_is:
                    return operand
                pattern = _LIKE[op].format(_escape_like(operand))
                return pattern if text == "exact" else fold(pattern)
            if isinstance(operand, datetime):
                return _utc(operand)
            if value_type == "number":
                return _number(operand)
            if value_type == "string" and text != "exact":
                return fold(operand)  # "folded" columns hold fold(value); "lower" folds in SQL
            return operand

        return prepare

    def _type(self, operand: Any) -> str:
        return _value_type(self.binding) if self.binding else _operand_type(operand)

    def sort_key(self) -> sa.ColumnElement[Any]:
        if self.binding is None:
            raise InvalidValueException(detail="entries of a free map have no type to sort by")
        value_type = _value_type(self.binding)
        value = self.read(value_type)
        if value_type == "string" and self.text == "lower":
            return fold_sql(value, self.dialect)
        return value


def _json_slot(ref: JsonRef, binding: AttributeBinding | None, text: str, dialect: str) -> _Slot:
    return _Slot(ref.value, ref.present(), binding, text, dialect)  # type: ignore[arg-type]


def _column_slot(
    column: sa.ColumnElement[Any], binding: AttributeBinding, text: str, dialect: str
) -> _Slot:
    present: Condition = column.is_not(None)
    if _value_type(binding) == "string":
        present = sa.and_(present, column != "")
    return _Slot(lambda _type: column, present, binding, text, dialect)
