"""The shared connector contract, for TalentHR against its contract fake.

The connection here leaves ``create_only`` off so that the contract's update test runs the
connector's ``PUT /employees/{id}``; the create-only behaviour TalentHR connections use in
production (S2.2) is pinned in ``test_talenthr.py``.
"""

from typing import Any

import httpx
import pytest

from tests.fakes.talenthr import TalentHrFake
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget

API_KEY = "thr-contract-key-8c41d2"
VENDOR_MESSAGE = "The selected employment status id is invalid."


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    monkeypatch.setenv("TALENTHR_API_KEY", API_KEY)
    monkeypatch.setenv("TALENTHR_WRONG_KEY", "thr-revoked-key")
    fake = TalentHrFake(API_KEY)

    def connection(key: str) -> dict[str, Any]:
        return {
            "type": "talenthr",
            "base_url": "http://talenthr.test/v1",
            "auth": {"type": "basic", "username": key},
        }

    def accounts() -> dict[str, dict[str, Any]]:
        return {
            employee["email"].lower(): {
                "active": employee["termination_date"] is None,
                "given_name": employee["first_name"],
            }
            for employee in fake.employees.values()
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
