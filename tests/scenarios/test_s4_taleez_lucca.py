"""Seed S4: a candidate hired in Taleez becomes an employee in Lucca, in real time.

Both fakes on loopback sockets, ``scimgw serve`` (webhook endpoint, embedded worker and
hook processing) in a subprocess, the hire sent as Taleez would send it, ``scimgw push``
and ``scimgw deliveries`` run as commands; assertions on what Lucca holds afterwards.
"""

import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import yaml

from gateway.store.tables import OutboxEvent
from tests.fakes.lucca import LuccaFake
from tests.fakes.taleez import API_KEY, TaleezFake, hired_event, post_hired
from tests.scenarios.conftest import Gateway, wait_for

SEED = Path(__file__).parents[2] / "examples" / "seeds" / "s4-taleez-lucca.yaml"
OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]
HOOK_SECRET = "scenario-taleez-hook-secret-0123456789"
LUCCA_KEY = "scenario-lucca-key"
ENTITY, OTHER_ENTITY, ROLE = 1, 2, 55
SALES, SUPPORT = 14, 15
#: Taleez's names -> the Lucca account's ids; a name not listed falls to the default.
DEPARTMENTS = {"Sales": SALES, "Support": SUPPORT}
ENTITIES = {"Acme SAS": ENTITY, "Acme Lyon": OTHER_ENTITY}


def _ids(scim_path: str, table: dict[str, int]) -> dict[str, Any]:
    return {"from": scim_path, "transform": [{"lookup": {"table": table, "default": None}}]}


def _config(taleez_url: str, lucca_url: str) -> dict[str, Any]:
    """examples/seeds/s4-taleez-lucca.yaml as a user copies it, pointed at the fakes."""
    config: dict[str, Any] = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    connections = config["tenants"]["acme"]["connections"]
    connections["taleez"]["base_url"] = f"{taleez_url}/0"
    connections["lucca"]["base_url"] = lucca_url
    connections["lucca"]["max_attempts"] = 3  # the inactive head's error: dead in seconds
    options = connections["lucca"]["options"]
    assert (options["default_legal_entity_id"], options["default_role_id"]) == (ENTITY, ROLE)
    assert options["default_department_id"] == SALES
    mapped = connections["lucca"]["field_map_extra"]
    assert mapped["departmentId"] == _ids("enterprise:department", DEPARTMENTS)
    assert mapped["legalEntityId"] == _ids("enterprise:organization", ENTITIES)
    return config


def _lucca() -> LuccaFake:
    lucca = LuccaFake(LUCCA_KEY, legal_entities=(ENTITY, OTHER_ENTITY), roles=(ROLE,))
    head = lucca.add_user(
        firstName="Grace",
        lastName="Head",
        mail="grace@acme.test",
        login="grace",
        legalEntityId=ENTITY,
        rolePrincipalId=ROLE,
        dtContractStart="2019-01-07T00:00:00",
    )
    gone = lucca.add_user(
        firstName="Former",
        lastName="Head",
        mail="former@acme.test",
        login="former",
        legalEntityId=ENTITY,
        rolePrincipalId=ROLE,
        dtContractStart="2015-01-05T00:00:00",
        dtContractEnd="2024-06-28T00:00:00",
    )
    lucca.add_department(SALES, "Sales", head_id=head)
    lucca.add_department(SUPPORT, "Support", head_id=gone)
    return lucca


def _start(gateway: Gateway, serve: Any) -> tuple[TaleezFake, LuccaFake, str]:
    taleez, lucca = TaleezFake(), _lucca()
    taleez.add_job(45, "Account manager")
    gateway.configure(
        _config(serve(taleez.app), serve(lucca.app)),
        TALEEZ_API_KEY=API_KEY,
        TALEEZ_WEBHOOK_SECRET=HOOK_SECRET,
        LUCCA_API_KEY=LUCCA_KEY,
    )
    url = gateway.start()
    return taleez, lucca, f"{url}/hooks/acme/taleez"


def _employee(lucca: LuccaFake, mail: str) -> dict[str, Any] | None:
    return lucca.by_mail().get(mail)


