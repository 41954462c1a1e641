"""A source's record as the person a run applies: mapped, dated, scoped, digested.

The read map gives the SCIM document; the joiner and leaver dates then decide whether the
person has access *today* (a future first day: not yet; a past last day: no longer) and
on which day that changes (``due``), so that a daily run activates a joiner on their
first day and deactivates a leaver the day after their last.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, SCIMException, ScimFilter

from gateway.config import SourceSettings
from gateway.scim.kinds import Kind
from provisioning.errors import MappingError
from provisioning.mapping import DocPath, ReadMap, parse_doc_path, payload_digest, source_value

#: Values of a checkbox field that mean "checked" (HR systems differ: S3.3).
CHECKED = frozenset({True, "1", "true", "yes", "on", "checked", "y"})
ACTIVE = parse_doc_path("active")
MANAGER = parse_doc_path("enterprise:manager")


@dataclass
class Person:
    """One person of a source, ready to apply.

    Attributes:
        source_id: the source's id (the link key).
        doc: the mapped SCIM User, ``active`` as of today, without the manager.
        manager_id: the source's id of the manager, if any.
        digest: sha256 of the above: equal to the link's, nothing changed.
        due: the ISO day ``active`` becomes ``due_active``, when the dates say so.
        skipped: the person is skipped (skip box checked) or out of the scope filter.
    """

    source_id: str
    doc: dict[str, Any]
    manager_id: str | None
    digest: str
    due: str | None = None
    due_active: bool | None = None
    skipped: bool = False

    @property
    def active(self) -> bool:
        return self.doc.get("active", True) is not False


class RecordError(Exception):
    """A record cannot become a person (no id, a mapping failure): a run failure."""

    def __init__(self, person: str, reason: str) -> None:
        super().__init__(reason)
        self.person = person
        self.reason = reason


@dataclass(frozen=True)
class PersonMapper:
    """Turns records into :class:`Person` for one source connection."""

    settings: SourceSettings
    read_map: ReadMap
    start: DocPath
    end: DocPath
    scope: Callable[[dict[str, Any]], bool] | None = None

    @classmethod
    def build(
        cls, settings: SourceSettings, default_map: Mapping[str, Any], kind: Kind
    ) -> "PersonMapper":
        """Raises ValueError on a read map, date path or scope that does not parse."""
        raw = settings.field_map if settings.field_map is not None else default_map
        read_map = ReadMap.parse({**raw, **settings.field_map_extra})
        start, end = parse_doc_path(settings.start_date), parse_doc_path(settings.end_date)
        return cls(settings, read_map, start, end, scope_test(kind, settings.scope))

    def person(self, record: Mapping[str, Any], today: date) -> Person:
        """The person of one record. Raises :class:`RecordError`."""
        raw_id = source_value(record, self.settings.id_field)
        if raw_id in (None, ""):
            raise RecordError("(no id)", f"the record has no {self.settings.id_field!r}")
        source_id = str(raw_id)
        try:
            doc = self.read_map.apply(record)
        except MappingError as exc:
            raise RecordError(source_id, exc.message) from None
        field = self.settings.manager_field
        manager = source_value(record, field) if field else None
        manager_id = None if manager in (None, "") else str(manager)
        due, due_active = self._date_access(doc, today)
        digest = payload_digest({"doc": doc, "manager": manager_id})
        skipped = self._skips(record) or (self.scope is not None and not self.scope(doc))
        return Person(source_id, doc, manager_id, digest, due, due_active, skipped)

    def _skips(self, record: Mapping[str, Any]) -> bool:
        field = self.settings.skip_field
        if field is None:
            return False
        value = source_value(record, field)
        return (value.strip().lower() if isinstance(value, str) else value) in CHECKED

    def _date_access(self, doc: dict[str, Any], today: date) -> tuple[str | None, bool | None]:
        """Set ``active`` for today's date; return the day it changes and to what."""
        wanted = doc.get("active", True) is not False
        first, last = _day(self.start.get(doc)), _day(self.end.get(doc))
        if not wanted:
            return None, None
        if first is not None and first > today:
            ACTIVE.set(doc, False)
            return first.isoformat(), True
        if last is not None and last < today:
            ACTIVE.set(doc, False)
            return None, None
        if last is not None:
            return (last + timedelta(days=1)).isoformat(), False
        return None, None


def manager_value(user_id: str) -> dict[str, str]:
    """The enterprise ``manager`` of a user whose manager is ``user_id`` (RFC 7643 §4.3
    marks ``$ref`` required; the store keeps it relative, the SCIM layer completes it)."""
    return {"value": user_id, "$ref": f"Users/{user_id}"}


def scope_test(kind: Kind, expression: str | None) -> Callable[[dict[str, Any]], bool] | None:
    """A test of a mapped person against the source's scope filter, evaluated by
    scim2-models on the tenant's User model; None when everyone is in scope.

    Raises:
        ValueError: the expression is not a filter of the tenant's users.
    """
    if not expression:
        return None
    try:
        scim_filter = ScimFilter[kind.model](expression)  # type: ignore[name-defined]
        scim_filter.ast  # noqa: B018 - parsed now, so that a typo fails the run's start
    except (SCIMException, ValueError) as exc:
        detail = exc.detail if isinstance(exc, SCIMException) else exc
        raise ValueError(f"scope {expression!r}: {detail}") from None

    def test(doc: dict[str, Any]) -> bool:
        try:
            user = kind.model.model_validate(doc, scim_ctx=Context.DEFAULT)
        except ValidationError:
            return True  # the write reports what is wrong with the person
        return bool(scim_filter.match(user))

    return test


def _day(value: Any) -> date | None:
    """The day of an ISO date or dateTime (an unreadable one is no date)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
