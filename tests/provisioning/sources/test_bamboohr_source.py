"""BambooHR as a source (S3.1-S3.3, target-apis.md §3) against its contract fake.

Runs go through :class:`provisioning.sources.SourceRunner` and the real store (SQLite and
PostgreSQL); the fake refuses what BambooHR refuses (a Content-Type with a charset, a
wrong key), drops fields it does not know, and moves ``lastChanged`` on every edit.
"""

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import GatewayConfig, parse_config
from gateway.store.tables import UserRow
from provisioning.connectors import ConnectorSetup, SourceConnector
from provisioning.connectors.bamboohr_source import BambooHrSource, BambooHrSourceOptions
from provisioning.errors import PermanentError
from provisioning.records.runs import RunOutcome, RunRequest
from provisioning.sources import SourceRunner, source_class, source_problems
from tests.fakes.bamboohr import API_KEY, ERROR_HEADER, BambooHrFake, employee
from tests.provisioning.sources.conftest import ENTERPRISE, HR, TENANT, Clock

HOST = "http://bamboohr.test"
ROOT = f"{HOST}/api/gateway.php/acme/v1"


def bamboo_config(
    options: dict[str, Any] | None = None,
    custom_fields: dict[str, str] | None = None,
    **source: Any,
) -> GatewayConfig:
    return parse_config(
        {
            "tenants": {
                TENANT: {
                    "custom_fields": custom_fields or {},
                    "connections": {
                        "bamboo": {
                            "type": "bamboohr",
                            "direction": "source",
                            "base_url": HOST,
                            "auth": {
                                "type": "basic",
                                "username": "${BHR_KEY}",
                                "password": "${BHR_PASSWORD}",
                            },
                            "options": {"company_domain": "acme", **(options or {})},
                            "source": source,
                        },
                        "lms": {"type": "scim", "base_url": "http://lms.test/scim/v2"},
                    },
                }
            }
        }
    )


