"""Values inside JSON documents, in SQL: SQLite's JSON1 functions and PostgreSQL's JSONB.

A :class:`JsonRef` points at one place in the ``doc`` column of a row (or in one element of
an array there) and answers the few questions the filter compiler asks of it: the value if
it has a given JSON type, whether it is present, and the elements of the array it holds.
Every key and value travels as a bound parameter; the SQL text only ever holds function
names and constants.

Typed reads are guarded by the JSON type of the value (``json_type`` / ``jsonb_typeof``), so a
document holding ``"level": "three"`` compares as "no number here" instead of failing the
whole query on a cast, which matters for free maps such as the HR extension's
``customFields``.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

__all__ = ["Elements", "JsonRef", "ValueType", "json_document"]

ValueType = Literal["string", "number", "boolean", "datetime"]

#: What ``pr`` treats as absent besides a missing key (RFC 7643 §2.5, RFC 7644 §3.4.2.2).
_EMPTY_JSON = ("null", '""', "[]", "{}")

#: SCIM dateTimes are JSON strings; only ones shaped like xsd:dateTime are cast (PostgreSQL).
_DATETIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$"
_SQLITE_INSTANT = "%Y-%m-%d %H:%M:%f"


class _SqliteInstant(sa.types.TypeDecorator[datetime]):
    """A dateTime as SQLite's ``strftime(_SQLITE_INSTANT, ...)`` writes it: UTC, to the ms."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        if value is None:
            return None
        # isoformat pads the year to 4 digits, as SQLite does; strftime("%Y") wrote year
        # 999 as "999", which sorted after "2024" as text.
        return value.astimezone(UTC).isoformat(sep=" ", timespec="milliseconds")[:23]


#: Per type: json_type() names (SQLite), the jsonb_typeof() name, the SQL type read.
_SQLITE_TYPES: dict[ValueType, tuple[list[str], sa.types.TypeEngine[Any]]] = {
    "string": (["text"], sa.String()),
    "number": (["integer", "real"], sa.Float()),
    "boolean": (["true", "false"], sa.Boolean()),
    "datetime": (["text"], _SqliteInstant()),
}
_POSTGRES_TYPES: dict[ValueType, tuple[str, sa.types.TypeEngine[Any]]] = {
    "string": ("string", sa.String()),
    "number": ("number", sa.Float()),
    "boolean": ("boolean", sa.Boolean()),
    "datetime": ("string", sa.DateTime(timezone=True)),
}


@dataclass(frozen=True)
class Elements:
    """The elements of a JSON array, as rows to select from.

    Attributes:
        source: the table-valued function to put in ``FROM``; it yields no row, or only
            rows ``guard`` refuses, when the value is missing or not an array.
        guard: a condition to add to ``WHERE``.
        item: each element, as a reference.
        position: each element's index in the array, for "the first value".
    """

    source: sa.FromClause
    guard: sa.ColumnElement[bool]
    item: "JsonRef"
    position: sa.ColumnElement[Any]


class JsonRef(ABC):
    """One place in a JSON document, named by keys from the document's root."""

    @abstractmethod
    def child(self, *keys: str) -> "JsonRef":
        """The place under ``keys`` (object member names) below this one."""

    @abstractmethod
    def value(self, value_type: ValueType) -> sa.ColumnElement[Any]:
        """The value as an SQL scalar if it is a JSON value of that type, else NULL.

        Booleans come back as SQL booleans, numbers as floats, strings as text, and
        dateTimes as instants comparable with an aware :class:`~datetime.datetime`.
        """

    @abstractmethod
    def present(self) -> sa.ColumnElement[bool]:
        """True when the value exists and is not null, ``""``, ``[]`` or ``{}``; never NULL."""

    @abstractmethod
    def elements(self) -> Elements:
        """The elements of the array held here."""


def json_document(column: sa.ColumnElement[Any], dialect: str) -> JsonRef:
    """The root of the JSON document stored in ``column``.

    Raises:
        ValueError: for a dialect other than ``sqlite`` or ``postgresql``.
    """
    if dialect == "sqlite":
        return _SqliteRef(column)
    if dialect == "postgresql":
        return _PostgresRef(column)
    raise ValueError(f"no JSON support for the {dialect!r} dialect")


def _text(value: str) -> sa.ColumnElement[str]:
    return sa.literal(value, sa.String())


def _texts(values: Iterable[str]) -> list[sa.ColumnElement[str]]:
    """Constants for ``IN``, one parameter each: a plain list would become an expanding
    parameter, which only exists once the statement runs (gateway.store.prepared)."""
    return [_text(value) for value in values]


