"""EmployeeConnect read into the store by source runs (SQLite and PostgreSQL): S5.1-S5.5.

The runner talks to the contract fake over an ASGI transport; the fake and the runner
share one clock, so a checkpoint and a change have known times.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import GatewayConfig, parse_config
from gateway.store.tables import UserRow
from provisioning.records.runs import RunOutcome, RunRequest
from provisioning.sources import SourceRunner
from provisioning.sources.validation import source_problems
from tests.fakes.employeeconnect import EmployeeConnectFake, employee
from tests.provisioning.sources.conftest import ENTERPRISE, HR, TENANT, Clock

#: S5.4: company email domain only, and only two locations.
SCOPE = (
    'emails[type eq "work"].value ew "@acme.com.au" and '
    f'({HR}:location eq "Sydney" or {HR}:location eq "Melbourne")'
)
#: S5.2, the HR-id policy: the username is the EmployeeConnect id.
HR_ID_USERNAME = {"userName": {"from": "employeeId", "required": True}}


def _config(**source: Any) -> GatewayConfig:
    return parse_config(
        {
            "tenants": {
                TENANT: {
                    "connections": {
                        "ec": {
                            "type": "employeeconnect",
                            "direction": "source",
                            "base_url": "http://ec.test",
                            "auth": {"type": "bearer", "token": "${EC_TOKEN}"},
                            "options": {"page_size": 2},
                            "source": source,
                        },
                        "lms": {"type": "scim", "base_url": "http://lms.test/scim/v2"},
                    }
                }
            }
        }
    )


class Site:
    """The EmployeeConnect fake, the store and a runner, on one clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = Clock()
        self.fake = EmployeeConnectFake(clock=self.clock)
        self.config = _config(incremental=True)

    def configure(self, **source: Any) -> None:
        self.config = _config(**source)

    async def run(self, **request: Any) -> RunOutcome:
        runner = SourceRunner(
            self.engine,
            self.config,
            clock=self.clock,
            transport=httpx.ASGITransport(app=self.fake.app),
            sleep=_no_wait,
        )
        return await runner(RunRequest(TENANT, "ec", **request))

    def users(self) -> dict[str, dict[str, Any]]:
        """The stored users by userName."""
        table = UserRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return {doc["userName"]: dict(doc) for (doc,) in conn.execute(sa.select(table.c.doc))}


async def _no_wait(seconds: float) -> None:
    return None


