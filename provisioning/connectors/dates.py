"""Dates as vendors take and send them: one reader of a day, one writer for JSON bodies.

Vendor modules used to carry their own ``_as_date``, ``_day`` and JSON ``default`` for
dates; they read and write days through these instead, and keep only their format.
"""

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def as_date(value: Any) -> date | None:
    """The day of a date, a datetime or an ISO 8601 string; None for anything else.

    A dateTime string gives the day of its own offset, as the ``date`` transform reads it.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return None


def days_as(form: str) -> Callable[[Any], str]:
    """A JSON ``default`` writing dates (and datetimes, by their day) with ``form``.

    Raises TypeError for any other value, as ``json.dumps`` expects of a default.
    """

    def write(value: Any) -> str:
        day = as_date(value) if isinstance(value, date) else None
        if day is None:
            raise TypeError(f"{type(value).__name__} is not JSON serialisable")
        return day.strftime(form)

    return write


def has_ended(value: Any, today: date) -> bool | None:
    """Whether an end date (a contract's last day, a termination) has come by ``today``.

    False when there is none (None) or it is later; None when the value is not a date.
    """
    if value is None:
        return False
    day = as_date(value)
    return None if day is None else day <= today


def known_zone(name: str) -> str:
    """``name`` if it is an IANA time zone (``Europe/Paris``); ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


#: An options field naming a time zone, refused at configuration load when unknown.
TimeZoneName = Annotated[str, AfterValidator(known_zone)]


def today_in(zone: str) -> Callable[[], date]:
    """A clock of the current day in the time zone ``zone`` (a tenant's "today")."""
    tz = ZoneInfo(zone)
    return lambda: datetime.now(tz).date()
