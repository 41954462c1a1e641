"""The shared connector contract, for TalentLMS (API v1) against its contract fake.

The connection uses the documented setup: basic auth with the key and no password, the
recommended rate limit, and a branch new users join (S2.1).
"""

from typing import Any

import httpx
import pytest

from tests.fakes.talentlms import INVALID_ARGUMENTS, TalentLmsFake
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget

API_KEY = "tlms-contract-key-7Hq2Zp"
BRANCH = 3


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    monkeypatch.setenv("TALENTLMS_KEY", API_KEY)
    monkeypatch.setenv("WRONG_TALENTLMS_KEY", "tlms-not-the-key")
    fake = TalentLmsFake(API_KEY, branches={1: "acme", BRANCH: "academy"})

    def connection(key: str) -> dict[str, Any]:
        return {
            "type": "talentlms",
            "base_url": "http://acme.talentlms.test/api/v1",
            "auth": {"type": "basic", "username": key},
            "rate_limit": {"requests": 200, "per_seconds": 5},
            "options": {"branch_id": BRANCH},
        }

    def accounts() -> dict[str, dict[str, Any]]:
        return {
            user.email.lower(): {"active": user.status == "active", "given_name": user.first_name}
            for user in fake.users.values()
        }

    def fail_next(status: int, headers: dict[str, str], body: Any) -> None:
        default = {"error": {"type": "invalid_request_error", "message": INVALID_ARGUMENTS}}
        fake.fail_next(status, headers=headers, body=body or default)

    return ContractTarget(
        name="lms",
        connection=connection("${TALENTLMS_KEY}"),
        bad_credentials=connection("${WRONG_TALENTLMS_KEY}"),
        accounts=accounts,
        # The fake appends every generated password it receives to this same list, so the
        # log check covers them too.
        secrets=fake.secrets,
        transport=httpx.ASGITransport(app=fake.app),
        fail_next=fail_next,
        vendor_message=INVALID_ARGUMENTS,
    )


class TestTalentLmsContract(ConnectorContract):
    pass