def test_a_hire_event_becomes_a_lucca_employee_with_its_entity_department_and_start(
    gateway: Gateway, serve: Any
) -> None:
    taleez, lucca, hook = _start(gateway, serve)
    ada = taleez.add_candidate("Ada", "Lovelace", "ada@mail.test")
    taleez.hire(ada, 45)
    event = hired_event(ada, 45, job_label="Account manager", unit="Acme Lyon")
    event |= {"department": {"name": "Sales"}, "startDate": "2027-01-04"}

    started = time.monotonic()
    answer = post_hired(hook, HOOK_SECRET, event)
    answered = time.monotonic() - started
    assert answer.status_code == 202, answer.text
    employee = wait_for(lambda: _employee(lucca, "ada@mail.test"), what="Ada in Lucca")
    latency = time.monotonic() - started
    print(
        f"\nTaleez hire -> Lucca employee: 202 in {answered * 1000:.0f} ms, "
        f"employee in Lucca after {latency:.2f} s"
    )

    assert (employee["firstName"], employee["lastName"]) == ("Ada", "Lovelace")
    assert employee["legalEntityId"] == OTHER_ENTITY
    assert employee["departmentId"] == SALES
    assert employee["dtContractStart"] == "2027-01-04T00:00:00"
    assert employee["rolePrincipalId"] == ROLE  # S4.3: the default main role
    assert employee["managerId"] == lucca.departments[SALES].head_id  # S4.4
    assert employee["contract"] is True

    again = post_hired(hook, HOOK_SECRET, event)  # Taleez sends it twice
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    listed = gateway.cli("hooks")
    assert listed.returncode == 0 and "done" in listed.stdout, listed.stdout + listed.stderr
    time.sleep(1)
    assert len([u for u in lucca.users.values() if u["mail"] == "ada@mail.test"]) == 1


def test_a_hire_without_department_or_entity_gets_the_lucca_defaults(
    gateway: Gateway, serve: Any
) -> None:
    taleez, lucca, hook = _start(gateway, serve)
    bob = taleez.add_candidate("Bob", "Morane", "bob@mail.test")
    taleez.hire(bob, 45)
    assert post_hired(hook, HOOK_SECRET, hired_event(bob, 45)).status_code == 202
    employee = wait_for(lambda: _employee(lucca, "bob@mail.test"), what="Bob in Lucca")
    assert employee["legalEntityId"] == ENTITY
    assert employee["departmentId"] == SALES
    assert employee["rolePrincipalId"] == ROLE
    assert employee["dtContractStart"] == f"{lucca.today().isoformat()}T00:00:00"


def test_an_inactive_department_head_is_a_plain_error_the_admin_sees(
    gateway: Gateway, serve: Any
) -> None:
    taleez, lucca, hook = _start(gateway, serve)
    cleo = taleez.add_candidate("Cleo", "Patra", "cleo@mail.test")
    taleez.hire(cleo, 45)
    event = hired_event(cleo, 45, department="Support")
    assert post_hired(hook, HOOK_SECRET, event).status_code == 202

    def failure() -> str | None:
        listed = gateway.cli("deliveries", "--connection", "lucca")
        return listed.stdout if "no longer active" in listed.stdout else None

    shown = wait_for(failure, timeout=30, what="the delivery failure in `scimgw deliveries`")
    head = lucca.departments[SUPPORT].head_id
    assert f"department Support (id {SUPPORT}): its head (id {head}) is no longer" in " ".join(
        shown.split()
    )
    assert _employee(lucca, "cleo@mail.test") is None
    listed = gateway.cli("hooks", "--json")  # the event's line says what Lucca answered
    [event] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert event["status"] == "done"
    assert any("lucca: create" in then and "no longer active" in then for then in event["then"])


def test_a_manual_push_transfers_a_hired_candidate(gateway: Gateway, serve: Any) -> None:
    taleez, lucca, _ = _start(gateway, serve)
    dan = taleez.add_candidate("Dan", "Brown", "dan@mail.test")
    taleez.hire(dan, 45)

    pushed = gateway.cli("push", "taleez", str(dan))
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "succeeded" in pushed.stdout
    wait_for(lambda: _employee(lucca, "dan@mail.test"), what="Dan in Lucca")

    unknown = gateway.cli("push", "taleez", "999")
    assert unknown.returncode == 1
    assert "Taleez has no candidate 999" in " ".join((unknown.stdout + unknown.stderr).split())
    runs = gateway.cli("runs", "--connection", "taleez")
    assert runs.returncode == 0 and "failed" in runs.stdout and "succeeded" in runs.stdout