class Bamboo:
    """The fake company, a runner on a fixed clock, the store; and the waits asked for."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = Clock()
        self.wall = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
        self.fake = BambooHrFake(API_KEY, wall_clock=lambda: self.wall)
        self.config = bamboo_config()
        self.waits: list[float] = []

    def later(self, minutes: int = 5) -> None:
        self.wall += timedelta(minutes=minutes)

    async def run(self, **request: Any) -> RunOutcome:
        async def sleep(seconds: float) -> None:
            self.waits.append(seconds)

        runner = SourceRunner(
            self.engine,
            self.config,
            clock=self.clock,
            transport=httpx.ASGITransport(app=self.fake.app),
            sleep=sleep,
        )
        return await runner(RunRequest(TENANT, "bamboo", **request))

    def users(self) -> dict[str, dict[str, Any]]:
        """Users by userName."""
        table = UserRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            docs = [dict(doc) for (doc,) in conn.execute(sa.select(table.c.doc))]
        return {doc["userName"]: doc for doc in docs}


@pytest.fixture
def bamboo(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bamboo]:
    monkeypatch.setenv("BHR_KEY", API_KEY)
    monkeypatch.setenv("BHR_PASSWORD", "x")
    ensure_tenant(engine, TENANT)
    yield Bamboo(engine)


# -- the fake: what BambooHR refuses on the read side ----------------------------------


async def test_the_fake_parses_a_charset_content_type_as_xml_and_caps_report_fields() -> None:
    fake = BambooHrFake(API_KEY)
    async with _client(fake) as client:
        charset = await client.post(
            "/reports/custom",
            params={"format": "JSON"},
            content=b'{"fields": ["firstName"]}',
            headers={"Content-Type": "application/json; charset=UTF-8"},
        )
        assert charset.status_code == 400
        assert charset.headers[ERROR_HEADER] == "Malformed XML" and charset.content == b""
        many = await client.post(
            "/reports/custom", params={"format": "JSON"}, json={"fields": ["x"] * 401}
        )
        assert many.status_code == 400


async def test_the_fake_lists_changes_since_a_moment_deletions_included() -> None:
    wall = [datetime(2026, 3, 2, 5, 0, tzinfo=UTC)]
    fake = BambooHrFake(API_KEY, wall_clock=lambda: wall[0])
    kept = fake.add_employee(**employee(1))
    gone = fake.add_employee(**employee(2))
    wall[0] += timedelta(hours=1)
    fake.edit(kept, jobTitle="Trainer")
    fake.delete_employee(gone)
    async with _client(fake) as client:
        changed = await client.get("/employees/changed", params={"since": "2026-03-02T05:30:00Z"})
        bad = await client.get("/employees/changed", params={"since": "yesterday"})
        deleted = await client.get(
            "/employees/changed", params={"since": "2026-03-02T05:30:00Z", "type": "deleted"}
        )
    body = changed.json()
    assert body["latest"] == "2026-03-02T06:00:00+00:00"
    assert {k: v["action"] for k, v in body["employees"].items()} == {
        str(kept): "Updated",
        str(gone): "Deleted",
    }
    assert list(deleted.json()["employees"]) == [str(gone)]
    assert bad.status_code == 400


def _client(fake: BambooHrFake) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app),
        base_url=ROOT,
        auth=httpx.BasicAuth(API_KEY, "x"),
        headers={"Accept": "application/json"},
    )


# -- the connector -----------------------------------------------------------------------


def test_type_bamboohr_with_direction_source_is_the_source_connector() -> None:
    assert source_class("bamboohr") is BambooHrSource
    assert isinstance(BambooHrSource, type)
    connector = BambooHrSource(
        ConnectorSetup("bamboo", HOST, httpx.AsyncClient(), {"company_domain": "acme"})
    )
    assert isinstance(connector, SourceConnector)


def test_the_report_asks_for_the_minimum_fields_the_supervisor_and_the_skip_box() -> None:
    options = BambooHrSourceOptions(company_domain="acme", fields=("customShirtSize",))
    fields = options.report_fields()
    for name in (
        "employeeNumber",
        "status",
        "firstName",
        "middleName",
        "lastName",
        "preferredName",
        "workEmail",
        "hireDate",
        "originalHireDate",
        "jobTitle",
        "department",
        "division",
        "location",
        "supervisorEId",
        "skip_elevo_sync",
        "customShirtSize",
    ):
        assert name in fields
    assert len(fields) == len(set(fields))


def test_options_refuse_more_than_400_report_fields_and_odd_field_names() -> None:
    with pytest.raises(ValueError, match="at most 400 fields"):
        BambooHrSourceOptions(company_domain="acme", fields=tuple(f"f{n}" for n in range(400)))
    with pytest.raises(ValueError):
        BambooHrSourceOptions(company_domain="acme", fields=("first name",))
    with pytest.raises(ValueError):
        BambooHrSourceOptions(company_domain="acme.bamboohr.com")


async def test_the_report_is_posted_as_exactly_application_json_with_basic_auth() -> None:
    fake = BambooHrFake(API_KEY)
    fake.add_employee(**employee(1))
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app),
        auth=httpx.BasicAuth(API_KEY, "x"),
        event_hooks={"request": [record]},
    )
    connector = BambooHrSource(ConnectorSetup("bamboo", HOST, client, {"company_domain": "acme"}))
    async with client:
        page = await connector.read_page(None, None)
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/api/gateway.php/acme/v1/reports/custom")
    assert dict(request.url.params) == {"format": "JSON", "onlyCurrent": "false"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(f"{API_KEY}:x".encode()).decode()
    )
    assert page.next is None and len(page.records) == 1
    assert page.records[0]["terminationDate"] is None  # "0000-00-00": no date


async def test_the_checkpoint_is_the_newest_last_changed_in_utc() -> None:
    """BambooHR's own clock, whatever offset it writes: a skew of ours loses nothing."""
    fake = BambooHrFake(API_KEY)
    fake.add_employee(**employee(1))
    fake.add_employee(**employee(2))
    fake.add_employee(**employee(3))
    stamps = ["2026-03-02T07:30:00+02:00", "2026-03-02T05:10:00Z", "not a time"]
    for employee_id, stamp in zip(sorted(fake.employees), stamps, strict=True):
        fake.employees[employee_id]["lastChanged"] = stamp
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), auth=httpx.BasicAuth(API_KEY, "x")
    )
    connector = BambooHrSource(ConnectorSetup("bamboo", HOST, client, {"company_domain": "acme"}))
    async with client:
        page = await connector.read_page(None, None)
        nobody = await connector.read_page("2026-03-03T00:00:00Z", None)
    assert page.checkpoint == "2026-03-02T05:30:00Z"
    assert nobody.records == [] and nobody.checkpoint == "2026-03-03T00:00:00Z"


