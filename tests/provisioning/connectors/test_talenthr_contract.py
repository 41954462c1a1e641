"""The shared connector contract, for TalentHR against its contract fake.

The connection here leaves ``create_only`` off so that the contract's update test runs the
connector's ``PUT /employees/{id}``; the create-only behaviour TalentHR connections use in
production (S2.2) is pinned in ``test_talenthr.py``. TalentHR rehires only under an active
manager (§9 [V]): the connection names one, seeded in the fake and left out of the accounts
the contract inspects.
"""

from typing import Any

import httpx
import pytest

from tests.fakes.talenthr import TalentHrFake
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget

API_KEY = "thr-contract-key-8c41d2"
VENDOR_MESSAGE = "The selected employment status id is invalid."
MANAGER_EMAIL = "grace.manager@talenthr.test"


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    monkeypatch.setenv("TALENTHR_API_KEY", API_KEY)
    monkeypatch.setenv("TALENTHR_WRONG_KEY", "thr-revoked-key")
    fake = TalentHrFake(API_KEY)
    manager = fake.add_employee("Grace", "Hopper", MANAGER_EMAIL)

    def connection(key: str) -> dict[str, Any]:
        return {
            "type": "talenthr",
            "base_url": "http://talenthr.test/v1",
            "auth": {"type": "basic", "username": key},
            "options": {"rehire_manager_id": manager},
        }

    def accounts() -> dict[str, dict[str, Any]]:
        return {
            employee["email"].lower(): {
                "active": not fake.is_terminated(ident),
                "given_name": employee["first_name"],
            }
            for ident, employee in fake.employees.items()
            if employee["email"] != MANAGER_EMAIL
        }

    def fail_next(status: int, headers: dict[str, str], body: Any) -> None:
        default = {"error": {"message": VENDOR_MESSAGE, "status_code": status}}
        fake.fail_next(status, headers=headers, body=body or default)

    return ContractTarget(
        name="talenthr",
        connection=connection("${TALENTHR_API_KEY}"),
        bad_credentials=connection("${TALENTHR_WRONG_KEY}"),
        accounts=accounts,
        secrets=[API_KEY],
        transport=httpx.ASGITransport(app=fake.app),
        fail_next=fail_next,
        throttle_status=429,
        permanent_status=422,
        vendor_message=VENDOR_MESSAGE,
    )


class TestTalentHrContract(ConnectorContract):
    pass
