"""The transforms a field map may apply to a value, by name: a registry of small pure steps.

A field map writes a step as its name (``lower``) or as ``{name: arguments}``. Arguments
are validated when the field map is parsed; a transform that takes one main argument
accepts it alone (``{trim_to: 20}`` is ``{trim_to: {length: 20}}``)::

    lower, upper, strip                    strings; null passes through
    trim_to: n                             at most n characters
    prefix: text, suffix: text             add text before / after
    split: {sep, index: 0}                 one part of a string (null when out of range)
    join: sep                              a list's values as one string
    first                                  a list's first value
    date: format                           an ISO 8601 date or dateTime, reformatted
    bool_to: {true: x, false: y}           a boolean as two target values (or [x, y])
    lookup: {table, default, strict}       a value translated through a table
    default: value                         a value when there is none so far
    constant: value                        always this value
    manager: email|userName|remote_id|employeeNumber
                                           the user's manager (MappingContext)

Transforms never do I/O: the engine loads what they need (the manager) into a
:class:`MappingContext`. They raise :class:`~provisioning.errors.MappingError` with a
message that names no value, since delivery rows keep it and values may be sensitive.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.scim.models import ENTERPRISE_SCHEMA
from provisioning.errors import MappingError
from provisioning.mapping.paths import ScimPath, first_value, is_empty, parse_path

__all__ = ["TRANSFORMS", "MappingContext", "Transform", "explain", "parse_transform"]


@dataclass(frozen=True)
class MappingContext:
    """What the engine loads besides the user, for transforms that look beyond it.

    Attributes:
        manager: the stored SCIM document of the user's manager, if they have one.
        manager_remote_id: the manager's account id in this connection's target, if linked.
    """

    manager: Mapping[str, Any] | None = None
    manager_remote_id: str | None = None


class Transform(BaseModel):
    """One step of a field's chain; its fields are the arguments the field map gives.

    Contract of ``__call__``: take the value so far (None when absent) and return the next
    one, without side effects; raise MappingError, naming no value, when it cannot.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str]
    #: The argument ``{name: scalar}`` sets, for transforms with one main argument.
    shorthand: ClassVar[str | None] = None
    #: Gives a value of its own, so a field may use it without ``from``.
    produces: ClassVar[bool] = False
    #: Reads :attr:`MappingContext.manager`, which the engine then loads.
    needs_manager: ClassVar[bool] = False

    def __call__(self, value: Any, context: MappingContext) -> Any:
        raise NotImplementedError

    def fail(self, problem: str) -> MappingError:
        """The error this step raises, prefixed with its name."""
        return MappingError(f"{self.name}: {problem}")


class _StringTransform(Transform):
    """A transform of strings: null passes through, other types are a mapping error."""

    def __call__(self, value: Any, context: MappingContext) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(f"takes a string, not a {type(value).__name__}")
        return self.apply(value)

    def apply(self, text: str) -> Any:
        raise NotImplementedError


class Lower(_StringTransform):
    name = "lower"

    def apply(self, text: str) -> Any:
        return text.lower()


class Upper(_StringTransform):
    name = "upper"

    def apply(self, text: str) -> Any:
        return text.upper()


class Strip(_StringTransform):
    name = "strip"

    def apply(self, text: str) -> Any:
        return text.strip()


class TrimTo(_StringTransform):
    name = "trim_to"
    shorthand = "length"
    length: int = Field(gt=0, strict=True)

    def apply(self, text: str) -> Any:
        return text[: self.length]


class Prefix(_StringTransform):
    name = "prefix"
    shorthand = "text"
    text: str

    def apply(self, text: str) -> Any:
        return self.text + text


class Suffix(_StringTransform):
    name = "suffix"
    shorthand = "text"
    text: str

    def apply(self, text: str) -> Any:
        return text + self.text


class Split(_StringTransform):
    """``split: "@"`` keeps the part before the first ``@``; ``index: -1`` the last part."""

    name = "split"
    shorthand = "sep"
    sep: str = Field(min_length=1)
    index: int = Field(0, strict=True)

    def apply(self, text: str) -> Any:
        parts = text.split(self.sep)
        return parts[self.index] if -len(parts) <= self.index < len(parts) else None


class Join(Transform):
    """The non-empty values of a list, as strings, joined by ``sep``; a scalar is kept."""

    name = "join"
    shorthand = "sep"
    sep: str = ","

    def __call__(self, value: Any, context: MappingContext) -> Any:
        if not isinstance(value, list):
            return value
        return self.sep.join(str(item) for item in value if not is_empty(item)) or None


class First(Transform):
    """The first non-empty value of a list (``emails.value``); a scalar is kept."""

    name = "first"

    def __call__(self, value: Any, context: MappingContext) -> Any:
        if not isinstance(value, list):
            return value
        return next((item for item in value if not is_empty(item)), None)


