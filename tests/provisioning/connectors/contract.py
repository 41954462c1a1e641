"""The shared connector contract: every target connector passes it against its contract fake.

A connector's test module subclasses :class:`ConnectorContract` and provides a ``contract``
fixture returning a :class:`ContractTarget` for its fake. The tests drive the whole engine
(SCIM write -> outbox -> worker -> connector -> fake), so they prove the connector *and*
the engine's use of it: idempotent re-creation, retries after Retry-After, dead letters
with the vendor's message, and no secret in any log line.
"""

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from gateway.store.tables import AccountLink, OutboxEvent
from provisioning.accounts.plan import plan
from provisioning.errors import AuthError
from tests.provisioning.harness import Harness, config_with, managed_by


@dataclass
class ContractTarget:
    """What the contract needs to know about one connector and its fake.

    Attributes:
        name: the connection's name.
        connection: the connection's settings (YAML shape) with good credentials.
        bad_credentials: the same with credentials the fake rejects.
        accounts: the fake's accounts, keyed by the user's work email (lower case), each
            with at least ``active`` (bool) and ``given_name`` (str) in a common reading.
        secrets: values that must never appear in a log line.
        transport: how HTTP reaches the fake (None for non-HTTP targets).
        fail_next: makes the fake answer the next request with (status, headers, body);
            None for targets without HTTP statuses (files over SFTP).
        throttle_status: the status the vendor throttles with (429, or 503 for some).
        permanent_status: a status the vendor answers for a request it will never accept.
        vendor_message: the message the fake puts in that permanent error.
        tenant: extra tenant configuration (custom fields...).
        people: names of users the target takes (a write-back target knows only the
            people HR hired); the first manages the others where a test needs a team.
    """

    name: str
    connection: dict[str, Any]
    bad_credentials: dict[str, Any]
    accounts: Callable[[], dict[str, dict[str, Any]]]
    secrets: list[str]
    transport: httpx.AsyncBaseTransport | None = None
    fail_next: Callable[[int, dict[str, str], Any], None] | None = None
    throttle_status: int = 429
    permanent_status: int = 400
    vendor_message: str = "rejected by the vendor"
    tenant: dict[str, Any] = field(default_factory=dict)
    people: tuple[str, ...] = ("kim", "ada", "bob", "cy")