async def test_check_reads_the_field_catalogue_and_a_wrong_key_is_an_auth_error() -> None:
    fake = BambooHrFake(API_KEY)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), auth=httpx.BasicAuth("wrong", "x")
    )
    connector = BambooHrSource(ConnectorSetup("bamboo", HOST, client, {"company_domain": "acme"}))
    async with client:
        with pytest.raises(Exception, match="Invalid API key") as caught:
            await connector.check()
    assert type(caught.value).__name__ == "AuthError"


# -- runs: joiners, managers, SSO --------------------------------------------------------


async def test_employees_become_users_named_by_their_lower_cased_work_email(
    bamboo: Bamboo,
) -> None:
    boss = bamboo.fake.add_employee(**employee(1, preferredName="Addie", middleName="B"))
    bamboo.fake.add_employee(**employee(2, supervisorEId=str(boss)))
    outcome = await bamboo.run()
    assert outcome.status == "succeeded", outcome.message
    assert outcome.counts["created"] == 2

    users = bamboo.users()
    first = users["first1.last1@acme.example"]
    assert first["name"] == {"givenName": "First1", "middleName": "B", "familyName": "Last1"}
    assert first["nickName"] == "Addie"
    assert first["emails"] == [{"type": "work", "value": "First1.Last1@Acme.example"}]
    assert first["title"] == "Engineer" and first["active"] is True
    assert first[ENTERPRISE]["employeeNumber"] == "0001"
    assert first[ENTERPRISE]["department"] == "Engineering"
    assert first[ENTERPRISE]["division"] == "Europe"
    assert first[HR]["location"] == "Lyon"
    assert first[HR]["hireDate"] == "2021-03-01"
    assert "terminationDate" not in first[HR]
    report = users["first2.last2@acme.example"]
    assert report[ENTERPRISE]["manager"]["value"] == first["id"]


async def test_an_employee_without_work_email_or_status_fails_alone_named_by_id(
    bamboo: Bamboo,
) -> None:
    no_email = bamboo.fake.add_employee(**employee(1, workEmail=""))
    no_status = bamboo.fake.add_employee(**employee(2, status=""))
    bamboo.fake.add_employee(**employee(3))
    outcome = await bamboo.run()
    assert outcome.status == "failed" and outcome.counts["created"] == 1
    reasons = {failure.person: failure.reason for failure in outcome.failures}
    assert reasons == {
        str(no_email): "userName: required, but workEmail gave no value",
        str(no_status): "active: required, but status gave no value",
    }
    assert list(bamboo.users()) == ["first3.last3@acme.example"]


async def test_the_original_hire_date_stands_in_when_there_is_no_hire_date(
    bamboo: Bamboo,
) -> None:
    bamboo.fake.add_employee(**employee(1, hireDate=""))
    await bamboo.run()
    assert bamboo.users()["first1.last1@acme.example"][HR]["hireDate"] == "2019-09-02"


async def test_a_supervisor_named_before_or_after_their_reports_is_resolved(
    bamboo: Bamboo,
) -> None:
    report = bamboo.fake.add_employee(**employee(1))
    boss = bamboo.fake.add_employee(**employee(2))
    bamboo.fake.edit(report, supervisorEId=str(boss))  # the report comes first in the report
    outcome = await bamboo.run()
    assert outcome.status == "succeeded", outcome.message
    users = bamboo.users()
    manager = users["first1.last1@acme.example"][ENTERPRISE]["manager"]["value"]
    assert manager == users["first2.last2@acme.example"]["id"]


