"""Core statements compiled once per dialect and run on a DBAPI cursor.

``Connection.execute`` costs far more than the query itself on the hottest paths: a
``GET /Users/{id}`` spent 35 % of its time in SQLAlchemy's execution machinery (cache key,
execution context, result wrapper) for an index lookup SQLite answers in microseconds
(docs/benchmarks.md). A :class:`Prepared` statement is still written with SQLAlchemy Core,
so the SQL is the dialect's own and every value travels as a bound parameter; it is only
compiled once, and run with the driver's ``cursor.execute``.
"""

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "Statements"]

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class Prepared:
    """One compiled statement: its SQL text and how to build its parameters."""

    sql: str
    #: The parameters with the values bound when the statement was built (constants,
    #: JSON paths), already processed; a tuple for a positional paramstyle (SQLite's
    #: ``?``), else a mapping by name (psycopg's ``%(name)s``).
    template: tuple[Any, ...] | dict[str, Any]
    #: Where each value the caller gives goes: (position or name, name, driver
    #: conversion such as a datetime to SQLite's text).
    slots: tuple[tuple[int | str, str, Processor | None], ...]

    @classmethod
    def build(
        cls, statement: sa.ClauseElement, dialect: Dialect, given: Iterable[str] = ()
    ) -> "Prepared":
        """Compile ``statement``; the caller gives the values of its ``sa.bindparam(name)``
        without value, and of those named in ``given`` (bound to an example value).

        Raises:
            ValueError: the statement needs expanding (``IN``) parameters, which only
                exist once the values are known.
        """
        # ClauseElement.compile is typed as returning the base Compiled; for a SELECT or
        # DML statement it is the dialect's SQLCompiler, whose binds this reads.
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        binds = compiled.binds
        if any(bind.expanding for bind in binds.values()):
            raise ValueError("expanding parameters cannot be prepared")
        required = {bind.key for bind in binds.values() if bind.required} | set(given)
        values = compiled.construct_params(dict.fromkeys(required))
        processors = {name: _processor(binds[name].type, dialect) for name in values}
        fixed = {name: _process(processors[name], value) for name, value in values.items()}
        if compiled.positional:
            order = list(compiled.positiontup or ())
            places: list[tuple[int | str, str]] = [
                (index, name) for index, name in enumerate(order) if name in required
            ]
            template: tuple[Any, ...] | dict[str, Any] = tuple(fixed[name] for name in order)
        else:
            places = [(name, name) for name in sorted(required)]
            template = fixed
        slots = tuple((place, name, processors[name]) for place, name in places)
        return cls(sql=compiled.string, template=template, slots=slots)

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver parameters for ``values`` (one per required name)."""
        if isinstance(self.template, dict):
            named = dict(self.template)
            for place, name, process in self.slots:
                named[place] = _process(process, values[name])  # type: ignore[index]
            return named
        positional = list(self.template)
        for place, name, process in self.slots:
            positional[place] = _process(process, values[name])  # type: ignore[index]
        return positional

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        """Run on a DBAPI cursor; returns the cursor, to fetch from."""
        cursor.execute(self.sql, self.parameters(values))
        return cursor


class Statements:
    """Prepared statements of one dialect, built on first use of their key.

    Only for statements of a fixed set (a few per table): nothing here is bounded.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._prepared: dict[Hashable, Prepared] = {}

    def get(self, key: Hashable, build: Callable[[], sa.ClauseElement]) -> Prepared:
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = Prepared.build(build(), self.dialect)
        return prepared


def _processor(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor | None:
    # The dialect's implementation, as SQLAlchemy's own execution uses: a TypeDecorator's
    # then chains into the dialect's type (a datetime to SQLite's text, say).
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _process(processor: Processor | None, value: Any) -> Any:
    return processor(value) if processor and value is not None else value