def _settled(gateway: Gateway) -> bool:
    """Every change for Lucca is delivered (or skipped): none waits in the outbox."""
    engine = gateway.engine()
    try:
        with engine.connect() as conn:
            waiting = conn.execute(
                sa.select(sa.func.count())
                .select_from(OUTBOX)
                .where(OUTBOX.c.connection == "lucca", OUTBOX.c.status.in_(("pending", "inflight")))
            ).scalar_one()
    finally:
        engine.dispose()
    return waiting == 0


def test_hr_edits_in_lucca_after_the_creation_are_never_overwritten(
    gateway: Gateway, serve: Any
) -> None:
    """S4.6: the gateway creates; HR completes the record, and a later push changes none of it."""
    taleez, lucca, _ = _start(gateway, serve)
    eve = taleez.add_candidate("Eve", "Curie", "eve@mail.test")
    taleez.hire(eve, 45)
    assert gateway.cli("push", "taleez", str(eve)).returncode == 0
    employee = wait_for(lambda: _employee(lucca, "eve@mail.test"), what="Eve in Lucca")
    employee |= {"jobTitle": "Lead chemist", "departmentId": SUPPORT}  # HR completes it

    taleez.candidates[eve]["lastName"] = "Joliot-Curie"  # changed in Taleez afterwards
    pushed = gateway.cli("push", "taleez", str(eve))
    assert pushed.returncode == 0 and "updated" in pushed.stdout
    assert [u["name"]["familyName"] for u in gateway.users("acme")] == ["Joliot-Curie"]
    wait_for(lambda: _settled(gateway), what="the update settled for Lucca")
    kept = lucca.users[employee["id"]]
    assert (kept["lastName"], kept["jobTitle"], kept["departmentId"]) == (
        "Curie",
        "Lead chemist",
        SUPPORT,
    )


def _recorded_while_nobody_processes(gateway: Gateway, serve: Any) -> tuple[TaleezFake, LuccaFake]:
    """Fay's hire, recorded by a server that does not process (``serve --no-worker``,
    then stopped): Taleez not read yet, Fay not in Lucca."""
    taleez, lucca = TaleezFake(), _lucca()
    taleez.add_job(45, "Account manager")
    gateway.configure(
        _config(serve(taleez.app), serve(lucca.app)),
        TALEEZ_API_KEY=API_KEY,
        TALEEZ_WEBHOOK_SECRET=HOOK_SECRET,
        LUCCA_API_KEY=LUCCA_KEY,
    )
    fay = taleez.add_candidate("Fay", "Wray", "fay@mail.test")
    taleez.hire(fay, 45)
    url = gateway.start("--no-worker")
    try:
        hook = f"{url}/hooks/acme/taleez"
        assert post_hired(hook, HOOK_SECRET, hired_event(fay, 45)).status_code == 202
    finally:
        gateway.stop()
    assert taleez.requests == [] and _employee(lucca, "fay@mail.test") is None
    return taleez, lucca


def test_a_hire_received_before_a_restart_is_delivered_after_it(
    gateway: Gateway, serve: Any
) -> None:
    """The next ``scimgw serve`` processes an event recorded before: nothing is lost."""
    _taleez, lucca = _recorded_while_nobody_processes(gateway, serve)
    gateway.start()
    wait_for(lambda: _employee(lucca, "fay@mail.test"), what="Fay in Lucca after the restart")


def test_a_worker_run_once_from_cron_processes_the_recorded_hire_and_delivers_it(
    gateway: Gateway, serve: Any
) -> None:
    """``scimgw worker --once`` (a cron job beside ``serve --no-worker``) processes the
    webhook events recorded since, then delivers what they enqueued, before it exits."""
    _taleez, lucca = _recorded_while_nobody_processes(gateway, serve)
    ran = gateway.cli("worker", "--once")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "processed 1 webhook event" in ran.stdout, ran.stdout
    assert _employee(lucca, "fay@mail.test") is not None  # delivered before the exit
