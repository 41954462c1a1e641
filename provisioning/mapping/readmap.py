"""Read maps: how a source's record becomes a SCIM User, the field map read backwards.

A read map is the same table as a target's field map, turned around: the key is the SCIM
path written, the entry names the source field(s) read (dotted for nested objects)::

    userName: work_email
    name.givenName: first_name
    emails[type eq "work"].value: {from: work_email, transform: [lower]}
    enterprise:employeeNumber: employee_number
    hr:customFields.skip_elevo_sync: {from: skip_elevo, transform: [{bool_to: [true, false]}]}
    active: {from: status, transform: [{lookup: {table: {Active: true}, default: false}}]}

Entries take the keys of a field map (``from``, ``transform``, ``default``, ``required``,
``constant``), and the same transforms (:mod:`provisioning.mapping.transforms`). Parsed
once by :meth:`ReadMap.parse`; :meth:`ReadMap.apply` only reads records.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, ValidationError, field_validator

from gateway.scim.models import UserResource
from provisioning.errors import MappingError
from provisioning.mapping.documents import DocPath, parse_doc_path
from provisioning.mapping.paths import is_empty
from provisioning.mapping.transforms import MappingContext, Transform, explain, parse_transform

__all__ = ["ReadEntry", "ReadMap", "source_value"]

_NO_CONTEXT = MappingContext()
_CORE_SCHEMA = str(UserResource.__schema__)


def source_value(record: Mapping[str, Any], field: str) -> Any:
    """The value of a (dotted) field in a source record, or None."""
    value: Any = record
    for part in field.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class ReadEntry(BaseModel):
    """How one SCIM attribute gets its value from a source record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: tuple[str, ...] = Field((), alias="from")
    """Source fields read in order; the first non-empty value wins."""
    transform: tuple[InstanceOf[Transform], ...] = ()
    default: Any = None
    required: bool = Field(False, strict=True)
    constant: Any = None

    @field_validator("sources", mode="before")
    @classmethod
    def _fields(cls, value: Any) -> tuple[str, ...]:
        names = [value] if isinstance(value, str) else value
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(name, str) and name for name in names)
        ):
            raise ValueError("'from' is a source field or a non-empty list of fields")
        return tuple(names)

    @field_validator("transform", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> tuple[Transform, ...]:
        steps = value if isinstance(value, list) else [value]
        return tuple(parse_transform(step) for step in steps)

    def value(self, record: Mapping[str, Any]) -> Any:
        """The value for this attribute, or None; MappingError from a refusing step."""
        if "constant" in self.model_fields_set:
            value = self.constant
        else:
            value = next(
                (v for v in (source_value(record, f) for f in self.sources) if not is_empty(v)),
                None,
            )
        for step in self.transform:
            value = step(value, _NO_CONTEXT)
        if is_empty(value) and "default" in self.model_fields_set:
            return self.default
        return value


@dataclass(frozen=True)
class ReadMap:
    """A parsed read map: SCIM path -> (where it is written, how its value is read)."""

    entries: Mapping[str, tuple[DocPath, ReadEntry]]

    @classmethod
    def parse(cls, raw: Any) -> "ReadMap":
        """Parse a read map from its configuration form.

        Raises:
            ValueError: the first problem, prefixed with the SCIM path it is in.
        """
        if not isinstance(raw, Mapping) or not raw:
            raise ValueError("a read map is a mapping of SCIM path -> source field or entry")
        entries = {}
        for name, entry in raw.items():
            try:
                entries[str(name)] = (parse_doc_path(str(name)), _entry(entry))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return cls(MappingProxyType(entries))

    @property
    def paths(self) -> tuple[DocPath, ...]:
        return tuple(path for path, _ in self.entries.values())

    def apply(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The SCIM User document of one source record (attributes without a value left out).

        Raises:
            MappingError: a required attribute has no value, or a step refused a value;
                the message names the SCIM path, never a value.
        """
        doc: dict[str, Any] = {"schemas": [_CORE_SCHEMA]}
        for name, (path, entry) in self.entries.items():
            try:
                value = entry.value(record)
            except MappingError as exc:
                raise MappingError(f"{name}: {exc.message}") from None
            if is_empty(value):
                if entry.required:
                    fields = ", ".join(entry.sources) or "its constant"
                    raise MappingError(f"{name}: required, but {fields} gave no value")
                continue
            path.set(doc, value)
        return doc


def _entry(entry: Any) -> ReadEntry:
    raw = {"from": entry} if isinstance(entry, str) else entry
    if not isinstance(raw, Mapping):
        raise ValueError("an entry is a source field or a mapping (from, transform, ...)")
    try:
        return ReadEntry.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(explain(exc)) from None
