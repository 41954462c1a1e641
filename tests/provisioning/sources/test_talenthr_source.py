"""TalentHR as a source (S2, HR -> LMS): the connector against its contract fake, and runs
of it into the store (SQLite and PostgreSQL)."""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import parse_config
from provisioning.connectors import ConnectorSetup
from provisioning.connectors.talenthr_source import (
    TalentHrSource,
    TalentHrSourceOptions,
    employee_status,
)
from provisioning.errors import AuthError, RateLimited
from provisioning.records.runs import RunRequest
from provisioning.sources import SourceRunner
from tests.fakes.talenthr import TalentHrFake
from tests.provisioning.sources.conftest import ENTERPRISE, HR, TENANT, Clock

KEY = "hr-key"
TODAY = date(2026, 3, 2)


def fake_with(count: int, **fake_options: Any) -> TalentHrFake:
    fake = TalentHrFake(KEY, today=lambda: TODAY, **fake_options)
    for number in range(1, count + 1):
        fake.add_employee(
            f"First{number}",
            f"Last{number}",
            f"Person{number}@Acme.example",
            hire_date="2020-01-06",
            employee_number=f"{number:06d}",
            job_title_id=2,
            location_id=1 + number % 2,
        )
    return fake


def source(fake: TalentHrFake, key: str = KEY, **options: Any) -> TalentHrSource:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), auth=(key, "x"))
    setup = ConnectorSetup("hr", "http://hr.test/v1", http, options)
    return TalentHrSource(setup, today=lambda: TODAY)


async def read_all(connector: TalentHrSource) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await connector.read_page(None, cursor)
        records.extend(page.records)
        if page.next is None:
            return records
        cursor = page.next


# -- the connector ---------------------------------------------------------------------


async def test_directory_is_read_in_pages_of_at_most_100_with_each_employee_detail() -> None:
    fake = fake_with(205)
    records = await read_all(source(fake))
    assert len(records) == 205
    assert len({r["id"] for r in records}) == 205
    pages = fake.calls("GET", "/directory")
    assert len(pages) == 3  # 100 + 100 + 5: the total says the third is the last
    assert len(fake.calls("GET", "/employees/")) == 205


async def test_without_details_only_the_directory_is_read() -> None:
    fake = fake_with(3)
    records = await read_all(source(fake, details=False))
    assert len(records) == 3 and not fake.calls("GET", "/employees/")


async def test_the_directory_filter_limits_the_people_read() -> None:
    fake = fake_with(4)
    records = await read_all(source(fake, filter="location=1;"))
    assert sorted(r["email"] for r in records) == ["Person2@Acme.example", "Person4@Acme.example"]


@pytest.mark.parametrize(
    ("employee", "expected"),
    [
        ({"termination_date": None}, ("active", None)),
        ({"termination_date": "2026-03-02"}, ("terminated", "2026-03-01")),
        ({"termination_date": "2026-01-31"}, ("terminated", "2026-01-30")),
        ({"termination_date": "2026-03-20"}, ("active", "2026-03-19")),
        ({"termination_date": "2026-01-31", "is_future_rehire": True}, ("active", None)),
    ],
)
def test_the_leaver_rule_is_a_termination_on_or_before_today_unless_a_future_rehire(
    employee: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    assert employee_status(employee, TODAY) == expected


async def test_a_terminated_employee_is_read_as_terminated_from_their_own_record() -> None:
    fake = fake_with(2)
    fake.terminate(102, "2026-02-27")
    records = {r["id"]: r for r in await read_all(source(fake))}
    assert records[102]["status"] == "terminated" and records[102]["last_day"] == "2026-02-26"
    assert records[101]["status"] == "active"


@pytest.mark.parametrize(
    ("zone", "status"), [("Pacific/Kiritimati", "terminated"), ("Pacific/Pago_Pago", "active")]
)
async def test_a_termination_takes_effect_on_its_day_in_the_company_time_zone(
    zone: str, status: str
) -> None:
    # Kiritimati (UTC+14) is always a day or two ahead of Pago Pago (UTC-11): a leaver of
    # Kiritimati's today has left there, and leaves tomorrow or later in Pago Pago.
    fake = fake_with(1)
    fake.terminate(101, datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), auth=(KEY, "x"))
    connector = TalentHrSource(ConnectorSetup("hr", "http://hr.test/v1", http, {"timezone": zone}))
    [record] = await read_all(connector)
    assert record["status"] == status


