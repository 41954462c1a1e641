"""The shared connector contract, for the SCIM 2.0 client against scimgw itself.

The remote is a second scimgw app (tenant ``remote`` of the same store), reached through
an ASGI transport; a thin wrapper lets the contract make it fail on demand.
"""

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.auth.tokens import create_token
from gateway.config.file import parse_config
from gateway.scim.kinds import USER
from gateway.settings import Settings
from provisioning.accounts.snapshot import as_document
from tests.provisioning.connectors.contract import ConnectorContract, ContractTarget

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class FailingOnDemand:
    """Answers queued SCIM errors before letting requests through to the real server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.queue: list[tuple[int, dict[str, str], Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.queue:
            status, headers, body = self.queue.pop(0)
            detail = body or {
                "schemas": [ERROR],
                "status": str(status),
                "detail": "rejected by the vendor",
            }
            await JSONResponse(detail, status, headers=headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@pytest.fixture
def contract(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
    remote = FailingOnDemand(
        create_app(Settings(), engine, parse_config({"tenants": {"remote": {}}}))
    )
    token = create_token(engine, "remote", "scimgw")
    monkeypatch.setenv("REMOTE_TOKEN", token)
    monkeypatch.setenv("WRONG_TOKEN", "scimgw_not-a-token")

    def connection(reference: str) -> dict[str, Any]:
        return {
            "type": "scim",
            "base_url": "http://remote.test/scim/v2",
            "auth": {"type": "bearer", "token": reference},
            "matching": {"key": "userName"},
        }

    def accounts() -> dict[str, dict[str, Any]]:
        table = USER.table
        with engine.connect() as db:
            docs = [
                as_document(d)
                for d in db.execute(
                    sa.select(table.c.doc).where(table.c.tenant_id == "remote")
                ).scalars()
            ]
        return {
            doc["userName"].lower(): {
                "active": doc.get("active", True),
                "given_name": doc["name"]["givenName"],
            }
            for doc in docs
        }

    return ContractTarget(
        name="remote",
        connection=connection("${REMOTE_TOKEN}"),
        bad_credentials=connection("${WRONG_TOKEN}"),
        accounts=accounts,
        secrets=[token],
        transport=httpx.ASGITransport(app=remote),
        fail_next=lambda status, headers, body: remote.queue.append((status, headers, body)),
    )


class TestScimContract(ConnectorContract):
    pass
