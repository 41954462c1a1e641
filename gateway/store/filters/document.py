"""The resource row as a scope: where each attribute lives (column, computed, relation, JSON)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_origin

import sqlalchemy as sa
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
)

from gateway.scim.kinds import Kind
from gateway.scim.visibility import observable, unobservable
from gateway.store.filters.context import (
    _Context,
    _is_complex,
    _name,
)
from gateway.store.filters.multivalued import (
    _RELATIONS,
    _AnyOf,
    _JsonArray,
    _Members,
)
from gateway.store.filters.refusals import (
    _unsupported,
)
from gateway.store.filters.scopes import (
    _Collection,
    _Target,
)
from gateway.store.filters.slots import (
    _column_slot,
    _json_slot,
)
from gateway.store.jsonpaths import JsonRef, json_document

_COMPUTED: dict[str, Callable[[Kind], sa.ColumnElement[Any]]] = {
    "meta.resourcetype": lambda kind: sa.literal(kind.name, sa.String()),
    "meta.version": lambda kind: (
        sa.literal('W/"', sa.String())
        + sa.cast(kind.table.c.version, sa.String())
        + sa.literal('"', sa.String())
    ),
}


#: Attributes the document does not hold: meta is rebuilt from columns, passwords dropped.
_NOT_STORED = frozenset({"meta", "password"})


@dataclass(frozen=True)
class _Document:
    """The resource row: its columns, its membership rows and its JSON document."""

    ctx: _Context

    @property
    def doc(self) -> JsonRef:
        return json_document(self.ctx.kind.table.c.doc, self.ctx.dialect)

    def target(self, path: AttrPath, comparison: bool = False) -> _Target:
        ctx = self.ctx
        if (entry := _map_entry(ctx, path)) is not None:
            return _json_slot(self.doc.child(*entry), None, "lower", ctx.dialect)
        binding = ctx.resolve(path, comparison)
        keys = ctx.keys(binding)
        name = _name(keys)
        if name in ctx.kind.indexed:
            column = ctx.kind.table.c[ctx.kind.indexed[name]]
            return _column_slot(column, binding, ctx.text_mode(binding, name), ctx.dialect)
        if name in _COMPUTED:
            expression = _COMPUTED[name](ctx.kind)
            return _column_slot(expression, binding, ctx.text_mode(binding), ctx.dialect)
        if keys[0] in _NOT_STORED:
            raise _unsupported(f"'{path}'")
        if binding.is_multivalued:
            return _AnyOf(self.collection(path), _element_path(binding, keys))
        return _json_slot(self.doc.child(*keys), binding, ctx.text_mode(binding), ctx.dialect)

    def collection(self, path: AttrPath) -> _Collection:
        binding = self.ctx.resolve(AttrPath(path.attr, None, path.uri), False)
        keys = self.ctx.keys(binding)
        if (relation := _RELATIONS.get((self.ctx.kind.name, keys[0]))) is not None:
            return _Members(self.ctx, path, relation)
        return _JsonArray(self.ctx, path, self.doc.child(*keys), binding)


def _map_entry(ctx: _Context, path: AttrPath) -> tuple[str, ...] | None:
    """The document keys of ``map.key`` when ``map`` is a free map (a dict attribute).

    scim2-models has no schema to resolve ``key`` in, so the entry is typed by the operand.
    """
    if not path.sub_attr:
        return None
    head = ctx.resolver.resolve(AttrPath(path.attr, None, path.uri), strict=False)
    if head is None or dict not in (head.field_type, get_origin(head.field_type)):
        return None
    if not observable(head):
        raise unobservable(path)
    return (*ctx.keys(head), path.sub_attr)


def _element_path(binding: AttributeBinding, keys: tuple[str, ...]) -> AttrPath | None:
    """What a comparison on a multi-valued attribute compares in each element."""
    if binding.sub_field_name:
        return AttrPath(keys[-1])
    return None if _is_complex(binding.field_type) else AttrPath("value")
