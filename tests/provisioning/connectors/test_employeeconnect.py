"""The EmployeeConnect source against its contract fake (every fact assumed: §6 [A]).

The connector is built as the engine builds it (``build_client`` with the connection's auth)
and talks to the fake over an ASGI transport.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse

from gateway.config.file import parse_config
from provisioning.connectors import ConnectorSetup
from provisioning.connectors.employeeconnect import (
    CHECKPOINT_OVERLAP,
    EmployeeConnectOptions,
    EmployeeConnectSource,
)
from provisioning.errors import AuthError, PermanentError, RateLimited
from provisioning.targets import build_client
from tests.fakes.employeeconnect import EmployeeConnectFake, employee

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def _connection(auth: dict[str, Any], **options: Any) -> Any:
    config = parse_config(
        {
            "tenants": {
                "acme": {
                    "connections": {
                        "ec": {
                            "type": "employeeconnect",
                            "direction": "source",
                            "base_url": "https://acme.employeeconnect.test",
                            "auth": auth,
                            "options": options,
                        }
                    }
                }
            }
        }
    )
    return config.tenant("acme").connections["ec"]


BEARER = {"type": "bearer", "token": "${EC_TOKEN}"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> EmployeeConnectFake:
    monkeypatch.setenv("EC_TOKEN", "ec-token")
    monkeypatch.setenv("EC_KEY", "ec-api-key")
    monkeypatch.setenv("EC_WRONG", "someone-else")
    return EmployeeConnectFake(clock=lambda: NOW)


@pytest.fixture
async def source(fake: EmployeeConnectFake) -> AsyncIterator[EmployeeConnectSource]:
    async with _source(fake, BEARER, page_size=2) as built:
        yield built


@asynccontextmanager
async def _source(
    fake: EmployeeConnectFake, auth: dict[str, Any], **options: Any
) -> AsyncIterator[EmployeeConnectSource]:
    """The connector as the engine builds it, talking to ``fake``."""
    connection = _connection(auth, **options)
    async with build_client(connection, transport=httpx.ASGITransport(app=fake.app)) as client:
        yield EmployeeConnectSource(
            ConnectorSetup("ec", connection.base_url, client, connection.options)
        )


async def test_a_full_read_pages_until_next_page_is_null(
    fake: EmployeeConnectFake, source: EmployeeConnectSource
) -> None:
    for number in (1, 2, 3):
        fake.add(**employee(number))
    first = await source.read_page(None, None)
    assert [r["employeeId"] for r in first.records] == ["EC0001", "EC0002"]
    assert first.next == "2"
    second = await source.read_page(None, first.next)
    assert [r["employeeId"] for r in second.records] == ["EC0003"]
    assert second.next is None
    assert fake.requests == ["page=1&pageSize=2", "page=2&pageSize=2"]


async def test_the_checkpoint_is_the_servers_time_of_the_first_page_less_the_overlap(
    fake: EmployeeConnectFake, source: EmployeeConnectSource
) -> None:
    fake.add(**employee(1))
    first = await source.read_page(None, None)
    assert first.checkpoint == (NOW - CHECKPOINT_OVERLAP).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake.add(**employee(2))
    fake.add(**employee(3))
    later = await source.read_page(None, "2")
    assert later.checkpoint is None  # only the first page names it


async def test_an_incremental_read_sends_modified_since_and_gets_only_the_changed(
    fake: EmployeeConnectFake, source: EmployeeConnectSource
) -> None:
    fake.clock = lambda: datetime(2026, 12, 1, tzinfo=UTC)
    fake.add(**employee(1))
    fake.add(**employee(2))
    fake.clock = lambda: NOW
    fake.update("EC0002", jobTitle="Team Lead")
    page = await source.read_page("2026-12-02T00:00:00Z", None)
    assert [r["employeeId"] for r in page.records] == ["EC0002"]
    assert fake.requests == ["page=1&pageSize=2&modifiedSince=2026-12-02T00%3A00%3A00Z"]


async def test_an_api_key_header_is_accepted_as_well_as_a_bearer_token(
    fake: EmployeeConnectFake,
) -> None:
    fake.add(**employee(1))
    auth = {"type": "api_key", "header": "X-API-Key", "key": "${EC_KEY}"}
    async with _source(fake, auth) as source:
        page = await source.read_page(None, None)
    assert [r["employeeId"] for r in page.records] == ["EC0001"]


async def test_wrong_credentials_fail_check_with_an_auth_error_naming_the_vendor_message(
    fake: EmployeeConnectFake,
) -> None:
    async with _source(fake, {"type": "bearer", "token": "${EC_WRONG}"}) as source:
        with pytest.raises(AuthError) as raised:
            await source.check()
    assert "invalid or missing credentials" in str(raised.value)
    assert "someone-else" not in str(raised.value)


async def test_check_passes_with_good_credentials_reading_one_employee(
    fake: EmployeeConnectFake, source: EmployeeConnectSource
) -> None:
    fake.add(**employee(1))
    await source.check()
    assert fake.requests == ["page=1&pageSize=1"]


async def test_a_throttled_page_is_rate_limited_with_the_retry_after(
    fake: EmployeeConnectFake, source: EmployeeConnectSource
) -> None:
    fake.throttle(1)
    with pytest.raises(RateLimited) as raised:
        await source.read_page(None, None)
    assert raised.value.retry_after == 1


async def test_a_bad_parameter_is_a_permanent_error_with_the_vendor_message(
    fake: EmployeeConnectFake, source: EmployeeConnectSource
) -> None:
    with pytest.raises(PermanentError) as raised:
        await source.read_page("last tuesday", None)
    assert "modifiedSince must be an ISO 8601" in str(raised.value)


async def test_an_answer_without_items_is_a_permanent_error(fake: EmployeeConnectFake) -> None:
    elsewhere = JSONResponse({"employees": []})  # another API's list (a wrong base URL)
    connection = _connection(BEARER)
    client = build_client(connection, transport=httpx.ASGITransport(app=elsewhere))
    async with client:
        source = EmployeeConnectSource(ConnectorSetup("ec", connection.base_url, client))
        with pytest.raises(PermanentError, match="without an 'items' list"):
            await source.read_page(None, None)


def test_options_bound_the_page_size_and_refuse_unknown_keys() -> None:
    assert EmployeeConnectOptions().page_size == 100
    with pytest.raises(ValueError):
        EmployeeConnectOptions.model_validate({"page_size": 501})
    with pytest.raises(ValueError):
        EmployeeConnectOptions.model_validate({"pagesize": 50})


async def test_a_second_date_header_from_a_proxy_does_not_lose_the_servers_time(
    fake: EmployeeConnectFake,
) -> None:
    answer = JSONResponse({"items": [], "nextPage": None})
    answer.raw_headers += [(b"date", b"yesterday-ish"), (b"date", b"Thu, 03 Dec 2026 09:30:00 GMT")]
    connection = _connection(BEARER)
    async with build_client(connection, transport=httpx.ASGITransport(app=answer)) as client:
        source = EmployeeConnectSource(ConnectorSetup("ec", connection.base_url, client))
        page = await source.read_page(None, None)
    assert page.checkpoint == "2026-12-03T09:25:00Z"
