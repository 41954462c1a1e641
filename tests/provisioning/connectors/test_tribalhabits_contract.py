"""The shared connector contract, for Tribal Habits against its contract fake."""

from typing import Any

import httpx
import pytest

from tests.fakes.tribalhabits import TribalHabitsFake
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget

API_KEY = "th-contract-key-7c41d9e2a0"
VENDOR_MESSAGE = "rejected by the vendor"


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    monkeypatch.setenv("TRIBAL_HABITS_KEY", API_KEY)
    monkeypatch.setenv("WRONG_TRIBAL_HABITS_KEY", "th-some-other-organisation")
    fake = TribalHabitsFake(API_KEY)

    def connection(key: str) -> dict[str, Any]:
        return {
            "type": "tribalhabits",
            "base_url": "https://acme.tribalhabits.test/papi",
            "auth": {"type": "api_key", "key": key},
            "rate_limit": "300/min",
        }

    def accounts() -> dict[str, dict[str, Any]]:
        return {
            email: {"active": user["active"], "given_name": user["first_name"]}
            for email, user in fake.by_email().items()
        }

    def fail_next(status: int, headers: dict[str, str], body: Any) -> None:
        fake.fail_next(status, headers=headers, body=body or {"error": VENDOR_MESSAGE})

    return ContractTarget(
        name="tribalhabits",
        connection=connection("${TRIBAL_HABITS_KEY}"),
        bad_credentials=connection("${WRONG_TRIBAL_HABITS_KEY}"),
        accounts=accounts,
        secrets=[API_KEY],
        transport=httpx.ASGITransport(app=fake.app),
        fail_next=fail_next,
        permanent_status=422,
        vendor_message=VENDOR_MESSAGE,
    )


class TestTribalHabitsContract(ConnectorContract):
    pass
