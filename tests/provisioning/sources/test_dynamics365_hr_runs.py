"""Source runs of Dynamics 365 HR workers into the store (SQLite and PostgreSQL): S1.2, S1.3, S1.5.

The runner reads the contract fake (with its Microsoft token endpoint) over an ASGI
transport, through the engine's real client and ``microsoft`` auth, and writes through
the real ResourceService. docs/connectors/dynamics365-hr.md, "As a source".
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import GatewayConfig, parse_config
from gateway.scim.kinds import USER
from gateway.service import ResourceService
from gateway.store.tables import UserRow
from provisioning.records.runs import RunOutcome, RunRequest
from provisioning.sources import SourceRunner
from tests.fakes.dynamics365_hr import ENVIRONMENT, Dynamics365Hr
from tests.fakes.oauth_server import OAuthServer

TENANT = "acme"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "entra~runs.secret_77e0"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"


def config(**options: Any) -> GatewayConfig:
    return parse_config(
        {
            "tenants": {
                TENANT: {
                    "custom_fields": {"team": "string"},
                    "connections": {
                        "workers": {
                            "type": "dynamics365_hr",
                            "direction": "source",
                            "base_url": f"{ENVIRONMENT}/data",
                            "auth": {
                                "type": "microsoft",
                                "tenant_id": "contoso-tenant",
                                "client_id": CLIENT_ID,
                                "resource": ENVIRONMENT,
                                "client_secret": "${D365_SECRET}",
                            },
                            "options": {"custom_fields": ["Team_Custom"], **options},
                            "source": {  # id and manager fields: the connector's defaults
                                "field_map_extra": {"hr:customFields.team": "Team_Custom"},
                            },
                        },
                    },
                }
            }
        }
    )


class Run:
    """A runner of the ``workers`` source on a fixed day, its waits recorded."""

    def __init__(self, engine: Engine, hr: Dynamics365Hr) -> None:
        self.engine, self.hr = engine, hr
        self.config = config()
        self.waits: list[float] = []

    async def __call__(self) -> RunOutcome:
        async def sleep(seconds: float) -> None:
            self.waits.append(seconds)

        runner = SourceRunner(
            self.engine,
            self.config,
            clock=lambda: datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
            transport=httpx.ASGITransport(app=self.hr.app),
            sleep=sleep,
        )
        return await runner(RunRequest(TENANT, "workers"))

    def users(self) -> dict[str, dict[str, Any]]:
        """Stored users by employee number."""
        table = UserRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            docs = [dict(doc) for (doc,) in conn.execute(sa.select(table.c.doc))]
        return {doc[ENTERPRISE]["employeeNumber"]: doc for doc in docs}


@pytest.fixture
def hr() -> Dynamics365Hr:
    identity = OAuthServer(client_id=CLIENT_ID, client_secret=SECRET)
    fake = Dynamics365Hr(identity, custom_fields={"Team_Custom": "Edm.String"}, page_size=2)
    fake.hire("000101", "Ada", "Lovelace", "Ada.Lovelace@Acme.com", custom={"Team_Custom": "R&D"})
    fake.hire("000102", "Grace", "Hopper", "GRACE@acme.com")
    fake.hire("000103", "Alan", "Turing", "alan@acme.com", middle_name="Mathison")
    return fake


@pytest.fixture
def run(engine: Engine, hr: Dynamics365Hr, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("D365_SECRET", SECRET)
    ensure_tenant(engine, TENANT)
    yield Run(engine, hr)


async def test_workers_become_users_named_by_their_lower_cased_work_email(
    run: Run, hr: Dynamics365Hr
) -> None:
    outcome = await run()
    assert outcome.status == "succeeded", outcome.message
    assert outcome.counts["read"] == 3 and outcome.counts["created"] == 3
    users = run.users()
    ada = users["000101"]
    assert ada["userName"] == "ada.lovelace@acme.com"  # S1.3: the IdP's sign-in name
    assert ada["emails"] == [{"value": "ada.lovelace@acme.com", "type": "work"}]
    assert ada["name"]["givenName"] == "Ada" and ada["displayName"] == "Ada Lovelace"
    assert ada[HR]["customFields"] == {"team": "R&D"}
    assert users["000102"]["userName"] == "grace@acme.com"
    assert users["000103"]["name"]["middleName"] == "Mathison"
    assert all(user["active"] is True for user in users.values())
    assert [seen.path for seen in hr.requests].count("/data/Workers") == 2  # two pages


async def test_a_second_run_over_unchanged_workers_writes_nothing(run: Run) -> None:
    await run()
    again = await run()
    assert again.counts["unchanged"] == 3 and again.counts["updated"] == 0


async def test_a_terminated_worker_is_deactivated_never_deleted(
    run: Run, hr: Dynamics365Hr
) -> None:
    await run()
    hr.workers["000102"].status = "Terminated"
    outcome = await run()
    assert outcome.counts["deactivated"] == 1
    users = run.users()
    assert len(users) == 3 and users["000102"]["active"] is False


async def test_employment_dates_give_hire_and_termination_and_a_past_end_deactivates(
    run: Run, hr: Dynamics365Hr
) -> None:
    run.config = config(employment_entity_set="Employments")
    hr.workers["000101"].ended = "2026-02-27"  # before the run's day
    hr.workers["000103"].started = "2026-04-01"  # a joiner: not yet
    outcome = await run()
    assert outcome.status == "succeeded", outcome.message
    users = run.users()
    assert users["000101"][HR]["terminationDate"] == "2026-02-27"
    assert users["000101"]["active"] is False
    assert users["000102"][HR]["hireDate"] == "2020-01-06"
    assert "terminationDate" not in users["000102"][HR]  # F&O's "never" is no date
    assert users["000103"]["active"] is False


async def test_a_throttled_page_is_waited_for_and_sent_again(run: Run, hr: Dynamics365Hr) -> None:
    """The throttling FAQ: a throttled request that is not retried is not processed."""
    hr.fail_next(429, {"Retry-After": "3"})
    outcome = await run()
    assert outcome.status == "succeeded", outcome.message
    assert run.waits == [3.0]
    assert len(run.users()) == 3


async def test_an_unpublished_custom_field_fails_the_run_clearly_and_the_next_run_heals(
    run: Run, hr: Dynamics365Hr
) -> None:
    """S1.5: a new custom field can take minutes to appear in the API."""
    del hr.custom_fields["Team_Custom"]
    failed = await run()
    assert failed.status == "failed"
    assert "Team_Custom" in (failed.message or "") and "minutes" in (failed.message or "")
    assert run.waits == []  # not asked again within the run: it heals in minutes
    assert run.users() == {}

    hr.custom_fields["Team_Custom"] = "Edm.String"
    healed = await run()
    assert healed.status == "succeeded" and len(run.users()) == 3


async def test_a_next_link_to_another_host_fails_the_run_and_deactivates_no_one(
    run: Run, hr: Dynamics365Hr
) -> None:
    await run()
    hr.requests.clear()
    hr.link_base = "https://elsewhere.example/data/"
    outcome = await run()
    assert outcome.status == "failed"
    assert "leaves the configured service" in (outcome.message or "")
    assert outcome.counts["read"] == 0  # the page naming the link is refused whole
    assert all(user["active"] for user in run.users().values())


async def test_a_refused_token_fails_the_run_naming_the_registration(
    run: Run, hr: Dynamics365Hr
) -> None:
    hr.registered_clients = {"another-app"}
    outcome = await run()
    assert outcome.status == "failed"
    assert "Microsoft Entra applications" in (outcome.message or "")
    assert run.users() == {}


async def test_a_user_entra_pushed_first_is_linked_by_work_email_not_duplicated(
    run: Run, engine: Engine
) -> None:
    """S1.3: the user an IdP created with the sign-in name is the one HR's worker becomes."""
    service = ResourceService(engine, run.config)
    pushed = service.create(
        TENANT,
        USER,
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Ada.Lovelace@Acme.com",
            "emails": [{"type": "work", "value": "Ada.Lovelace@Acme.com"}],
        },
    )
    service.close()
    outcome = await run()
    assert outcome.counts["created"] == 2 and outcome.counts["updated"] == 1
    users = run.users()
    assert len(users) == 3
    assert users["000101"]["id"] == pushed.page.resources[0].id
