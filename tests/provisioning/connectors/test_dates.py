"""as_date and days_as: the one reader of a day and the one writer of dates in JSON bodies."""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from provisioning.connectors.dates import as_date, days_as


@pytest.mark.parametrize(
    ("value", "day"),
    [
        (date(2026, 3, 1), date(2026, 3, 1)),
        (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), date(2026, 3, 1)),
        ("2026-03-01", date(2026, 3, 1)),
        (" 2026-03-01T23:30:00-05:00 ", date(2026, 3, 1)),  # its own offset's day
        ("01/03/2026", None),
        ("", None),
        (20260301, None),
        (None, None),
    ],
)
def test_as_date_reads_a_day_or_nothing(value: object, day: date | None) -> None:
    assert as_date(value) == day


def test_days_as_writes_dates_and_refuses_other_values() -> None:
    lucca = days_as("%Y-%m-%dT00:00:00")
    late = datetime(2026, 3, 1, 23, 0, tzinfo=timezone(timedelta(hours=10)))
    body = {"start": date(2026, 3, 1), "end": late}
    assert json.loads(json.dumps(body, default=lucca)) == {
        "start": "2026-03-01T00:00:00",
        "end": "2026-03-01T00:00:00",
    }
    with pytest.raises(TypeError, match="set is not JSON serialisable"):
        json.dumps({"x": {1}}, default=lucca)


def test_a_time_zone_option_is_refused_when_unknown_and_gives_its_own_today() -> None:
    from pydantic import TypeAdapter, ValidationError

    from provisioning.connectors.dates import TimeZoneName, today_in

    zone = TypeAdapter(TimeZoneName)
    assert zone.validate_python("Pacific/Kiritimati") == "Pacific/Kiritimati"
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        zone.validate_python("Mars/Olympus")
    kiritimati, niue = today_in("Pacific/Kiritimati")(), today_in("Pacific/Niue")()
    # UTC+14 and UTC-11 are 25 hours apart: Kiritimati is always one or two days ahead.
    assert timedelta(days=1) <= kiritimati - niue <= timedelta(days=2)


def test_has_ended_says_whether_an_end_date_has_come() -> None:
    from provisioning.connectors.dates import has_ended

    today = date(2026, 3, 1)
    assert has_ended("2026-03-01T00:00:00", today) is True  # the last day is today
    assert has_ended(date(2026, 2, 1), today) is True
    assert has_ended("2026-03-02", today) is False
    assert has_ended(None, today) is False  # no end: still employed
    assert has_ended("soon", today) is None
    assert has_ended("", today) is None