async def test_the_supervisor_field_is_an_option(bamboo: Bamboo) -> None:
    bamboo.fake.fields["customMentorId"] = "text"
    boss = bamboo.fake.add_employee(**employee(1))
    bamboo.fake.add_employee(**employee(2, customMentorId=str(boss), supervisorEId=""))
    bamboo.config = bamboo_config({"supervisor_field": "customMentorId"})
    await bamboo.run()
    users = bamboo.users()
    manager = users["first2.last2@acme.example"][ENTERPRISE]["manager"]["value"]
    assert manager == users["first1.last1@acme.example"]["id"]


async def test_a_field_added_to_the_options_reaches_a_custom_field(bamboo: Bamboo) -> None:
    """The documented recipe: read one more BambooHR field and map it with field_map_extra."""
    bamboo.fake.fields["customShirtSize"] = "text"
    bamboo.fake.add_employee(**employee(1, customShirtSize="M"))
    bamboo.config = bamboo_config(
        {"fields": ["customShirtSize", "originalHireDate"]},
        {"shirt_size": "string", "original_hire_date": "string"},
        field_map_extra={
            "hr:customFields.shirt_size": "customShirtSize",
            "hr:customFields.original_hire_date": "originalHireDate",
        },
    )
    outcome = await bamboo.run()
    assert outcome.status == "succeeded", outcome.failures
    custom = bamboo.users()["first1.last1@acme.example"][HR]["customFields"]
    assert custom == {"shirt_size": "M", "original_hire_date": "2019-09-02"}


async def test_an_inactive_employee_is_created_inactive(bamboo: Bamboo) -> None:
    bamboo.fake.add_employee(**employee(1, status="Inactive", terminationDate="2025-12-31"))
    outcome = await bamboo.run()
    assert outcome.counts["created"] == 1
    user = bamboo.users()["first1.last1@acme.example"]
    assert user["active"] is False
    assert user[HR]["terminationDate"] == "2025-12-31"


async def test_an_employee_made_inactive_is_deactivated_never_deleted(bamboo: Bamboo) -> None:
    person = bamboo.fake.add_employee(**employee(1))
    await bamboo.run()
    bamboo.fake.edit(person, status="Inactive", terminationDate="2026-02-27")
    outcome = await bamboo.run()
    assert outcome.counts["deactivated"] == 1
    assert bamboo.users()["first1.last1@acme.example"]["active"] is False


# -- the skip box (S3.3) ----------------------------------------------------------------


@pytest.mark.parametrize("checked", ["yes", "1", "true"])
async def test_a_ticked_skip_box_deactivates_the_user_and_keeps_them(
    bamboo: Bamboo, checked: str
) -> None:
    person = bamboo.fake.add_employee(**employee(1))
    bamboo.fake.add_employee(**employee(2))
    await bamboo.run()
    user_id = bamboo.users()["first1.last1@acme.example"]["id"]

    bamboo.fake.employees[person]["skip_elevo_sync"] = checked  # as BambooHR may read it
    outcome = await bamboo.run()
    assert outcome.counts["skipped"] == 1 and outcome.counts["deactivated"] == 1
    kept = bamboo.users()["first1.last1@acme.example"]
    assert kept["id"] == user_id and kept["active"] is False


async def test_unticking_the_skip_box_brings_the_same_user_back(bamboo: Bamboo) -> None:
    person = bamboo.fake.add_employee(**employee(1))
    await bamboo.run()
    user_id = bamboo.users()["first1.last1@acme.example"]["id"]
    bamboo.fake.edit(person, skip_elevo_sync="yes")
    await bamboo.run()
    assert bamboo.users()["first1.last1@acme.example"]["active"] is False

    bamboo.fake.edit(person, skip_elevo_sync="no")
    outcome = await bamboo.run()
    assert outcome.counts["reactivated"] == 1
    back = bamboo.users()["first1.last1@acme.example"]
    assert back["id"] == user_id and back["active"] is True


