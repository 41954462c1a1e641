"""TalentLMS as a source (S2, LMS -> HR): the connector against its contract fake, and runs
of it into the store (SQLite and PostgreSQL)."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import parse_config
from gateway.store.tables import UserRow
from provisioning.connectors import ConnectorSetup
from provisioning.connectors.talentlms_source import TalentLmsSource, hire_day
from provisioning.errors import AuthError, RateLimited
from provisioning.records.runs import RunRequest
from provisioning.sources import SourceRunner
from tests.fakes.talentlms import TalentLmsFake
from tests.provisioning.sources.conftest import HR, TENANT, Clock

KEY = "lms-key"
CREATED = datetime(2024, 9, 17, 8, 30, tzinfo=UTC)


def portal(**options: Any) -> TalentLmsFake:
    fake = TalentLmsFake(
        KEY, custom_fields=(("hireDate", "date"),), branches={1: "acme", 2: "sales"}, **options
    )
    for number in (1, 2, 3):
        user = fake.add_user(
            login=f"learner{number}",
            email=f"Learner{number}@Acme.example",
            first_name=f"Learner{number}",
            last_name=f"Lms{number}",
            created_on=CREATED,
        )
        user.branches = {1, 2} if number == 2 else {1}
    return fake


def source(fake: TalentLmsFake, key: str = KEY, **options: Any) -> TalentLmsSource:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), auth=(key, ""))
    setup = ConnectorSetup("lms", "http://lms.test/api/v1", http, options)
    return TalentLmsSource(setup, now=lambda: 1_000_000.0)


# -- the connector ---------------------------------------------------------------------


async def test_every_user_is_read_in_one_answer_with_custom_fields_by_name() -> None:
    fake = portal()
    fake.users[11].custom["custom_field_1"] = "01/02/2023"
    page = await source(fake).read_page(None, None)
    assert page.next is None
    assert [r["login"] for r in page.records] == ["learner1", "learner2", "learner3"]
    first = page.records[0]
    assert first["custom_fields"] == {"hireDate": "01/02/2023"}
    assert first["hire_date"] == "2023-02-01"


async def test_without_a_valid_hire_date_the_creation_date_is_the_hire_date() -> None:
    fake = portal()
    fake.users[11].custom["custom_field_1"] = "not a date"
    records = (await source(fake).read_page(None, None)).records
    assert {r["hire_date"] for r in records} == {"2024-09-17"}


@pytest.mark.parametrize(
    ("user", "custom", "expected"),
    [
        ({"created_on": "17/09/2024, 08:30:00"}, None, "2024-09-17"),
        ({"created_on": "17/09/2024, 08:30:00"}, "31/02/2023", "2024-09-17"),
        ({"created_on_timestamp": "1726561800"}, "", "2024-09-17"),
        ({}, "2023-05-04", "2023-05-04"),
        ({}, None, None),
    ],
)
def test_hire_day_prefers_a_valid_custom_date_then_the_creation_date(
    user: dict[str, Any], custom: Any, expected: str | None
) -> None:
    assert hire_day(user, custom, "%d/%m/%Y") == expected


async def test_a_branch_limits_the_read_to_its_members() -> None:
    fake = portal()
    records = (await source(fake, branch_id=2).read_page(None, None)).records
    assert [r["login"] for r in records] == ["learner2"]


async def test_a_bad_key_is_an_auth_error() -> None:
    with pytest.raises(AuthError):
        await source(portal(), key="wrong").check()


async def test_a_spent_quota_waits_until_its_reset() -> None:
    fake = portal(quota=1, wall=lambda: 1_000_000.0)
    with pytest.raises(RateLimited) as throttled:
        await source(fake).read_page(None, None)
    assert throttled.value.retry_after == pytest.approx(3600.0)
    assert "quota is used up" in throttled.value.message


# -- runs into the store ---------------------------------------------------------------


@pytest.fixture
def run(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TALENTLMS_KEY", KEY)
    ensure_tenant(engine, TENANT)

    async def start(
        fake: TalentLmsFake, source: dict[str, Any] | None = None, **options: Any
    ) -> Any:
        config = parse_config(
            {
                "tenants": {
                    TENANT: {
                        "connections": {
                            "lms": {
                                "type": "talentlms",
                                "direction": "source",
                                "base_url": "http://lms.test/api/v1",
                                "auth": {"type": "basic", "username": "${TALENTLMS_KEY}"},
                                "options": options,
                                "source": {"match": ["email"], "manager_field": None}
                                | (source or {}),
                            },
                        }
                    }
                }
            }
        )
        transport = httpx.ASGITransport(app=fake.app)
        runner = SourceRunner(engine, config, clock=Clock(), transport=transport)
        return await runner(RunRequest(TENANT, "lms"))

    return start


def users(engine: Engine) -> dict[str, dict[str, Any]]:
    table = UserRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {doc["userName"]: dict(doc) for (doc,) in conn.execute(sa.select(table.c.doc))}


async def test_lms_users_become_users_hired_on_their_creation_day(run: Any, engine: Engine) -> None:
    fake = portal()
    fake.users[13].status = "inactive"
    outcome = await run(fake)
    assert outcome.status == "succeeded", outcome
    people = users(engine)
    assert sorted(people) == ["learner1", "learner2", "learner3"]
    first = people["learner1"]
    assert first["emails"][0]["value"] == "learner1@acme.example"
    assert first[HR]["hireDate"] == "2024-09-17"
    assert first[HR]["language"] == "en"
    assert people["learner3"]["active"] is False


async def test_a_branch_run_reads_only_the_branch(run: Any, engine: Engine) -> None:
    outcome = await run(portal(), branch_id=2)
    assert outcome.counts["read"] == 1 and sorted(users(engine)) == ["learner2"]


async def test_a_source_that_only_brings_people_in_keeps_those_who_leave_it(
    run: Any, engine: Engine
) -> None:
    """Two-way (S2.2): the LMS side only creates; a user deleted in the portal, or made
    inactive there, changes nothing of the person (``on_leave: keep``, owning nothing)."""
    fake = portal()
    keep = {"on_leave": "keep", "authoritative": []}
    await run(fake, keep)
    del fake.users[11]
    fake.users[12].status = "inactive"
    fake.users[13].first_name = "Renamed"
    outcome = await run(fake, keep)
    assert outcome.counts["deactivated"] == 0 and outcome.counts["updated"] == 0
    people = users(engine)
    assert people["learner1"]["active"] is True and people["learner2"]["active"] is True
    assert people["learner3"]["name"]["givenName"] == "Learner3"

    default = await run(fake)  # the default: one absent from a full read leaves
    assert default.counts["deactivated"] == 1
    assert users(engine)["learner1"]["active"] is False