class Date(Transform):
    """An ISO 8601 date or dateTime (RFC 7643 §2.3.5) written with a strftime ``format``.

    A dateTime keeps its own offset: ``2024-05-01T23:30:00-05:00`` is the 1st of May.
    """

    name = "date"
    shorthand = "format"
    format: str = Field("%Y-%m-%d", min_length=1)

    @field_validator("format")
    @classmethod
    def _formats(cls, value: str) -> str:
        datetime(2000, 1, 2).strftime(value)  # raises ValueError on a directive it refuses
        return value

    def __call__(self, value: Any, context: MappingContext) -> Any:
        if value is None:
            return None
        if isinstance(value, date):  # datetime included
            return value.strftime(self.format)
        if not isinstance(value, str):
            raise self.fail(f"takes an ISO 8601 string, not a {type(value).__name__}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            # strptime's message would quote the value, which may be a date of birth.
            raise self.fail("the value is not an ISO 8601 date or dateTime") from None
        return parsed.strftime(self.format)


class BoolTo(Transform):
    """``true``/``false`` (also the strings) as the target's two values, e.g. yes/no."""

    name = "bool_to"
    true: Any
    false: Any

    @model_validator(mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        # YAML reads `{true: on, false: off}` with boolean keys, and `[yes, no]` is shorter.
        if isinstance(value, list | tuple) and len(value) == 2:
            return {"true": value[0], "false": value[1]}
        if isinstance(value, Mapping):
            return {
                str(key).lower() if isinstance(key, bool) else key: v for key, v in value.items()
            }
        return value

    def __call__(self, value: Any, context: MappingContext) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise self.fail(f"takes a boolean, not a {type(value).__name__}")
        return self.true if value else self.false


class Lookup(Transform):
    """A value translated through ``table`` (keys match exactly, as YAML typed them).

    A value the table lacks becomes ``default`` when one is given, is a MappingError when
    ``strict``, and is otherwise kept as it is.
    """

    name = "lookup"
    table: dict[Any, Any] = Field(min_length=1)
    default: Any = None
    strict: bool = Field(False, strict=True)

    @model_validator(mode="after")
    def _one_fallback(self) -> "Lookup":
        if self.strict and "default" in self.model_fields_set:
            raise ValueError("give either strict or default, not both")
        return self

    def __call__(self, value: Any, context: MappingContext) -> Any:
        if is_empty(value):
            return value
        if isinstance(value, list | dict):
            raise self.fail(f"takes a single value, not a {type(value).__name__}")
        if value in self.table:
            return self.table[value]
        if self.strict:
            raise self.fail("the value is not in the table")
        return self.default if "default" in self.model_fields_set else value


class Default(Transform):
    name = "default"
    shorthand = "value"
    produces = True
    value: Any

    def __call__(self, value: Any, context: MappingContext) -> Any:
        return self.value if is_empty(value) else value


class Constant(Transform):
    name = "constant"
    shorthand = "value"
    produces = True
    value: Any

    def __call__(self, value: Any, context: MappingContext) -> Any:
        return self.value


ManagerAttribute = Literal["email", "userName", "remote_id", "employeeNumber"]

#: Where each manager attribute is read in the manager's document, best first. The email
#: is the work one, else the primary, else the first: what Entra and Okta mean by "email".
_MANAGER_PATHS: dict[str, tuple[str, ...]] = {
    "email": ('emails[type eq "work"].value', "emails[primary eq true].value", "emails.value"),
    "userName": ("userName",),
    "employeeNumber": (f"{ENTERPRISE_SCHEMA}:employeeNumber",),
}


@cache
def _manager_paths(attribute: str) -> tuple[ScimPath, ...]:
    return tuple(parse_path(text) for text in _MANAGER_PATHS[attribute])


class Manager(Transform):
    """The user's manager, as its work email, userName, employeeNumber or remote id.

    The input is ignored: the engine loads the manager named by the enterprise extension's
    ``manager.value`` into the context. No manager, or one not linked in the target (for
    ``remote_id``), gives null.
    """

    name = "manager"
    shorthand = "attribute"
    produces = True
    needs_manager = True
    attribute: ManagerAttribute

    def __call__(self, value: Any, context: MappingContext) -> Any:
        if context.manager is None:
            return None
        if self.attribute == "remote_id":
            return context.manager_remote_id
        found = first_value(_manager_paths(self.attribute), context.manager)
        return found[0] if isinstance(found, list) else found


#: Transform name -> class; the names a field map may use.
TRANSFORMS: Mapping[str, type[Transform]] = {
    cls.name: cls
    for cls in (
        Lower, Upper, Strip, TrimTo, Prefix, Suffix, Split, Join, First,
        Date, BoolTo, Lookup, Default, Constant, Manager,
    )
}  # fmt: skip


def parse_transform(spec: Any) -> Transform:
    """Build one step from its field map form: ``name`` or ``{name: arguments}``.

    Raises:
        ValueError: an unknown name, or arguments the transform does not take; the message
            names the transform.
    """
    name, args = _name_and_args(spec)
    cls = TRANSFORMS.get(name)
    if cls is None:
        raise ValueError(f"unknown transform {name!r}")
    if args is None:
        args = {}
    elif cls.shorthand is not None and not isinstance(args, Mapping):
        args = {cls.shorthand: args}
    try:
        return cls.model_validate(args)
    except ValidationError as exc:
        raise ValueError(f"{name}: {explain(exc)}") from None


def _name_and_args(spec: Any) -> tuple[str, Any]:
    if isinstance(spec, str):
        return spec, None
    if isinstance(spec, Mapping) and len(spec) == 1:
        name, args = next(iter(spec.items()))
        if isinstance(name, str):
            return name, args
    raise ValueError("a transform is a name or a mapping {name: arguments} with one key")


def explain(exc: ValidationError) -> str:
    """A pydantic error in one line: where, then what (our own messages say where)."""
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key {where!r}")
        elif error["type"] == "value_error" or not where:
            problems.append(message)
        else:
            problems.append(f"{where}: {message}")
    return "; ".join(problems)
