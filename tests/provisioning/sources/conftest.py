"""A gateway store, the generic HR fake and a source runner on a fixed clock, wired together."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import GatewayConfig, parse_config
from gateway.service import ResourceService
from gateway.store.tables import OutboxEvent, SyncRun, UserRow
from provisioning.records.runs import RunOutcome, RunRequest
from provisioning.sources import SourceRunner
from tests.fakes.hr_json import HrJsonFake

TENANT = "acme"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


class Clock:
    """A fixed time tests move by whole days."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def days(self, count: int) -> None:
        self.now += timedelta(days=count)


def source_config(**source: Any) -> GatewayConfig:
    """Tenant acme with the HR source "hr" (settings ``source``) and a SCIM target "lms"."""
    return parse_config(
        {
            "tenants": {
                TENANT: {
                    "connections": {
                        "hr": {
                            "type": "hr_json",
                            "direction": "source",
                            "base_url": "http://hr.test",
                            "auth": {"type": "bearer", "token": "${HR_SOURCE_TOKEN}"},
                            "source": source,
                        },
                        "hr2": {
                            "type": "hr_json",
                            "direction": "source",
                            "base_url": "http://hr2.test",
                            "auth": {"type": "bearer", "token": "${HR_SOURCE_TOKEN}"},
                        },
                        "lms": {"type": "scim", "base_url": "http://lms.test/scim/v2"},
                    }
                }
            }
        }
    )


class Setup:
    """What a source test drives: the fake, a runner per configuration, the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fake = HrJsonFake()
        #: The second source's system, reached at http://hr2.test.
        self.fake2 = HrJsonFake()
        self.clock = Clock()
        self.config = source_config()

    def configure(self, **source: Any) -> None:
        self.config = source_config(**source)

    def runner(self) -> SourceRunner:
        return SourceRunner(
            self.engine,
            self.config,
            clock=self.clock,
            transport=httpx.ASGITransport(app=self._by_host),
            sleep=_no_wait,
        )

    async def _by_host(self, scope: Any, receive: Any, send: Any) -> None:
        host = dict(scope["headers"]).get(b"host", b"").decode()
        fake = self.fake2 if host.startswith("hr2.") else self.fake
        await fake.app(scope, receive, send)

    async def run(self, connection: str = "hr", **request: Any) -> RunOutcome:
        return await self.runner()(RunRequest(TENANT, connection, **request))

    # -- reading the store -------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        table = UserRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.doc).order_by(table.c.user_name_key))
            return [dict(doc) for (doc,) in rows]

    def user(self, user_name: str) -> dict[str, Any]:
        found = [u for u in self.users() if u["userName"].lower() == user_name.lower()]
        assert len(found) == 1, f"{len(found)} users named {user_name}"
        return found[0]

    def outbox(self) -> list[tuple[str, str, str]]:
        table = OutboxEvent.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            query = sa.select(table.c.connection, table.c.resource_id, table.c.action)
            return [tuple(row) for row in conn.execute(query.order_by(table.c.id))]

    def run_rows(self) -> int:
        table = SyncRun.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def scim_create(self, payload: dict[str, Any]) -> str:
        """A user an IdP pushed, written as a SCIM POST is."""
        service = ResourceService(self.engine, self.config)
        created = service.create(TENANT, _user_kind(), {"schemas": [CORE], **payload})
        service.close()
        return created.page.resources[0].id


async def _no_wait(seconds: float) -> None:
    return None


def _user_kind() -> Any:
    from gateway.scim.kinds import USER

    return USER


@pytest.fixture
def setup(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("HR_SOURCE_TOKEN", "hr-token")
    ensure_tenant(engine, TENANT)
    yield Setup(engine)
