"""Taleez "candidate hired" webhooks: received, recorded, processed (SQLite and PostgreSQL).

The endpoint (scimgw/hooks.py) is driven over an ASGI transport, the processor reads the
Taleez contract fake and writes through the real ResourceService; the store is read back.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from click.testing import Result
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import GatewayConfig, parse_config
from gateway.store.tables import OutboxEvent, UserRow
from provisioning.records import hooks as records
from provisioning.records import runs
from provisioning.sources.arrivals import ArrivalRunner
from provisioning.sources.hooks import MAX_ATTEMPTS, HookProcessor
from scimgw.cli import app as cli
from scimgw.hooks import hooks_app
from tests.fakes.taleez import API_KEY, SECRET_HEADER, TaleezFake, hired_event

TENANT = "acme"
SECRET = "hook-secret-0123456789abcdef"
URL = f"http://scimgw.test/hooks/{TENANT}/taleez"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"


def taleez_config() -> GatewayConfig:
    return parse_config(RAW_CONFIG)


#: Tenant acme: the Taleez source "taleez" (webhook on), "plain" (no webhook), Lucca.
RAW_CONFIG: dict[str, Any] = {
    "default_tenant": TENANT,
    "tenants": {
        TENANT: {
            "connections": {
                "taleez": {
                    "type": "taleez",
                    "direction": "source",
                    "base_url": "http://taleez.test/0",
                    "auth": {
                        "type": "api_key",
                        "key": "${TALEEZ_KEY}",
                        "header": "x-taleez-api-secret",
                    },
                    "options": {"webhook_secret": "${TALEEZ_HOOK_SECRET}"},
                },
                "plain": {
                    "type": "taleez",
                    "direction": "source",
                    "base_url": "http://taleez.test/0",
                },
                "lucca": {
                    "type": "lucca",
                    "base_url": "http://lucca.test",
                    "auth": {"type": "api_key", "key": "${TALEEZ_KEY}"},
                    "create_only": True,
                },
            }
        }
    },
}


class Clock:
    """The processor's time: starts a minute after now (the endpoint records at the real
    time, which a loaded machine may take seconds to reach), then moved by tests."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now