@pytest.mark.parametrize("unchecked", ["no", "0", "false", ""])
async def test_an_unticked_skip_box_leaves_the_person_in(bamboo: Bamboo, unchecked: str) -> None:
    bamboo.fake.add_employee(**employee(1, skip_elevo_sync=unchecked))
    outcome = await bamboo.run()
    assert outcome.counts["created"] == 1 and outcome.counts["skipped"] == 0


async def test_a_person_ticked_from_the_start_is_never_created(bamboo: Bamboo) -> None:
    bamboo.fake.add_employee(**employee(1, skip_elevo_sync="yes"))
    bamboo.fake.add_employee(**employee(2))
    outcome = await bamboo.run()
    assert outcome.counts["created"] == 1 and outcome.counts["skipped"] == 1
    assert list(bamboo.users()) == ["first2.last2@acme.example"]


async def test_a_skip_box_the_key_cannot_see_fails_the_run_and_writes_nothing(
    bamboo: Bamboo,
) -> None:
    """The report drops a field it does not know without a word [V]: a missing skip box
    would silently sync everyone it should leave out."""
    del bamboo.fake.fields["skip_elevo_sync"]
    bamboo.fake.add_employee(**employee(1))
    outcome = await bamboo.run()
    assert outcome.status == "failed"
    assert "left out skip_elevo_sync" in (outcome.message or "")
    assert bamboo.users() == {}


async def test_the_skip_box_name_is_an_option_and_null_turns_it_off(bamboo: Bamboo) -> None:
    bamboo.fake.fields["customNoReviews"] = "checkbox"
    bamboo.fake.add_employee(**employee(1, customNoReviews="yes"))
    bamboo.fake.add_employee(**employee(2, skip_elevo_sync="yes"))
    bamboo.config = bamboo_config({"skip_field": "customNoReviews"})
    outcome = await bamboo.run()
    assert list(bamboo.users()) == ["first2.last2@acme.example"]
    assert outcome.counts["skipped"] == 1

    bamboo.config = bamboo_config({"skip_field": None})
    outcome = await bamboo.run()
    assert outcome.counts["skipped"] == 0
    assert sorted(bamboo.users()) == ["first1.last1@acme.example", "first2.last2@acme.example"]


# -- incremental runs and deletions ------------------------------------------------------


async def test_an_incremental_run_reads_only_employees_changed_since_the_last_one(
    bamboo: Bamboo,
) -> None:
    bamboo.config = bamboo_config(incremental=True)
    first = bamboo.fake.add_employee(**employee(1))
    bamboo.fake.add_employee(**employee(2))
    bamboo.later(1)
    bamboo.fake.add_employee(**employee(3))  # the newest change: the checkpoint, 05:01
    full = await bamboo.run()
    assert full.counts["read"] == 3
    assert "filters" not in bamboo.fake.reports[-1]

    bamboo.later()
    bamboo.fake.edit(first, jobTitle="Trainer")
    changed = await bamboo.run()
    assert bamboo.fake.reports[-1]["filters"] == {
        "lastChanged": {"includeNull": "no", "value": "2026-03-02T05:01:00Z"}
    }
    # The edited one, and the one changed at the checkpoint itself (the bound is inclusive,
    # so a change in that second is never lost; re-reading it costs nothing).
    assert changed.counts["read"] == 2
    assert changed.counts["updated"] == 1 and changed.counts["unchanged"] == 1
    assert bamboo.users()["first1.last1@acme.example"]["title"] == "Trainer"

    await bamboo.run()  # the checkpoint moved to the edit
    assert bamboo.fake.reports[-1]["filters"]["lastChanged"]["value"] == "2026-03-02T05:06:00Z"


async def test_a_deleted_employee_is_deactivated_by_the_next_full_run(bamboo: Bamboo) -> None:
    gone = bamboo.fake.add_employee(**employee(1))
    bamboo.fake.add_employee(**employee(2))
    await bamboo.run()
    bamboo.fake.delete_employee(gone)
    outcome = await bamboo.run()
    assert outcome.counts["deactivated"] == 1
    assert bamboo.users()["first1.last1@acme.example"]["active"] is False


