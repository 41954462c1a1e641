"""Multi-valued attributes: JSON arrays walked as rows, and the membership table."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
    CompareOperator,
)

from gateway.errors import InvalidFilterException, InvalidValueException
from gateway.store.comparison import (
    NEGATED,
)
from gateway.store.filters.context import (
    Condition,
    _Context,
    _is_complex,
)
from gateway.store.filters.operands import (
    _Operand,
)
from gateway.store.filters.refusals import (
    _unsupported,
)
from gateway.store.filters.scopes import (
    _Collection,
    _Scope,
    _Target,
)
from gateway.store.filters.slots import (
    _column_slot,
    _json_slot,
    _Slot,
)
from gateway.store.jsonpaths import Elements, JsonRef
from gateway.store.tables import Membership

MEMBERSHIP: sa.Table = Membership.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Relation:
    """A multi-valued attribute kept in the membership table rather than in the document."""

    owner: str  # the membership column holding the id of the filtered resource
    columns: dict[str, str]  # sub-attribute (lower case) -> membership column


_RELATIONS: dict[tuple[str, str], _Relation] = {
    ("Group", "members"): _Relation("group_id", {"value": "member_id", "type": "member_type"}),
    ("User", "groups"): _Relation("member_id", {"value": "group_id"}),
}


@dataclass(frozen=True)
class _AnyOf:
    """A multi-valued attribute's sub-attribute: matches when some element matches."""

    values: _Collection
    sub: AttrPath | None  # None: the attribute itself, which only ``pr`` applies to

    def _in(self, scope: _Scope) -> _Target:
        if self.sub is None:
            raise _unsupported("a complex attribute compared as a whole")
        return scope.target(self.sub)

    def compare(self, op: CompareOperator, operand: _Operand) -> Condition:
        if op in NEGATED:  # no element equals (gateway.store.comparison)
            eq = NEGATED[op]
            return sa.not_(self.values.exists(lambda scope: self._in(scope).compare(eq, operand)))
        return self.values.exists(lambda scope: self._in(scope).compare(op, operand))

    def present(self) -> Condition:
        if self.sub is None:
            return self.values.present()
        return self.values.exists(lambda scope: self._in(scope).present())

    def sort_key(self) -> sa.ColumnElement[Any]:
        return self.values.first(lambda scope: self._in(scope).sort_key())


@dataclass(frozen=True)
class _Element:
    """One value of a multi-valued attribute: the scope of the filter in ``emails[...]``."""

    ctx: _Context
    outer: AttrPath
    slot: Callable[[AttributeBinding], _Slot]  # where a sub-attribute of the value lives

    def target(self, path: AttrPath, comparison: bool = False) -> _Target:
        if path.uri or path.sub_attr:
            raise InvalidFilterException(detail=f"'{path}' is no sub-attribute of {self.outer}")
        head = self.ctx.resolve(AttrPath(self.outer.attr, None, self.outer.uri), False)
        if _is_complex(head.field_type):
            sub = AttrPath(self.outer.attr, path.attr, self.outer.uri)
            return self.slot(self.ctx.resolve(sub, False))
        if path.attr.lower() == "value":  # a list of plain values: "value" is the value
            return self.slot(head)
        raise InvalidFilterException(detail=f"'{self.outer}' holds plain values, named 'value'")

    def collection(self, path: AttrPath) -> _Collection:
        raise InvalidFilterException(detail="value filters cannot nest")


@dataclass(frozen=True)
class _JsonArray:
    """An array in the document, walked with json_each / jsonb_array_elements."""

    ctx: _Context
    outer: AttrPath
    array: JsonRef
    binding: AttributeBinding

    def _rows(self) -> tuple[Elements, _Element]:
        rows = self.array.elements()

        def slot(binding: AttributeBinding) -> _Slot:
            ref = (
                rows.item.child(self.ctx.keys(binding)[-1]) if binding.sub_field_name else rows.item
            )
            return _json_slot(ref, binding, self.ctx.text_mode(binding), self.ctx.dialect)

        return rows, _Element(self.ctx, self.outer, slot)

    def exists(self, where: Callable[[_Scope], Condition]) -> Condition:
        rows, element = self._rows()
        query = sa.select(1).select_from(rows.source)
        return sa.exists(query.where(sa.and_(rows.guard, where(element))))

    def present(self) -> Condition:
        return self.array.present()

    def first(self, read: Callable[[_Scope], sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        """The primary value, else the first one (RFC 7644 §3.4.2.3)."""
        rows, element = self._rows()
        order: list[Any] = [rows.position]
        if "primary" in getattr(self.binding.field_type, "model_fields", {}):
            primary = element.target(AttrPath("primary"))
            is_primary = primary.compare(CompareOperator.eq, _Operand(True))
            order.insert(0, sa.case((is_primary, 0), else_=1))
        query = sa.select(read(element)).select_from(rows.source).where(rows.guard)
        return query.order_by(*order).limit(1).scalar_subquery()


@dataclass(frozen=True)
class _Members:
    """Group members or User groups: rows of the membership table, same tenant."""

    ctx: _Context
    outer: AttrPath
    relation: _Relation

    def _slot(self, binding: AttributeBinding) -> _Slot:
        column = self.relation.columns.get(self.ctx.keys(binding)[-1].lower())
        if column is None:
            names = ", ".join(f"{self.outer.attr}.{name}" for name in self.relation.columns)
            raise _unsupported(f"'{binding.urn}' (only {names})")
        text = self.ctx.text_mode(binding)
        return _column_slot(MEMBERSHIP.c[column], binding, text, self.ctx.dialect)

    def exists(self, where: Callable[[_Scope], Condition]) -> Condition:
        table = self.ctx.kind.table
        return sa.exists().where(
            MEMBERSHIP.c[self.relation.owner] == table.c.id,
            MEMBERSHIP.c.tenant_id == table.c.tenant_id,
            where(_Element(self.ctx, self.outer, self._slot)),
        )

    def present(self) -> Condition:
        return self.exists(lambda _scope: sa.true())

    def first(self, read: Callable[[_Scope], sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        raise InvalidValueException(detail=f"cannot sort by '{self.outer}'")
