"""The shared connector contract, for Dynamics 365 HR write-back against its contract fake.

Write-back reads the contract this way: HR's workers exist before scimgw (HR hires them),
so the connection adopts them by work email, and "the account" of a user is the worker
carrying the values scimgw wrote into its custom fields. ``given_name`` is the custom field
the map fills from ``name.givenName``; ``active`` is the worker's employment in HR.

Deactivation is the one contract test that does not fit: scimgw never terminates a worker
(S1.4), so it is replaced below by the write-back reading (employment untouched, no call).
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from gateway.scim.models import HR_SCHEMA
from gateway.store.tables import AccountLink, OutboxEvent
from provisioning.connectors import dynamics365_hr
from tests.fakes.dynamics365_hr import ENVIRONMENT, NO_YES, Dynamics365Hr
from tests.fakes.oauth_server import OAuthServer
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget
from tests.provisioning.harness import Harness, config_with

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "entra~contract.secret_5b1f"
VENDOR_MESSAGE = "Write access to Workers is denied for this legal entity."
FIELD_MAP = {
    "PersonnelNumber": "enterprise:employeeNumber",
    "LmsGivenName_Custom": "name.givenName",
    "LmsPoints_Custom": {"from": "hr:customFields.lms_points", "default": 0},
    "LmsActive_Custom": "active",
}


@pytest.fixture
def hr() -> Dynamics365Hr:
    identity = OAuthServer(client_id=CLIENT_ID, client_secret=SECRET)
    fake = Dynamics365Hr(
        identity,
        custom_fields={
            "LmsGivenName_Custom": "Edm.String",
            "LmsPoints_Custom": "Edm.Decimal",
            "LmsActive_Custom": NO_YES,
        },
    )
    fake.hire("000101", "Ada", "Tester", "Ada@acme.com")
    fake.hire("000102", "Grace", "Hopper", "grace@acme.com")
    return fake


@pytest.fixture
def contract(hr: Dynamics365Hr, monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    monkeypatch.setenv("D365_SECRET", SECRET)
    monkeypatch.setenv("D365_WRONG_SECRET", "not-the-app-secret")

    def connection(secret: str) -> dict[str, Any]:
        return {
            "type": "dynamics365_hr",
            "base_url": f"{ENVIRONMENT}/data",
            "auth": {
                "type": "microsoft",
                "tenant_id": hr.identity.tenant_id,
                "client_id": CLIENT_ID,
                "resource": ENVIRONMENT,
                "client_secret": secret,
            },
            "matching": {"key": "email", "adopt_existing": True},
            "field_map": FIELD_MAP,
        }

    def accounts() -> dict[str, dict[str, Any]]:
        return {
            worker.email.lower(): {
                "active": worker.status == "Employed",
                "given_name": worker.custom.get("LmsGivenName_Custom"),
            }
            for worker in hr.written().values()
        }

    def fail_next(status: int, headers: dict[str, str], body: Any) -> None:
        error = {"error": {"code": "", "message": VENDOR_MESSAGE}}
        hr.fail_next(status, headers, body or error)

    return ContractTarget(
        name="hr",
        connection=connection("${D365_SECRET}"),
        bad_credentials=connection("${D365_WRONG_SECRET}"),
        accounts=accounts,
        secrets=[SECRET],
        transport=httpx.ASGITransport(app=hr.app),
        fail_next=fail_next,
        vendor_message=VENDOR_MESSAGE,
        tenant={"custom_fields": {"lms_points": "integer"}},
        people=("grace", "ada"),
    )


class TestDynamics365HrContract(ConnectorContract):
    async def test_deactivate_then_reactivate(
        self, harness: Harness, contract: ContractTarget, hr: Dynamics365Hr
    ) -> None:
        """Write-back's reading: deactivating the user leaves the worker employed and sends
        nothing to HR; reactivating resumes the write-back."""
        user = await harness.create_user("ada")
        await harness.worker.drain()
        before = len(hr.requests)
        await harness.patch(user, "active", False)
        await harness.worker.drain()
        assert len(hr.requests) == before
        assert contract.accounts()["ada@acme.com"] == {"active": True, "given_name": "Ada"}
        [link] = harness.rows(AccountLink, resource_id=user)
        assert link.state == "inactive"
        await harness.patch(user, "active", True)
        await harness.worker.drain()
        assert contract.accounts()["ada@acme.com"]["active"] is True
        assert hr.workers["000101"].custom["LmsActive_Custom"] == "Yes"

    async def test_points_from_a_tenant_custom_field_reach_the_worker(
        self, harness: Harness, hr: Dynamics365Hr
    ) -> None:
        """S1.4: a value earned downstream (stored as an HR custom field) is written back."""
        schemas = [CORE, HR_SCHEMA]
        points = {HR_SCHEMA: {"customFields": {"lms_points": 42}}}
        await harness.create_user("ada", schemas=schemas, **points)
        await harness.worker.drain()
        assert hr.workers["000101"].custom["LmsPoints_Custom"] == 42
        assert hr.workers["000102"].custom == {}  # nobody else touched


# -- the documented set-up, end to end: matching by personnel number (S1.4, S1.5) ---------


@pytest.fixture
async def by_number(engine: Engine, contract: ContractTarget) -> AsyncIterator[Harness]:
    """The connection as docs/connectors/dynamics365-hr.md configures it."""
    connection = {
        **contract.connection,
        "matching": {"key": "employeeNumber", "adopt_existing": True},
        "field_map": {
            "PersonnelNumber": {"from": "enterprise:employeeNumber", "required": True},
            "LmsPoints_Custom": {"from": "hr:customFields.lms_points", "default": 0},
        },
    }
    harness = Harness(engine, config_with("hr", connection, **contract.tenant), contract.transport)
    yield harness
    await harness.aclose()


async def create_employee(harness: Harness, name: str, number: str, points: int) -> str:
    return await harness.create_user(
        name,
        schemas=[CORE, ENTERPRISE, HR_SCHEMA],
        **{
            ENTERPRISE: {"employeeNumber": number},
            HR_SCHEMA: {"customFields": {"lms_points": points}},
        },
    )


async def test_a_worker_is_adopted_by_personnel_number_and_written(
    by_number: Harness, hr: Dynamics365Hr
) -> None:
    user = await create_employee(by_number, "ada", "000101", 42)
    await by_number.worker.drain()
    assert hr.workers["000101"].custom == {"LmsPoints_Custom": 42}
    [link] = by_number.rows(AccountLink, resource_id=user)
    assert (link.state, link.remote_id) == ("active", "000101")


async def test_a_user_hr_does_not_know_is_dead_lettered_and_nobody_is_hired(
    by_number: Harness, hr: Dynamics365Hr
) -> None:
    user = await create_employee(by_number, "eve", "999999", 1)
    await by_number.worker.drain()
    [event] = by_number.rows(OutboxEvent, resource_id=user)
    assert event.status == "dead"
    assert "does not create workers" in event.last_error
    assert set(hr.workers) == {"000101", "000102"} and hr.written() == {}


async def test_a_custom_field_enabled_late_heals_the_delivery(
    by_number: Harness, hr: Dynamics365Hr, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S1.5: a field not yet in the API is a retryable configuration error, not a crash."""
    del hr.custom_fields["LmsPoints_Custom"]
    user = await create_employee(by_number, "ada", "000101", 42)
    await by_number.worker.drain()
    [event] = by_number.rows(OutboxEvent, resource_id=user)
    assert event.status == "pending" and event.attempts == 1
    assert "LmsPoints_Custom" in event.last_error and "Worker" in event.last_error

    hr.custom_fields["LmsPoints_Custom"] = "Edm.Decimal"  # the HR admin enables it
    monkeypatch.setattr(dynamics365_hr, "METADATA_REFRESH_SECONDS", 0.0)  # minutes pass
    by_number.clock.advance(3600)
    await by_number.worker.drain()
    assert hr.workers["000101"].custom == {"LmsPoints_Custom": 42}