async def test_an_incremental_run_deactivates_an_employee_deleted_since_the_last_one(
    bamboo: Bamboo,
) -> None:
    """A report cannot show a deletion; /employees/changed?type=deleted does [V]."""
    bamboo.config = bamboo_config(incremental=True)
    gone = bamboo.fake.add_employee(**employee(1))
    bamboo.fake.add_employee(**employee(2))
    await bamboo.run()
    assert ("GET", f"{ROOT.removeprefix(HOST)}/employees/changed") not in bamboo.fake.requests

    bamboo.later()
    bamboo.fake.delete_employee(gone)
    outcome = await bamboo.run()
    assert outcome.counts["deactivated"] == 1
    users = bamboo.users()
    assert users["first1.last1@acme.example"]["active"] is False  # kept, never deleted
    assert users["first2.last2@acme.example"]["active"] is True

    again = await bamboo.run()  # still listed as deleted: nothing more to do
    assert again.counts["deactivated"] == 0 and again.status == "succeeded"


async def test_a_report_returning_no_one_is_held_by_the_guard(bamboo: Bamboo) -> None:
    for number in (1, 2, 3):
        bamboo.fake.add_employee(**employee(number))
    await bamboo.run()
    bamboo.fake.employees.clear()
    outcome = await bamboo.run()
    assert outcome.status == "held"
    assert all(user["active"] for user in bamboo.users().values())


# -- throttling and errors ---------------------------------------------------------------


async def test_a_429_is_asked_again_after_its_retry_after(bamboo: Bamboo) -> None:
    bamboo.fake.add_employee(**employee(1))
    bamboo.fake.throttle_next(429, retry_after=7)
    outcome = await bamboo.run()
    assert outcome.status == "succeeded" and outcome.counts["created"] == 1
    assert bamboo.waits == [7.0]


async def test_the_legacy_503_throttle_is_waited_out_too(bamboo: Bamboo) -> None:
    bamboo.fake.add_employee(**employee(1))
    bamboo.fake.throttle_next(503, retry_after=None)
    bamboo.fake.throttle_next(503, retry_after=None)
    outcome = await bamboo.run()
    assert outcome.status == "succeeded"
    assert bamboo.waits == [1.0, 2.0]  # no Retry-After: the run's own backoff


async def test_a_wrong_key_fails_the_run_with_bamboohrs_message(
    bamboo: Bamboo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BHR_KEY", "not-the-key")
    bamboo.config = bamboo_config()
    outcome = await bamboo.run()
    assert outcome.status == "failed"
    assert outcome.message == "HTTP 401: Invalid API key"


async def test_a_refusal_carries_the_x_bamboohr_error_message(bamboo: Bamboo) -> None:
    bamboo.fake.fail_next(403, headers={ERROR_HEADER: "You do not have access to reports"})
    outcome = await bamboo.run()
    assert outcome.message == "HTTP 403: You do not have access to reports"


async def test_an_xml_answer_is_a_clear_error() -> None:
    fake = BambooHrFake(API_KEY)
    fake.fail_next(200, body="<report/>")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), auth=httpx.BasicAuth(API_KEY, "x")
    )
    connector = BambooHrSource(ConnectorSetup("bamboo", HOST, client, {"company_domain": "acme"}))
    async with client:
        with pytest.raises(PermanentError, match="without a JSON body"):
            await connector.read_page(None, None)


# -- configuration -----------------------------------------------------------------------


def test_config_check_accepts_a_bamboohr_source_and_names_bad_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BHR_KEY", API_KEY)
    monkeypatch.setenv("BHR_PASSWORD", "x")
    assert source_problems(bamboo_config()) == []
    problems = source_problems(bamboo_config({"skip_field": "skip me", "color": "red"}))
    assert any("options" in p for p in problems) and len(problems) == 2


def test_source_settings_win_over_the_options_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioning.sources.registry import source_settings

    monkeypatch.setenv("BHR_KEY", API_KEY)
    monkeypatch.setenv("BHR_PASSWORD", "x")
    connection = bamboo_config(skip_field="customOther").tenant(TENANT).connections["bamboo"]
    settings = source_settings(connection, BambooHrSource)
    assert settings.skip_field == "customOther"
    assert settings.manager_field == "supervisorEId"