@pytest.fixture
def site(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("EC_TOKEN", "ec-token")
    ensure_tenant(engine, TENANT)
    yield Site(engine)


async def test_the_initial_load_creates_everyone_with_the_default_read_map(site: Site) -> None:
    site.fake.add(**employee(1, jobTitle="Head of Operations", preferredName="Al"))
    site.fake.add(**employee(2, managerEmployeeId="EC0001", location="Melbourne"))
    site.fake.add(**employee(3, managerEmployeeId="EC0001"))
    outcome = await site.run()
    assert outcome.status == "succeeded", outcome.failures
    assert outcome.counts["created"] == 3
    users = site.users()
    head = users["person1@acme.com.au"]
    assert head["externalId"] == "EC0001"
    assert head["name"] == {"givenName": "First1", "familyName": "Last1"}
    assert head["nickName"] == "Al"
    assert head["title"] == "Head of Operations"
    assert head["emails"] == [{"type": "work", "value": "person1@acme.com.au"}]
    assert head[ENTERPRISE]["employeeNumber"] == "EC0001"
    assert head[ENTERPRISE]["department"] == "Operations"
    assert head[HR]["location"] == "Sydney"
    assert head[HR]["hireDate"] == "2021-02-01"
    report = users["person2@acme.com.au"]
    assert report[HR]["location"] == "Melbourne"
    assert report[ENTERPRISE]["manager"]["value"] == head["id"]  # S5.3: the manager


async def test_incremental_runs_create_the_new_update_the_changed_and_deactivate_the_leaver(
    site: Site,
) -> None:
    for number in (1, 2, 3):
        site.fake.add(**employee(number))
    site.clock.now += timedelta(hours=1)
    await site.run()
    assert site.fake.requests[0] == "page=1&pageSize=2"  # the initial load: no modifiedSince

    site.clock.days(1)
    site.fake.add(**employee(4))
    site.fake.update("EC0002", jobTitle="Supervisor")
    site.fake.terminate("EC0003", "2026-03-02")  # their last day was yesterday
    before = len(site.fake.requests)
    outcome = await site.run()
    assert outcome.status == "succeeded", outcome.failures
    assert outcome.counts["read"] == 3  # only the changed: EC0001 is not read again
    assert (outcome.counts["created"], outcome.counts["updated"]) == (1, 1)
    assert outcome.counts["deactivated"] == 1
    assert "modifiedSince=2026-03-02T06%3A55%3A00Z" in site.fake.requests[before]
    users = site.users()
    assert users["person2@acme.com.au"]["title"] == "Supervisor"
    assert users["person3@acme.com.au"]["active"] is False  # kept, never deleted
    assert len(users) == 4


async def test_a_termination_entered_ahead_keeps_access_through_the_last_day(site: Site) -> None:
    site.fake.add(**employee(1))
    await site.run()
    site.fake.update("EC0001", terminationDate="2026-03-09")  # status stays Active until then
    await site.run()
    assert site.users()["person1@acme.com.au"]["active"] is True

    site.clock.days(8)  # the morning after the last day; nothing changed in EmployeeConnect
    outcome = await site.run()
    assert outcome.counts["deactivated"] == 1
    assert site.users()["person1@acme.com.au"]["active"] is False


async def test_the_work_email_policy_makes_the_work_email_the_username(site: Site) -> None:
    site.fake.add(**employee(1))
    await site.run()
    assert list(site.users()) == ["person1@acme.com.au"]


async def test_the_hr_id_policy_makes_the_employee_id_the_username(site: Site) -> None:
    site.configure(incremental=True, field_map_extra=HR_ID_USERNAME)
    site.fake.add(**employee(1, workEmail="jo.bloggs@gmail.com"))  # a personal email
    await site.run()
    user = site.users()["EC0001"]
    assert user["emails"][0]["value"] == "jo.bloggs@gmail.com"


async def test_under_the_work_email_policy_someone_without_one_fails_with_the_reason(
    site: Site,
) -> None:
    site.fake.add(**employee(1, workEmail=None))
    site.fake.add(**employee(2))
    outcome = await site.run()
    assert outcome.status == "failed"
    assert [(f.person, "userName" in f.reason) for f in outcome.failures] == [("EC0001", True)]
    assert list(site.users()) == ["person2@acme.com.au"]


async def test_the_scope_keeps_other_domains_and_locations_out(site: Site) -> None:
    site.configure(incremental=True, scope=SCOPE)
    site.fake.add(**employee(1))
    site.fake.add(**employee(2, location="Perth"))
    site.fake.add(**employee(3, workEmail="contractor3@agency.example"))
    site.fake.add(**employee(4, location="Melbourne"))
    outcome = await site.run()
    assert outcome.counts["skipped"] == 2
    assert sorted(site.users()) == ["person1@acme.com.au", "person4@acme.com.au"]

    site.clock.days(1)
    site.fake.update("EC0004", location="Perth")  # moved out of scope: access taken away
    outcome = await site.run()
    assert outcome.counts["deactivated"] == 1
    assert site.users()["person4@acme.com.au"]["active"] is False


async def test_an_unknown_status_fails_that_person_rather_than_guessing(site: Site) -> None:
    site.fake.add(**employee(1, status="On leave"))
    outcome = await site.run()
    assert [f.person for f in outcome.failures] == ["EC0001"]
    assert "active" in outcome.failures[0].reason
    assert "On leave" not in outcome.failures[0].reason  # reasons name fields, not values
    assert site.users() == {}


async def test_a_failed_person_keeps_the_checkpoint_so_the_next_run_reads_them_again(
    site: Site,
) -> None:
    site.fake.add(**employee(1, status="On leave"))
    await site.run()
    site.clock.days(1)
    site.fake.update("EC0001", status="Active")
    outcome = await site.run()
    assert "modifiedSince" not in site.fake.requests[-1]  # no checkpoint yet: a full read
    assert outcome.counts["created"] == 1


async def test_a_throttled_page_is_read_again_after_its_retry_after(site: Site) -> None:
    site.fake.add(**employee(1))
    site.fake.throttle(2)
    outcome = await site.run()
    assert outcome.status == "succeeded"
    assert outcome.counts["created"] == 1


async def test_the_source_settings_of_the_file_win_over_the_connectors_defaults(
    site: Site,
) -> None:
    site.configure(id_field="workEmail", manager_field=None)
    site.fake.add(**employee(1))
    site.fake.add(**employee(2, managerEmployeeId="EC0001"))
    await site.run()
    users = site.users()
    assert users["person2@acme.com.au"][ENTERPRISE].get("manager") is None


def test_config_check_accepts_the_defaults_and_names_a_bad_option(site: Site) -> None:
    assert source_problems(site.config) == []
    broken = parse_config(
        {
            "tenants": {
                TENANT: {
                    "connections": {
                        "ec": {
                            "type": "employeeconnect",
                            "direction": "source",
                            "base_url": "http://ec.test",
                            "options": {"page_size": 0},
                        }
                    }
                }
            }
        }
    )
    assert [p.split(":")[0] for p in source_problems(broken)] == [
        f"tenants.{TENANT}.connections.ec.options"
    ]
