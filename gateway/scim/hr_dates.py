"""HR dates (hireDate, terminationDate, dateOfBirth): what the gateway accepts as one.

SCIM has no date type (RFC 7643 §2.3.5 defines dateTime only), and HR systems send a
calendar date either as ``YYYY-MM-DD`` or as an ISO 8601 dateTime, usually midnight with
the company's offset. Both are kept as the calendar date ``YYYY-MM-DD``, the form every
connector's field map reads. A dateTime keeps its own offset:
``2024-05-01T00:00:00+02:00`` is the 1st of May, as the HR system meant it, not the 30th
of April in UTC.
"""

import re
from datetime import date, datetime

#: Calendar dates in the ISO 8601 extended form only: ``date.fromisoformat`` also takes
#: ``20240501`` and week dates (``2024-W18-3``), which no HR system sends and which a
#: typo can produce.
_CALENDAR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?"
)

EXPECTED = "a date (YYYY-MM-DD) or an ISO 8601 dateTime such as 2024-05-01T00:00:00+02:00"


def calendar_date(value: object) -> str:
    """The ``YYYY-MM-DD`` form of an HR date.

    Raises:
        ValueError: the value is not one of the accepted forms. The message never quotes
            the value: it may be a date of birth.
    """
    if isinstance(value, datetime | date):
        day = value.date() if isinstance(value, datetime) else value
        return day.isoformat()
    text = value.strip() if isinstance(value, str) else None
    try:
        if text and _CALENDAR_DATE.fullmatch(text):
            return date.fromisoformat(text).isoformat()
        if text and _DATE_TIME.fullmatch(text):
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass  # the shape of a date, not a real one (2024-02-30)
    raise ValueError(f"expected {EXPECTED}")
