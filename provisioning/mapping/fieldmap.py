"""Field maps: how a connection turns a stored SCIM User into a target's payload.

A field map is data, a table from target field to SCIM value (STYLE.md: "a field map is a
table, not a language")::

    email: 'emails[type eq "work"].value'      # shorthand: a SCIM path
    login:
      from: ['emails[type eq "work"].value', userName]   # the first with a value wins
      transform: [lower]
      required: true
    hire_date: {from: "hr:hireDate", transform: [{date: "%d/%m/%Y"}]}
    manager_email: {transform: [{manager: email}]}
    branch: {constant: "7"}

Entry keys: ``from`` (a path or a list of paths, see :mod:`provisioning.mapping.paths`),
``transform`` (steps of :mod:`provisioning.mapping.transforms`), ``default`` (the target value
when there is none), ``required`` and ``constant``. Everything is parsed and checked once,
by :meth:`FieldMap.parse`; :meth:`FieldMap.apply` then only reads documents.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    ValidationError,
    field_validator,
    model_validator,
)

from provisioning.errors import MappingError
from provisioning.mapping.paths import ScimPath, first_value, is_empty, parse_path
from provisioning.mapping.transforms import (
    Manager,
    MappingContext,
    Transform,
    explain,
    parse_transform,
)

__all__ = ["FieldEntry", "FieldMap", "MappingContext", "payload_digest"]

_NO_CONTEXT = MappingContext()


class FieldEntry(BaseModel):
    """How one target field gets its value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: tuple[InstanceOf[ScimPath], ...] = Field((), alias="from")
    """Paths read in order; the first non-empty value wins."""
    transform: tuple[InstanceOf[Transform], ...] = ()
    """Steps applied in order, to the value or to null when the paths gave none."""
    default: Any = None
    """The target value when the steps end with none (sent as is, even ``""``)."""
    required: bool = Field(False, strict=True)
    """No value and no default is a MappingError rather than an omitted field."""
    constant: Any = None
    """A fixed value instead of ``from``."""

    @field_validator("sources", mode="before")
    @classmethod
    def _parse_paths(cls, value: Any) -> tuple[ScimPath, ...]:
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not texts:
            raise ValueError("'from' is a SCIM path or a non-empty list of paths")
        return tuple(parse_path(text) for text in texts)

    @field_validator("transform", mode="before")
    @classmethod
    def _parse_transforms(cls, value: Any) -> tuple[Transform, ...]:
        steps = value if isinstance(value, list) else [value]
        return tuple(parse_transform(step) for step in steps)

    @model_validator(mode="after")
    def _has_a_source(self) -> "FieldEntry":
        if self.sources and self.has("constant"):
            raise ValueError("give either 'from' or 'constant', not both")
        produces = any(step.produces for step in self.transform)
        if not (self.sources or produces or self.has("constant") or self.has("default")):
            raise ValueError("needs 'from', 'constant', or a transform that gives a value")
        return self

    def has(self, key: str) -> bool:
        """Whether the field map set ``key`` (``default: null`` counts)."""
        return key in self.model_fields_set

    @property
    def origin(self) -> str:
        """Where the value comes from, for error messages: paths and steps, no values."""
        if self.sources:
            return "from " + ", ".join(repr(path.text) for path in self.sources)
        if self.has("constant"):
            return "constant"
        return "transform " + ", ".join(step.name for step in self.transform)

    def value(self, doc: Mapping[str, Any], context: MappingContext) -> Any:
        """The value for this field, or None.

        Raises:
            MappingError: a step could not transform the value.
        """
        value = self.constant if self.has("constant") else first_value(self.sources, doc)
        for step in self.transform:
            value = step(value, context)
        if is_empty(value) and self.has("default"):
            return self.default
        return value


@dataclass(frozen=True)
class FieldMap:
    """A parsed field map: target field name -> :class:`FieldEntry`, in the map's order.

    Target names are kept as written, dots included (``name.givenName``): a connector that
    needs nested objects builds them.
    """

    fields: Mapping[str, FieldEntry]

    @classmethod
    def parse(cls, raw: Any) -> "FieldMap":
        """Parse a field map from its configuration form (a dict from YAML).

        Raises:
            ValueError: the first problem found, prefixed with the target field it is in
                (``first_name: unknown transform 'lowr'``), for the config loader to place.
        """
        if not isinstance(raw, Mapping):
            raise ValueError("a field map is a mapping of target field -> SCIM path or entry")
        entries = {_field_name(name): _parse_entry(name, entry) for name, entry in raw.items()}
        return cls(MappingProxyType(entries))

    @property
    def needs_manager(self) -> bool:
        """Whether :meth:`apply` reads the manager, so the engine must load it."""
        return any(step.needs_manager for entry in self.fields.values() for step in entry.transform)

    @property
    def names_manager_account(self) -> bool:
        """Whether :meth:`apply` sends the manager's own account id in the target
        (``{manager: remote_id}``), which exists only once the manager is provisioned
        there: reports are then sent again when it is (provisioning.accounts.reports)."""
        return any(
            isinstance(step, Manager) and step.attribute == "remote_id"
            for entry in self.fields.values()
            for step in entry.transform
        )

    def apply(
        self, doc: Mapping[str, Any], context: MappingContext = _NO_CONTEXT
    ) -> dict[str, Any]:
        """The target payload for one user document.

        Fields with no value and no default are left out.

        Args:
            doc: the stored SCIM User, as the SCIM server returns it.
            context: the manager's document and remote id, when :attr:`needs_manager`.

        Raises:
            MappingError: a required field has no value, or a transform refused the
                value. The message names the target field and its paths, never a value.
        """
        payload: dict[str, Any] = {}
        for name, entry in self.fields.items():
            try:
                value = entry.value(doc, context)
            except MappingError as exc:
                raise MappingError(f"{name}: {exc.message}") from None
            if not is_empty(value) or entry.has("default"):
                payload[name] = value
            elif entry.required:
                raise MappingError(f"{name}: required, but {entry.origin} gave no value")
        return payload


def _field_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"target field names are non-empty strings, not {name!r}")
    return name


def _parse_entry(name: str, entry: Any) -> FieldEntry:
    raw = {"from": entry} if isinstance(entry, str) else entry
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name}: an entry is a SCIM path or a mapping (from, transform, ...)")
    try:
        return FieldEntry.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{name}: {explain(exc)}") from None


def payload_digest(payload: Mapping[str, Any]) -> str:
    """A stable sha256 (hex) of a payload, to skip deliveries whose payload did not change.

    The payload is hashed as canonical JSON: keys sorted, no whitespace, UTF-8.
    """
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_value
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _json_value(value: Any) -> Any:
    # Connectors send dates as ISO 8601 (as SCIM does), so they hash as that text too.
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
