"""A gateway, a delivery worker on a movable clock, and one target connection, wired together.

Users are written through the real SCIM API (in process); the worker delivers through
the connection's real connector and HTTP client, whose transport reaches a contract fake.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.auth.tokens import create_token
from gateway.config.file import GatewayConfig, parse_config
from gateway.settings import Settings
from provisioning.engine import Worker
from provisioning.engine.retry import RetryPolicy
from provisioning.targets import Target, build_targets

SCIM = "application/scim+json"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TENANT = "acme"


class Clock:
    """Real time plus an offset tests can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    @property
    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def managed_by(manager_id: str) -> dict[str, Any]:
    """The extra attributes of :meth:`Harness.create_user` for a user with a manager."""
    return {
        "schemas": [CORE_USER, ENTERPRISE],
        ENTERPRISE: {"manager": {"value": manager_id}},
    }


def config_with(name: str, connection: dict[str, Any], **tenant: Any) -> GatewayConfig:
    return parse_config({"tenants": {TENANT: {"connections": {name: connection}, **tenant}}})


class Harness:
    def __init__(
        self,
        engine: Engine,
        config: GatewayConfig,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.engine = engine
        self.clock = Clock()
        self.targets: list[Target] = build_targets(config, engine.dialect.name, transport=transport)
        policy = RetryPolicy(rng=lambda: 0.5)
        self.worker = Worker(engine, self.targets, policy=policy, clock=self.clock)
        app = create_app(Settings(), engine, config)
        token = create_token(engine, TENANT, "idp")
        self.scim = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gw/scim/v2",
            headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM},
        )

    @property
    def target(self) -> Target:
        return self.targets[0]

    async def create_user(self, name: str, **extra: Any) -> str:
        body = {
            "schemas": [CORE_USER],
            "userName": f"{name}@acme.com",
            "emails": [{"value": f"{name}@acme.com", "type": "work", "primary": True}],
            "name": {"givenName": name.title(), "familyName": "Tester"},
            "displayName": f"{name.title()} Tester",
            **extra,
        }
        response = await self.scim.post("/Users", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def patch(self, user_id: str, path: str, value: Any) -> None:
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": path, "value": value}],
        }
        response = await self.scim.patch(f"/Users/{user_id}", json=body)
        assert response.status_code == 200, response.text

    async def create_group(self, name: str, *members: str) -> str:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": [{"value": member} for member in members],
        }
        response = await self.scim.post("/Groups", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def rows(self, table: Any, **where: Any) -> list[Any]:
        t = table.__table__
        query = (
            sa.select(t).where(*(t.c[k] == v for k, v in where.items())).order_by(*t.primary_key)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def execute(self, statement: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(statement)

    async def aclose(self) -> None:
        await self.scim.aclose()
        for target in self.targets:
            await target.aclose()
