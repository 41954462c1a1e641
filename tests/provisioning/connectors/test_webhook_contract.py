"""The shared connector contract, for the signed webhook against its receiver fake."""

from typing import Any

import httpx
import pytest

from tests.fakes.webhook_receiver import WebhookReceiver
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget

SECRET = "whsec-contract-5b1f0e"


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("WRONG_SECRET", "not-the-receivers-key")
    receiver = WebhookReceiver(SECRET)

    def connection(secret: str) -> dict[str, Any]:
        return {
            "type": "webhook",
            "base_url": "http://hooks.test",
            "options": {"secret": secret, "path": "/hooks/scimgw"},
        }

    def accounts() -> dict[str, dict[str, Any]]:
        return {
            account.data["email"].lower(): {
                "active": account.active,
                "given_name": account.data.get("given_name"),
            }
            for account in receiver.accounts.values()
        }

    def fail_next(status: int, headers: dict[str, str], body: Any) -> None:
        receiver.fail_next(
            status, headers=headers, body=body or {"message": "rejected by the vendor"}
        )

    return ContractTarget(
        name="hooks",
        connection=connection("${HOOK_SECRET}"),
        bad_credentials=connection("${WRONG_SECRET}"),
        accounts=accounts,
        secrets=[SECRET],
        transport=httpx.ASGITransport(app=receiver.app),
        fail_next=fail_next,
    )


class TestWebhookContract(ConnectorContract):
    pass
