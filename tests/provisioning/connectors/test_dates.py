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
