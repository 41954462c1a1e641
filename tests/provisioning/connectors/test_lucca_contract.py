"""The shared connector contract, for Lucca's legacy v3 directory against its contract fake."""

from typing import Any

import httpx
import pytest

from tests.fakes.lucca import LuccaFake
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget

API_KEY = "5d3c1e0a-lucca-contract-7b9f"
LEGAL_ENTITY, DEPARTMENT, ROLE = 1, 10, 55


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    monkeypatch.setenv("LUCCA_KEY", API_KEY)
    monkeypatch.setenv("WRONG_LUCCA_KEY", "0000-not-the-key")
    fake = LuccaFake(API_KEY, legal_entities=(LEGAL_ENTITY,), roles=(ROLE,))
    head = fake.add_user(firstName="Grace", lastName="Head", mail="grace@acme.com", login="grace")
    fake.add_department(DEPARTMENT, "Engineering", head_id=head)

    def connection(key: str) -> dict[str, Any]:
        return {
            "type": "lucca",
            "base_url": "http://acme.ilucca.test",
            "auth": {"type": "api_key", "key": key, "template": "lucca application={key}"},
            "options": {
                "default_legal_entity_id": LEGAL_ENTITY,
                "default_department_id": DEPARTMENT,
                "default_role_id": ROLE,
            },
        }

    def accounts() -> dict[str, dict[str, Any]]:
        return {
            mail: {"active": fake.is_active(user), "given_name": user["firstName"]}
            for mail, user in fake.by_mail().items()
            if user["id"] != head
        }

    def fail_next(status: int, headers: dict[str, str], body: Any) -> None:
        if body is None and status < 500:
            body = {"title": "Bad Request", "status": status, "detail": "rejected by the vendor"}
        fake.fail_next(status, headers=headers, body=body)

    return ContractTarget(
        name="lucca",
        connection=connection("${LUCCA_KEY}"),
        bad_credentials=connection("${WRONG_LUCCA_KEY}"),
        accounts=accounts,
        secrets=[API_KEY],
        transport=httpx.ASGITransport(app=fake.app),
        fail_next=fail_next,
    )


class TestLuccaContract(ConnectorContract):
    pass