class Hooks:
    """The endpoint, the processor and the Taleez fake on one store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = taleez_config()
        self.fake = TaleezFake()
        self.fake.add_job(45, "Account manager")
        self.clock = Clock()
        self.woken = 0
        self.endpoint = hooks_app(engine, self.config, self._wake)

    def _wake(self) -> None:
        self.woken += 1

    def hire(self, first: str = "Ada", last: str = "Lovelace") -> int:
        candidate = self.fake.add_candidate(first, last, f"{first.lower()}@mail.test")
        self.fake.hire(candidate, 45)
        return candidate

    async def post(self, body: Any, secret: str | None = SECRET, **headers: str) -> httpx.Response:
        sent = {SECRET_HEADER: secret} if secret is not None else {}
        transport = httpx.ASGITransport(app=self.endpoint)
        async with httpx.AsyncClient(transport=transport) as client:
            if isinstance(body, bytes):
                return await client.post(URL, content=body, headers={**sent, **headers})
            return await client.post(URL, json=body, headers={**sent, **headers})

    def processor(self) -> HookProcessor:
        runner = ArrivalRunner(
            self.engine, self.config, transport=httpx.ASGITransport(app=self.fake.app)
        )
        return HookProcessor(self.engine, self.config, runner, clock=self.clock)

    def events(self) -> list[records.Event]:
        with self.engine.connect() as conn:
            return records.recent(conn)

    def users(self) -> list[dict[str, Any]]:
        table = UserRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return [dict(doc) for (doc,) in conn.execute(sa.select(table.c.doc))]

    def outbox(self) -> list[tuple[str, str]]:
        table = OutboxEvent.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            query = sa.select(table.c.connection, table.c.action).order_by(table.c.id)
            return [(c, a) for c, a in conn.execute(query)]

    def run(self, run_id: str | None) -> runs.Run:
        assert run_id is not None
        with self.engine.connect() as conn:
            found = runs.get(conn, run_id)
        assert found is not None
        return found


@pytest.fixture
def hooks(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    monkeypatch.setenv("TALEEZ_KEY", API_KEY)
    monkeypatch.setenv("TALEEZ_HOOK_SECRET", SECRET)
    ensure_tenant(engine, TENANT)
    yield Hooks(engine)


# -- the endpoint ------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_a_sender_without_the_shared_secret_is_refused_401_and_nothing_is_recorded(
    hooks: Hooks, secret: str | None
) -> None:
    answer = await hooks.post(hired_event(1, 45), secret=secret)
    assert answer.status_code == 401
    assert answer.json() == {"error": "missing or wrong webhook secret"}
    assert hooks.events() == []


async def test_an_address_with_no_webhook_answers_as_a_wrong_secret_does(hooks: Hooks) -> None:
    # A caller cannot tell which tenants and connections exist by probing addresses.
    transport = httpx.ASGITransport(app=hooks.endpoint)
    async with httpx.AsyncClient(transport=transport) as client:
        paths = ("/hooks/acme/plain", "/hooks/acme/lucca", "/hooks/globex/taleez", "/hooks/x/y")
        for path in paths:
            answer = await client.post(
                f"http://scimgw.test{path}", json=hired_event(1), headers={SECRET_HEADER: SECRET}
            )
            assert answer.status_code == 401, path
            assert answer.json() == {"error": "missing or wrong webhook secret"}
    assert hooks.events() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not JSON"),
        ({"event": "candidate.hired"}, "not a taleez event: candidate: Field required"),
        (
            {"event": "candidate.hired", "candidate": {"id": -3}},
            "candidate.id: Input should be greater than or equal to 1",
        ),
        ({"event": "candidate.hired", "candidate": {"id": True}}, "candidate.id: "),
        ({"event": "candidate.hired", "candidate": {"id": 1.5}}, "candidate.id: "),
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        (b'{"event": "candidate.hired", "candidate": ' * 1_400, "nested too deeply"),
    ],
)
async def test_a_malformed_event_is_refused_400_with_a_clear_message(
    hooks: Hooks, body: Any, message: str
) -> None:
    answer = await hooks.post(body)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert hooks.events() == []


async def test_a_body_over_the_limit_is_refused_413_unread(hooks: Hooks) -> None:
    answer = await hooks.post(b"{" + b" " * 70_000 + b"}")
    assert answer.status_code == 413
    assert hooks.events() == []


async def test_a_hire_is_answered_202_at_once_without_calling_taleez(hooks: Hooks) -> None:
    candidate = hooks.hire()
    answer = await hooks.post(hired_event(candidate, 45, department="Sales"))
    assert answer.status_code == 202
    assert answer.json()["status"] == "accepted"
    assert hooks.fake.requests == []  # the answer waited for no one
    assert hooks.woken == 1
    [event] = hooks.events()
    assert (event.subject, event.job, event.status) == (str(candidate), "45", "pending")
    assert "firstName" not in str(event.hints)  # the person is read again, not kept


async def test_another_event_type_is_acknowledged_and_ignored(hooks: Hooks) -> None:
    answer = await hooks.post({"event": "candidate.created", "candidate": {"id": 1}})
    assert answer.status_code == 202 and answer.json()["status"] == "ignored"
    assert hooks.events() == []


async def test_a_repeated_event_answers_202_and_is_processed_once(hooks: Hooks) -> None:
    candidate = hooks.hire()
    first = await hooks.post(hired_event(candidate, 45))
    again = await hooks.post(hired_event(candidate, 45, department="Sales"))
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["status"] == "duplicate"
    assert await hooks.processor().drain() == 1
    assert await hooks.processor().drain() == 0
    assert len(hooks.users()) == 1
    assert hooks.outbox() == [("lucca", "created")]


# -- processing --------------------------------------------------------------------------


async def test_a_processed_hire_becomes_a_user_that_fans_out_to_lucca(hooks: Hooks) -> None:
    candidate = hooks.hire()
    body = hired_event(candidate, 45, job_label="Account manager", unit="Acme SAS")
    body |= {"department": {"name": "Sales"}, "startDate": "2027-01-04"}
    await hooks.post(body)
    assert await hooks.processor().drain() == 1

    [user] = hooks.users()
    assert user["userName"] == "ada@mail.test"
    assert user["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert user["emails"] == [{"type": "home", "value": "ada@mail.test"}]
    assert user[ENTERPRISE]["organization"] == "Acme SAS"
    assert user[ENTERPRISE]["department"] == "Sales"
    assert user[HR]["hireDate"] == "2027-01-04"
    # A first day in the future does not wait: Lucca holds it as the contract start.
    assert user.get("active", True) is True
    assert hooks.outbox() == [("lucca", "created")]
    [event] = hooks.events()
    assert event.status == "done" and event.attempts == 1
    run = hooks.run(event.run_id)
    assert (run.trigger, run.status, run.counts["created"]) == ("event", "succeeded", 1)


async def test_an_unknown_candidate_fails_plainly_in_the_event_and_its_run(hooks: Hooks) -> None:
    await hooks.post(hired_event(99, 45))
    await hooks.processor().drain()
    [event] = hooks.events()
    assert event.status == "failed"
    assert event.message == "Taleez has no candidate 99"
    run = hooks.run(event.run_id)
    assert run.status == "failed"
    assert [(f.person, f.reason) for f in run.failures] == [("99", "Taleez has no candidate 99")]
    assert hooks.users() == []


async def test_a_throttled_read_is_retried_after_the_wait_taleez_asks(hooks: Hooks) -> None:
    candidate = hooks.hire()
    await hooks.post(hired_event(candidate, 45))
    hooks.fake.throttle(1)
    processor = hooks.processor()
    await processor.drain()
    [event] = hooks.events()
    assert (event.status, event.attempts) == ("pending", 1)
    assert event.next_at == hooks.clock.now + timedelta(seconds=1)
    assert await processor.drain() == 0  # not due yet
    hooks.clock.now += timedelta(seconds=1)
    assert await processor.drain() == 1
    [event] = hooks.events()
    assert (event.status, event.attempts) == ("done", 2)
    assert len(hooks.users()) == 1


async def test_a_transient_failure_gives_up_after_the_last_attempt(hooks: Hooks) -> None:
    candidate = hooks.hire()
    await hooks.post(hired_event(candidate, 45))
    processor = hooks.processor()
    for _ in range(MAX_ATTEMPTS):
        hooks.fake.throttle(1)
        await processor.drain()
        hooks.clock.now += timedelta(seconds=2)
    [event] = hooks.events()
    assert (event.status, event.attempts) == ("failed", MAX_ATTEMPTS)
    assert "429" in (event.message or "") or "Too many requests" in (event.message or "")


async def test_an_event_recorded_before_a_restart_is_processed_after_it(hooks: Hooks) -> None:
    """The endpoint records, then the process dies before processing (no processor ran)."""
    candidate = hooks.hire()
    await hooks.post(hired_event(candidate, 45))
    assert hooks.users() == []

    restarted = hooks.processor()  # a new process: nothing in memory, the row is there
    assert await restarted.drain() == 1
    assert len(hooks.users()) == 1 and hooks.events()[0].status == "done"


async def test_an_event_claimed_by_a_process_that_died_is_due_again_after_its_lease(
    hooks: Hooks,
) -> None:
    candidate = hooks.hire()
    await hooks.post(hired_event(candidate, 45))
    with hooks.engine.begin() as conn:
        [claimed] = records.claim_due(conn, hooks.clock.now)  # then the process dies
    processor = hooks.processor()
    assert await processor.drain() == 0
    hooks.clock.now += records.LEASE
    assert await processor.drain() == 1
    assert hooks.events()[0].status == "done" and len(hooks.users()) == 1


async def test_an_event_waits_while_its_connection_is_running(hooks: Hooks) -> None:
    candidate = hooks.hire()
    await hooks.post(hired_event(candidate, 45))
    with hooks.engine.begin() as conn:
        run_id = runs.start(
            conn,
            tenant=TENANT,
            name="taleez",
            direction="source",
            trigger="manual",
            runner="other",
            now=hooks.clock.now,
        )
    processor = hooks.processor()
    await processor.drain()
    [event] = hooks.events()
    assert (event.status, event.attempts) == ("pending", 0)
    with hooks.engine.begin() as conn:
        runs.finish(conn, run_id, status="succeeded", counts={}, now=hooks.clock.now)
    hooks.clock.now += timedelta(seconds=5)
    assert await processor.drain() == 1
    assert hooks.events()[0].status == "done"


async def test_the_same_candidate_pushed_again_changes_nothing(hooks: Hooks) -> None:
    candidate = hooks.hire()
    runner = ArrivalRunner(
        hooks.engine, hooks.config, transport=httpx.ASGITransport(app=hooks.fake.app)
    )
    first = await runner(runs.RunRequest(TENANT, "taleez", "manual"), str(candidate), {})
    again = await runner(runs.RunRequest(TENANT, "taleez", "manual"), str(candidate), {})
    assert first.outcome.counts["created"] == 1 and first.retry_after is None
    assert again.outcome.counts["unchanged"] == 1
    assert hooks.outbox() == [("lucca", "created")]


# -- scimgw push: what a script reads ----------------------------------------------------


def _push(tmp_path: Path, database_url: str, *arguments: str) -> Result:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(RAW_CONFIG))
    common = ["--database-url", database_url, "--config", str(path)]
    return CliRunner().invoke(cli, ["push", *arguments, *common], env={"COLUMNS": "200"})


def test_push_names_the_connection_it_needs_and_exits_2(
    hooks: Hooks, tmp_path: Path, database_url: str
) -> None:
    unknown = _push(tmp_path, database_url, "workday", "1")
    assert unknown.exit_code == 2
    assert "one source connection of type workday; found none" in unknown.output
    several = _push(tmp_path, database_url, "taleez", "1")
    said = " ".join(several.output.split())  # rich wraps to the width it first saw
    assert several.exit_code == 2 and "several: say which with --connection" in said


def test_push_exits_3_while_the_connection_is_running(
    hooks: Hooks, tmp_path: Path, database_url: str
) -> None:
    with hooks.engine.begin() as conn:
        runs.start(
            conn,
            tenant=TENANT,
            name="taleez",
            direction="source",
            trigger="manual",
            runner="other",
            now=hooks.clock.now,
        )
    busy = _push(tmp_path, database_url, "taleez", "1", "--connection", "taleez")
    assert busy.exit_code == 3 and "already running" in busy.output


async def test_processed_events_are_kept_90_days_then_deleted_and_pending_ones_never(
    hooks: Hooks,
) -> None:
    now = hooks.clock.now
    ages = {"old-done": 91, "old-failed": 120, "recent-done": 89, "old-pending": 400}
    with hooks.engine.begin() as conn:
        for subject, days in ages.items():
            at = now - timedelta(days=days)
            event_id = records.record(
                conn, tenant=TENANT, connection="taleez", subject=subject, job="", hints={}, now=at
            )
            assert event_id is not None
            status = subject.split("-")[1]
            if status != "pending":
                records.settle(conn, event_id, status=status, now=at)
            else:  # due long after: not processed by this drain
                records.settle(
                    conn, event_id, status="pending", now=at, retry_at=now + timedelta(days=1)
                )

    processor = hooks.processor()
    assert await processor.drain() == 0
    assert sorted(e.subject for e in hooks.events()) == ["old-pending", "recent-done"]

    # Purged at most once an hour: an event closed meanwhile waits for the next purge.
    with hooks.engine.begin() as conn:
        later = records.record(
            conn, tenant=TENANT, connection="taleez", subject="x", job="", hints={}, now=now
        )
        assert later is not None
        records.settle(conn, later, status="done", now=now - timedelta(days=100))
    await processor.drain()
    assert "x" in {e.subject for e in hooks.events()}
    hooks.clock.now += timedelta(hours=1)
    await processor.drain()
    assert "x" not in {e.subject for e in hooks.events()}