class ConnectorContract:
    """Subclass in the connector's test module and provide a ``contract`` fixture."""

    @pytest.fixture
    def captured_logs(self, caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
        """Every log line so far, structlog's and the standard library's, as one text."""
        caplog.set_level(logging.DEBUG)
        with structlog.testing.capture_logs() as events:

            def text() -> str:
                lines = [str(event) for event in events]
                return "\n".join(lines + [record.getMessage() for record in caplog.records])

            yield text

    @pytest.fixture
    async def harness(self, engine: Engine, contract: ContractTarget) -> AsyncIterator[Harness]:
        config = config_with(contract.name, contract.connection, **contract.tenant)
        harness = Harness(engine, config, contract.transport)
        yield harness
        await harness.aclose()

    async def test_check_accepts_good_credentials(self, harness: Harness) -> None:
        await harness.target.connector.check()

    async def test_check_rejects_bad_credentials(
        self, engine: Engine, contract: ContractTarget
    ) -> None:
        config = config_with(contract.name, contract.bad_credentials, **contract.tenant)
        harness = Harness(engine, config, contract.transport)
        try:
            with pytest.raises(AuthError):
                await harness.target.connector.check()
        finally:
            await harness.aclose()

    async def test_create_provisions_one_active_account(
        self, harness: Harness, contract: ContractTarget
    ) -> None:
        await harness.create_user("ada")
        await harness.worker.drain()
        account = contract.accounts()["ada@acme.com"]
        assert account["active"] is True
        assert account["given_name"] == "Ada"

    async def test_recreate_after_a_lost_answer_is_idempotent(
        self, harness: Harness, contract: ContractTarget
    ) -> None:
        """A worker died after the create call but before recording it: delivering the
        event again must converge on the same single account."""
        user = await harness.create_user("ada")
        await harness.worker.drain()
        links = AccountLink.__table__  # type: ignore[attr-defined]
        outbox = OutboxEvent.__table__  # type: ignore[attr-defined]
        harness.execute(
            sa.update(links)
            .where(links.c.resource_id == user)
            .values(state="creating", remote_id=None, payload_hash=None)
        )
        harness.execute(
            sa.update(outbox).where(outbox.c.resource_id == user).values(status="pending")
        )
        await harness.worker.drain()
        assert list(contract.accounts()) == ["ada@acme.com"]
        [link] = harness.rows(AccountLink, resource_id=user)
        assert link.state == "active" and link.remote_id

    async def test_update_reaches_the_account(
        self, harness: Harness, contract: ContractTarget
    ) -> None:
        user = await harness.create_user("ada")
        await harness.worker.drain()
        await harness.patch(user, "name.givenName", "Augusta")
        await harness.worker.drain()
        assert contract.accounts()["ada@acme.com"]["given_name"] == "Augusta"

    async def test_deactivate_then_reactivate(
        self, harness: Harness, contract: ContractTarget
    ) -> None:
        user = await harness.create_user("ada")
        await harness.worker.drain()
        await harness.patch(user, "active", False)
        await harness.worker.drain()
        assert contract.accounts()["ada@acme.com"]["active"] is False
        await harness.patch(user, "active", True)
        await harness.worker.drain()
        assert contract.accounts()["ada@acme.com"]["active"] is True

    async def test_throttled_call_is_retried_after_retry_after(
        self, harness: Harness, contract: ContractTarget
    ) -> None:
        if contract.fail_next is None:
            pytest.fail("HTTP targets must let the contract inject failures")
        await harness.create_user("ada")
        contract.fail_next(contract.throttle_status, {"Retry-After": "7"}, None)
        await harness.worker.drain()
        assert "ada@acme.com" not in contract.accounts()
        harness.clock.advance(5)
        assert await harness.worker.drain() == 0  # not before Retry-After
        harness.clock.advance(3)
        await harness.worker.drain()
        assert contract.accounts()["ada@acme.com"]["active"] is True

    async def test_server_error_then_success(
        self, harness: Harness, contract: ContractTarget
    ) -> None:
        assert contract.fail_next is not None
        await harness.create_user("ada")
        contract.fail_next(500, {}, None)
        await harness.worker.drain()
        harness.clock.advance(3600)
        await harness.worker.drain()
        assert contract.accounts()["ada@acme.com"]["active"] is True

    async def test_permanent_error_dead_letters_with_the_vendor_message(
        self, harness: Harness, contract: ContractTarget
    ) -> None:
        assert contract.fail_next is not None
        user = await harness.create_user("ada")
        contract.fail_next(contract.permanent_status, {}, None)
        await harness.worker.drain()
        [event] = harness.rows(OutboxEvent, resource_id=user)
        assert event.status == "dead"
        assert contract.vendor_message in event.last_error

    async def test_no_secret_in_any_log_line(
        self, harness: Harness, contract: ContractTarget, captured_logs: Callable[[], str]
    ) -> None:
        user = await harness.create_user("ada")
        await harness.worker.drain()
        await harness.patch(user, "active", False)
        await harness.worker.drain()
        text = captured_logs()
        assert "outbound_request" in text or contract.transport is None
        for secret in contract.secrets:
            assert secret not in text

    async def test_plan_right_after_a_full_delivery_reports_no_change(
        self, harness: Harness, contract: ContractTarget
    ) -> None:
        """The dry run maps each user as the delivery does, managers included (issue 9
        §6): a plan built without the manager reported every report as changed, and
        applying it would have cleared their managers in the target."""
        boss, *others = contract.people
        boss_id = await harness.create_user(boss)
        team = [await harness.create_user(name, **managed_by(boss_id)) for name in others]
        await harness.create_group("Engineering", boss_id, *team)
        await harness.worker.drain()
        lines = await plan(harness.engine, harness.target)
        assert {line.user_name: line.operation for line in lines} == {
            f"{name}@acme.com": "skip" for name in contract.people
        }
