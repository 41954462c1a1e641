"""Webhook event ids through the worker: one id per distinct event, the same on its retries.

docs/connectors/webhook.md tells receivers to dedupe by event id, so two changes sent under
one id lose the second, and a retry under a new id is applied twice. Runs on SQLite and
PostgreSQL (the ``engine`` fixture).
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.fakes.webhook_receiver import WebhookReceiver
from tests.provisioning.harness import Harness, config_with

SECRET = "whsec-test-0123456789"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver(SECRET)


@pytest.fixture
async def harness(
    engine: Engine, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    hook = {
        "type": "webhook",
        "base_url": "http://hooks.test",
        "options": {"secret": "${HOOK_SECRET}", "path": "/hooks/scimgw"},
    }
    h = Harness(engine, config_with("hooks", hook), httpx.ASGITransport(app=receiver.app))
    yield h
    await h.aclose()


async def _reactivate_and_rename(harness: Harness, user_id: str, given_name: str) -> None:
    operations = [
        {"op": "replace", "path": "active", "value": True},
        {"op": "replace", "path": "name.givenName", "value": given_name},
    ]
    body = {"schemas": [PATCH_OP], "Operations": operations}
    response = await harness.scim.patch(f"/Users/{user_id}", json=body)
    assert response.status_code == 200, response.text


async def test_a_reactivation_with_changes_sends_two_events_with_distinct_ids(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    """user.reactivated then user.updated: under one id the receiver dropped the update."""
    user_id = await harness.create_user("ada")
    await harness.worker.drain()
    await harness.patch(user_id, "active", False)
    await harness.worker.drain()
    await _reactivate_and_rename(harness, user_id, "Augusta")
    await harness.worker.drain()

    reactivated, updated = receiver.events[-2:]
    assert (reactivated["type"], updated["type"]) == ("user.reactivated", "user.updated")
    assert reactivated["id"] != updated["id"]
    assert len(set(receiver.event_ids())) == len(receiver.events) == 4
    account = receiver.accounts[user_id]
    assert (account.active, account.data["given_name"]) == (True, "Augusta")


async def test_every_retry_of_an_event_carries_its_first_id(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    user_id = await harness.create_user("ada")
    receiver.fail_next(503, times=2)
    await harness.worker.drain()
    harness.clock.advance(3600)
    await harness.worker.drain()
    harness.clock.advance(3600)
    await harness.worker.drain()

    assert len(receiver.sent_ids) == 3
    assert len(set(receiver.sent_ids)) == 1
    assert receiver.event_ids() == receiver.sent_ids[:1]
    assert user_id in receiver.accounts


async def test_a_retry_after_a_lost_answer_is_applied_once(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    await harness.create_user("ada")
    receiver.lose_next_answer()
    await harness.worker.drain()
    harness.clock.advance(3600)
    await harness.worker.drain()

    assert receiver.sent_ids[0] == receiver.sent_ids[1]
    assert [e["type"] for e in receiver.events] == ["user.created"]


async def test_a_retry_that_carries_a_later_change_is_a_new_event(
    harness: Harness, receiver: WebhookReceiver
) -> None:
    """The receiver applied the update but its answer was lost; the retry comes after a
    second change and carries it: under the first id the receiver would drop it."""
    user_id = await harness.create_user("ada")
    await harness.worker.drain()
    receiver.lose_next_answer()
    await harness.patch(user_id, "name.givenName", "Bea")
    await harness.worker.drain()
    assert receiver.accounts[user_id].data["given_name"] == "Bea"
    await harness.patch(user_id, "name.givenName", "Cleo")
    harness.clock.advance(3600)
    await harness.worker.drain()

    first_try, retry = receiver.sent_ids[-2:]
    assert first_try != retry
    assert receiver.accounts[user_id].data["given_name"] == "Cleo"
