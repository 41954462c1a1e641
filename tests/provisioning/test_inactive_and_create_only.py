"""Inactive users never linked (S2.4) and connections that never deprovision (S2.2), through
the worker into the TalentLMS and TalentHR contract fakes (SQLite and PostgreSQL)."""

from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from gateway.store.tables import AccountLink, Delivery
from tests.fakes.talenthr import TalentHrFake
from tests.fakes.talentlms import TalentLmsFake
from tests.provisioning.harness import Harness, config_with

LMS_KEY, HR_KEY = "lms-key", "hr-key"
ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.com", "login": "ada"}


@pytest.fixture
def lms() -> TalentLmsFake:
    return TalentLmsFake(LMS_KEY)


@pytest.fixture
async def harness_for(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Harness]]:
    monkeypatch.setenv("LMS_KEY", LMS_KEY)
    monkeypatch.setenv("HR_KEY", HR_KEY)
    made: list[Harness] = []

    def build(app: Any, connection: dict[str, Any]) -> Harness:
        harness = Harness(engine, config_with("t", connection), httpx.ASGITransport(app=app))
        made.append(harness)
        return harness

    yield build
    for harness in made:
        await harness.aclose()


def lms_connection(**settings: Any) -> dict[str, Any]:
    return {
        "type": "talentlms",
        "base_url": "http://lms.test/api/v1",
        "auth": {"type": "basic", "username": "${LMS_KEY}"},
        "matching": {"key": "email", "adopt_existing": True},
        **settings,
    }


async def test_an_inactive_user_never_linked_deactivates_the_lms_account_with_their_email(
    harness_for: Callable[..., Harness], lms: TalentLmsFake
) -> None:
    """S2.4: "inactive employees deactivate their LMS user if one exists" (unlinked too)."""
    existing = lms.add_user(**ADA)
    harness = harness_for(lms.app, lms_connection())
    user = await harness.create_user("ada", active=False)
    await harness.worker.drain()
    assert existing.status == "inactive"
    [link] = harness.rows(AccountLink, resource_id=user)
    assert (link.remote_id, link.state) == (str(existing.id), "inactive")
    assert len(lms.users) == 1 and lms.count("usersignup") == 0


async def test_an_inactive_user_without_an_lms_account_is_never_created_nor_looked_up_twice(
    harness_for: Callable[..., Harness], lms: TalentLmsFake
) -> None:
    """S2.4: "... and are ignored if none does"."""
    harness = harness_for(lms.app, lms_connection())
    user = await harness.create_user("ada", active=False)
    await harness.worker.drain()
    assert not lms.users and lms.count("usersignup") == 0
    [link] = harness.rows(AccountLink, resource_id=user)
    assert (link.remote_id, link.state) == (None, "deleted")
    lookups = lms.count("users")

    await harness.patch(user, "displayName", "Ada L.")  # still inactive
    await harness.worker.drain()
    assert lms.count("users") == lookups  # remembered: looked for once

    await harness.patch(user, "active", True)  # rehired: now she gets an account
    await harness.worker.drain()
    assert lms.by_email("ada@acme.com") is not None


async def test_without_adoption_an_inactive_user_leaves_a_foreign_account_alone(
    harness_for: Callable[..., Harness], lms: TalentLmsFake
) -> None:
    existing = lms.add_user(**ADA)
    harness = harness_for(lms.app, lms_connection(matching={"key": "email"}))
    await harness.create_user("ada", active=False)
    await harness.worker.drain()
    assert existing.status == "active" and lms.count("users") == 0


async def test_deprovision_none_never_touches_an_account_and_create_only_never_updates_it(
    harness_for: Callable[..., Harness],
) -> None:
    """S2.2 two-way: the LMS -> HR connection creates employees, and nothing an LMS does
    afterwards (an edit, a deactivation, a deletion) reaches an existing employee."""
    hr = TalentHrFake(HR_KEY, today=lambda: date(2026, 3, 2))
    connection = {
        "type": "talenthr",
        "base_url": "http://hr.test/v1",
        "auth": {"type": "basic", "username": "${HR_KEY}"},
        "matching": {"key": "email", "adopt_existing": True},
        "create_only": True,
        "deprovision": {"action": "none"},
    }
    harness = harness_for(hr.app, connection)
    user = await harness.create_user(
        "ada",
        **{"urn:scimgw:params:scim:schemas:extension:hr:2.0:User": {"hireDate": "2024-09-17"}},
    )
    await harness.worker.drain()
    employee = hr.by_email("ada@acme.com")
    assert employee is not None and employee["hire_date"] == "2024-09-17"

    await harness.patch(user, "name.givenName", "Augusta")
    await harness.patch(user, "active", False)
    await harness.worker.drain()
    response = await harness.scim.delete(f"/Users/{user}")
    assert response.status_code == 204
    await harness.worker.drain()

    assert employee["first_name"] == "Ada" and employee["termination_date"] is None
    assert not hr.calls("PUT") and not hr.calls("POST", "/employees/101/terminate")
    reasons = [row.error for row in harness.rows(Delivery) if row.outcome == "skipped"]
    assert any("never deprovisions" in (reason or "") for reason in reasons)