@dataclass(frozen=True)
class _SqliteRef(JsonRef):
    """A JSON path (``$."a"."b"``) into ``doc``; ``base`` is a path computed in SQL."""

    doc: sa.ColumnElement[Any]
    suffix: str = "$"
    base: sa.ColumnElement[str] | None = None

    def child(self, *keys: str) -> "JsonRef":
        for key in keys:
            if '"' in key or "\\" in key:
                raise ValueError(f"unsupported JSON key {key!r}")
        suffix = self.suffix + "".join(f'."{key}"' for key in keys)
        return _SqliteRef(self.doc, suffix, self.base)

    def _path(self) -> sa.ColumnElement[str]:
        if self.base is None:
            return _text(self.suffix)
        return self.base + _text(self.suffix.removeprefix("$"))

    def _type(self) -> sa.ColumnElement[str]:
        return sa.func.json_type(self.doc, self._path())

    def value(self, value_type: ValueType) -> sa.ColumnElement[Any]:
        json_types, sql_type = _SQLITE_TYPES[value_type]
        extracted = sa.func.json_extract(self.doc, self._path())
        if value_type == "datetime":  # NULL for a string SQLite cannot read as a time
            extracted = sa.func.strftime(_SQLITE_INSTANT, extracted)
        case = sa.case((self._type().in_(_texts(json_types)), extracted), else_=sa.null())
        return sa.type_coerce(case, sql_type)

    def present(self) -> sa.ColumnElement[bool]:
        # json_extract gives SQL NULL for both a missing key and JSON null; json_quote
        # turns that into 'null' and any other value into its minified JSON text.
        quoted = sa.func.json_quote(sa.func.json_extract(self.doc, self._path()))
        return quoted.not_in(_texts(_EMPTY_JSON))

    def elements(self) -> Elements:
        rows = sa.func.json_each(self.doc, self._path()).table_valued(
            "key", "value", "type", "atom"
        )
        return Elements(
            source=rows,
            # json_each walks the members of an object, and yields a scalar itself.
            guard=self._type() == "array",
            item=_SqliteElement(rows),
            position=rows.c.key,
        )


@dataclass(frozen=True)
class _SqliteElement(JsonRef):
    """One element of an array, read from json_each's own columns.

    Reading each element back from the whole document (``json_extract(json, fullkey)``)
    parsed the document once per element: sorting 1,000 users by ``emails.value`` took
    10.7 s when one of them had 20,000 emails, and filtering on emails 13 s
    (docs/benchmarks.md). ``value`` holds the element alone (JSON text for an object or
    array, the SQL value for a scalar), so the work per row is linear in its document.
    These columns are the subquery's own, which SQLite resolves in its ORDER BY too.
    """

    rows: Any  # the json_each table-valued function

    def child(self, *keys: str) -> "JsonRef":
        # A scalar element's value is not JSON text: only an object has members.
        members = sa.case((self.rows.c.type == "object", self.rows.c.value), else_=sa.null())
        return _SqliteRef(members).child(*keys)

    def value(self, value_type: ValueType) -> sa.ColumnElement[Any]:
        json_types, sql_type = _SQLITE_TYPES[value_type]
        atom = self.rows.c.atom
        if value_type == "datetime":  # NULL for a string SQLite cannot read as a time
            atom = sa.func.strftime(_SQLITE_INSTANT, atom)
        case = sa.case((self.rows.c.type.in_(_texts(json_types)), atom), else_=sa.null())
        return sa.type_coerce(case, sql_type)

    def present(self) -> sa.ColumnElement[bool]:
        rows = self.rows
        composite = rows.c.type.in_(_texts(("object", "array")))
        text = sa.case((composite, rows.c.value), else_=sa.func.json_quote(rows.c.atom))
        return text.not_in(_texts(_EMPTY_JSON))

    def elements(self) -> Elements:
        raise ValueError("arrays inside array elements are not walked")


def _root_path() -> sa.ColumnElement[Any]:
    """The path ``{}``, the value itself, for ``#>>`` (a bound parameter, cast in SQL)."""
    return sa.cast(_text("{}"), ARRAY(sa.Text()))


@dataclass(frozen=True)
class _PostgresRef(JsonRef):
    """A JSONB value ``root`` and the member keys below it."""

    root: sa.ColumnElement[Any]
    keys: tuple[str, ...] = ()

    def child(self, *keys: str) -> "JsonRef":
        return _PostgresRef(self.root, self.keys + keys)

    def _json(self) -> sa.ColumnElement[Any]:
        if not self.keys:
            return self.root
        keys = [_text(key) for key in self.keys]
        return sa.func.jsonb_extract_path(self.root, *keys, type_=JSONB)

    def value(self, value_type: ValueType) -> sa.ColumnElement[Any]:
        json_type, sql_type = _POSTGRES_TYPES[value_type]
        json = self._json()
        text = json.op("#>>", return_type=sa.Text())(_root_path())
        typed = text if value_type == "string" else sa.cast(text, sql_type)
        is_type = sa.func.jsonb_typeof(json) == json_type
        if value_type == "datetime":  # a cast that fails would fail the whole query
            is_type = sa.and_(is_type, text.regexp_match(_DATETIME))
        return sa.type_coerce(sa.case((is_type, typed), else_=sa.null()), sql_type)

    def present(self) -> sa.ColumnElement[bool]:
        json = self._json()
        empty = [sa.cast(_text(each), JSONB) for each in _EMPTY_JSON]
        return sa.and_(json.is_not(None), json.not_in(empty))

    def elements(self) -> Elements:
        json = self._json()
        # jsonb_array_elements fails on a scalar, so it only ever receives an array or NULL.
        array = sa.case((sa.func.jsonb_typeof(json) == "array", json), else_=sa.null())
        rows = (
            sa.func.jsonb_array_elements(array)
            .table_valued(sa.column("value", JSONB), with_ordinality="position")
            .render_derived()
        )
        return Elements(
            source=rows,
            guard=sa.true(),
            item=_PostgresRef(rows.c.value),
            position=rows.c.position,
        )
