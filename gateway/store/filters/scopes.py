"""The three roles of the compiler's tree walk: a target compared, a scope resolving paths,
a collection of values."""

from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa
from scim2_models.path import (
    AttrPath,
    CompareOperator,
)

from gateway.store.filters.context import (
    Condition,
)
from gateway.store.filters.operands import (
    _Operand,
)


class _Target(Protocol):
    """Something a comparison, ``pr`` or ``sortBy`` applies to: a slot, or any element's."""

    def compare(self, op: CompareOperator, operand: "_Operand") -> Condition: ...
    def present(self) -> Condition: ...
    def sort_key(self) -> sa.ColumnElement[Any]: ...


class _Scope(Protocol):
    """Where attribute paths are resolved: the resource, or one element inside ``[...]``."""

    def target(self, path: AttrPath, comparison: bool = False) -> _Target: ...
    def collection(self, path: AttrPath) -> "_Collection": ...


class _Collection(Protocol):
    """The values of a multi-valued attribute, as rows of a correlated subquery."""

    def exists(self, where: Callable[[_Scope], Condition]) -> Condition: ...
    def present(self) -> Condition: ...
    def first(self, read: Callable[[_Scope], sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]: ...