def test_an_unknown_time_zone_is_refused_with_the_configuration() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        TalentHrSourceOptions.model_validate({"timezone": "Mars/Olympus"})


async def test_a_bad_key_is_an_auth_error_and_a_throttle_carries_its_wait() -> None:
    fake = fake_with(1)
    with pytest.raises(AuthError):
        await source(fake, key="wrong").check()
    fake.fail_next(429, headers={"Retry-After": "7"}, body={"error": "Too Many Attempts."})
    with pytest.raises(RateLimited) as throttled:
        await source(fake).read_page(None, None)
    assert throttled.value.retry_after == 7


# -- runs into the store ---------------------------------------------------------------


class Run:
    def __init__(self, engine: Engine, fake: TalentHrFake, **source_settings: Any) -> None:
        self.engine, self.fake = engine, fake
        self.config = parse_config(
            {
                "tenants": {
                    TENANT: {
                        "connections": {
                            "hr": {
                                "type": "talenthr",
                                "direction": "source",
                                "base_url": "http://hr.test/v1",
                                "auth": {"type": "basic", "username": "${TALENTHR_KEY}"},
                                "source": {"manager_field": "reports_to_employee_id"}
                                | source_settings,
                            },
                        }
                    }
                }
            }
        )
        self.clock = Clock()

    async def __call__(self) -> Any:
        runner = SourceRunner(
            self.engine,
            self.config,
            clock=self.clock,
            transport=httpx.ASGITransport(app=self.fake.app),
        )
        return await runner(RunRequest(TENANT, "hr"))


@pytest.fixture
def run(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TALENTHR_KEY", KEY)
    ensure_tenant(engine, TENANT)
    return lambda fake, **settings: Run(engine, fake, **settings)


def users(engine: Engine) -> dict[str, dict[str, Any]]:
    import sqlalchemy as sa

    from gateway.store.tables import UserRow

    table = UserRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {doc["userName"]: dict(doc) for (doc,) in conn.execute(sa.select(table.c.doc))}


async def test_employees_become_users_with_their_manager_and_a_leaver_is_deactivated(
    run: Any, engine: Engine
) -> None:
    fake = fake_with(3)
    fake.employees[102]["reports_to_employee_id"] = 101
    hr = run(fake)
    first = await hr()
    assert first.status == "succeeded", first
    assert first.counts["created"] == 3
    people = users(engine)
    ada = people["person2@acme.example"]
    assert ada["name"] == {"givenName": "First2", "familyName": "Last2"}
    assert ada["emails"][0]["value"] == "person2@acme.example"
    assert ada[ENTERPRISE]["employeeNumber"] == "000002"
    assert ada[ENTERPRISE]["manager"]["value"] == people["person1@acme.example"]["id"]
    assert ada[HR]["hireDate"] == "2020-01-06"
    assert ada["title"] == "Engineer"

    fake.terminate(103, TODAY.isoformat())
    second = await hr()
    assert second.counts["deactivated"] == 1 and second.counts["unchanged"] == 2
    assert users(engine)["person3@acme.example"]["active"] is False


async def test_a_directory_that_hides_terminated_people_still_deactivates_them(
    run: Any, engine: Engine
) -> None:
    fake = fake_with(2, directory_lists_terminated=False)
    hr = run(fake)
    await hr()
    fake.terminate(102, "2026-01-31")
    second = await hr()
    assert second.counts["read"] == 1 and second.counts["deactivated"] == 1
    assert users(engine)["person2@acme.example"]["active"] is False
