"""What every scope of one filter compilation shares: the kind, its bound model, the dialect."""

from dataclasses import dataclass
from inspect import isclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from scim2_models import ScimFilter
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
)

from gateway.scim.kinds import Kind
from gateway.scim.visibility import observable, unobservable

Condition = sa.ColumnElement[bool]


@dataclass(frozen=True)
class _Context:
    """What every scope of one compilation shares."""

    kind: Kind
    resolver: ScimFilter[Any]
    dialect: str

    def resolve(self, path: AttrPath, comparison: bool) -> AttributeBinding:
        """Bind a path to the kind's model; an unknown attribute raises invalidFilter."""
        resolve = self.resolver.resolve_comparison if comparison else self.resolver.resolve
        binding = resolve(path, strict=True)
        assert binding is not None  # the resolver is always bound to one model
        if not observable(binding):
            raise unobservable(path)
        return binding

    def keys(self, binding: AttributeBinding) -> tuple[str, ...]:
        """The member names of the attribute in the document, extension URN first."""
        schema = str(getattr(binding.model, "__schema__", ""))
        names = tuple(binding.urn[len(schema) + 1 :].split("."))
        core = str(getattr(self.kind.model, "__schema__", ""))
        return names if schema == core else (schema, *names)

    def text_mode(self, binding: AttributeBinding, name: str = "") -> str:
        if name in self.kind.folded:
            return "folded"
        return "exact" if binding.case_exact else "lower"


def _name(keys: tuple[str, ...]) -> str:
    """The lower-cased attribute path, as :attr:`Kind.indexed` spells it."""
    if keys[0].lower().startswith("urn:"):
        return f"{keys[0]}:{'.'.join(keys[1:])}".lower()
    return ".".join(keys).lower()


def _is_complex(field_type: Any) -> bool:
    return isclass(field_type) and issubclass(field_type, BaseModel)
