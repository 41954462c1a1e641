"""The shared connector contract, for BambooHR against its contract fake.

BambooHR throttles with 503 (its historical signal), and its errors carry the message in
the ``X-BambooHR-Error-Message`` header with an empty body, so injected failures do too.
"""

from typing import Any

import httpx
import pytest

from tests.fakes.bamboohr import ERROR_HEADER, BambooHrFake
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget

API_KEY = "bhr-contract-key-5e0a77"
VENDOR_MESSAGE = "Invalid value for field: department"


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    monkeypatch.setenv("BAMBOOHR_API_KEY", API_KEY)
    monkeypatch.setenv("BAMBOOHR_WRONG_KEY", "bhr-revoked-key")
    monkeypatch.setenv("BAMBOOHR_PASSWORD", "x")
    fake = BambooHrFake(API_KEY, "acme")

    def connection(key: str) -> dict[str, Any]:
        return {
            "type": "bamboohr",
            "base_url": "http://bamboohr.test",
            "auth": {"type": "basic", "username": key, "password": "${BAMBOOHR_PASSWORD}"},
            "options": {"company_domain": "acme"},
        }

    def accounts() -> dict[str, dict[str, Any]]:
        return {
            employee["workEmail"].lower(): {
                "active": employee["status"] == "Active",
                "given_name": employee["firstName"],
            }
            for employee in fake.employees.values()
        }

    def fail_next(status: int, headers: dict[str, str], body: Any) -> None:
        fake.fail_next(status, headers={ERROR_HEADER: VENDOR_MESSAGE, **headers}, body=body)

    return ContractTarget(
        name="bamboohr",
        connection=connection("${BAMBOOHR_API_KEY}"),
        bad_credentials=connection("${BAMBOOHR_WRONG_KEY}"),
        accounts=accounts,
        secrets=[API_KEY],
        transport=httpx.ASGITransport(app=fake.app),
        fail_next=fail_next,
        throttle_status=503,
        permanent_status=400,
        vendor_message=VENDOR_MESSAGE,
    )


class TestBambooHrContract(ConnectorContract):
    pass
