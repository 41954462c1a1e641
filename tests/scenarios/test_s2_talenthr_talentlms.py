"""Seed S2, TalentHR <-> TalentLMS, end to end: both fakes on loopback sockets, ``scimgw
serve`` (worker and scheduler) as a subprocess, ``scimgw sync`` as commands.

HR -> LMS is a TalentHR source plus a TalentLMS target; LMS -> HR is a TalentLMS source
plus a TalentHR target that only creates (S2.2). docs/connectors/talenthr.md and
talentlms.md, "As a source"; examples/seeds/s2-talenthr-talentlms.yaml.
"""

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.talenthr import TalentHrFake
from tests.fakes.talentlms import TalentLmsFake
from tests.provisioning.smtp_server import SmtpServer, start
from tests.scenarios.conftest import Gateway, wait_for

HR_KEY, LMS_KEY = "scenario-talenthr-key", "scenario-talentlms-key"
SMTP_USER, SMTP_PASSWORD = "scimgw", "scenario-smtp-password"
CREATED = datetime(2024, 9, 17, 8, 30, tzinfo=UTC)
SEED = Path(__file__).parents[2] / "examples" / "seeds" / "s2-talenthr-talentlms.yaml"
#: What HR owns on people the LMS also has: not userName, which stays the LMS login of
#: people who started there (their SSO name).
HR_OWNS = [
    "name.givenName",
    "name.familyName",
    'emails[type eq "work"].value',
    "title",
    "enterprise:employeeNumber",
    "enterprise:department",
    "hr:hireDate",
    "hr:terminationDate",
    "active",
    "enterprise:manager",
]


def hr_fake() -> TalentHrFake:
    hr = TalentHrFake(HR_KEY)
    hr.add_employee("Ann", "Archer", "ann@acme.example", hire_date="2021-03-01", job_title_id=2)
    hr.add_employee("Bob", "Baker", "bob@acme.example", hire_date="2019-05-06")
    cid = hr.add_employee("Cid", "Cole", "cid@acme.example", hire_date="2018-01-08")
    dee = hr.add_employee("Dee", "Dunn", "dee@acme.example", hire_date="2018-01-08")
    hr.terminate(cid, "2025-12-31")  # has an LMS account: deactivated there (S2.4)
    hr.terminate(dee, "2025-12-31")  # has none: never created (S2.4)
    return hr


def lms_fake() -> TalentLmsFake:
    lms = TalentLmsFake(LMS_KEY, branches={1: "acme", 2: "sales"})
    for login, first, branches in (("bob", "Robert", {1}), ("cid", "Cid", {1})):
        lms.add_user(
            login=login,
            email=f"{login}@acme.example",
            first_name=first,
            last_name="Old",
            created_on=CREATED,
        ).branches = branches
    return lms


def config(hr_url: str, lms_url: str, **extra: dict[str, Any]) -> dict[str, Any]:
    """HR -> LMS (the ``hr`` source, the ``lms`` target) plus ``extra`` connections."""
    connections: dict[str, Any] = {
        "hr": {
            "type": "talenthr",
            "direction": "source",
            "base_url": f"{hr_url}/v1",
            "auth": {"type": "basic", "username": "${TALENTHR_API_KEY}"},
            "source": {
                "manager_field": "reports_to_employee_id",
                "match": ["email"],
                "authoritative": HR_OWNS,
            },
        },
        "lms": {
            "type": "talentlms",
            "base_url": f"{lms_url}/api/v1",
            "auth": {"type": "basic", "username": "${TALENTLMS_API_KEY}"},
            "matching": {"key": "email", "adopt_existing": True},
        },
    }
    for name, settings in extra.items():
        connections[name] = {**connections.get(name, {}), **settings}
    return {"default_tenant": "acme", "tenants": {"acme": {"connections": connections}}}


def seed(hr_url: str, lms_url: str, branch: int) -> dict[str, Any]:
    """examples/seeds/s2-talenthr-talentlms.yaml (two-way) as a user copies it, pointed at
    the fakes, the LMS pull limited to ``branch``, and run by hand (``scimgw sync``, S2.7)."""
    config: dict[str, Any] = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    connections = config["tenants"]["acme"]["connections"]
    for name, url in (("hr", hr_url), ("hr_hire", hr_url)):
        connections[name]["base_url"] = f"{url}/v1"
    for name in ("lms", "lms_pull"):
        connections[name]["base_url"] = f"{lms_url}/api/v1"
    connections["lms_pull"].setdefault("options", {})["branch_id"] = branch
    for settings in connections.values():
        settings.pop("schedule", None)  # manual runs only: a slot would run at start
    return config


def synced(gateway: Gateway, connection: str) -> dict[str, Any]:
    done = gateway.cli("sync", connection, "--json")
    assert done.returncode in (0, 2), done.stdout + done.stderr
    outcome: dict[str, Any] = json.loads(done.stdout)
    return outcome


def settle(probe: Callable[[], object], seconds: float = 3.0) -> None:
    """Wait for the worker to go quiet: ``probe`` unchanged for ``seconds``."""
    last, since = probe(), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.2)
        now = probe()
        if now != last:
            last, since = now, time.monotonic()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server, controller = start(tmp_path, SMTP_USER, SMTP_PASSWORD)
    yield server
    controller.stop()


def test_hr_to_lms_creates_updates_deactivates_polls_and_the_guard_holds_an_empty_read(
    gateway: Gateway, serve: Callable[[Any], str], smtp: SmtpServer, tmp_path: Path
) -> None:
    hr, lms = hr_fake(), lms_fake()
    schedule = {
        "schedule": {"every": "2s"},  # TalentHR has no webhooks: poll often (S2.6)
        "report": {"to": ["it-admin@acme.example"], "when": "always"},
    }
    gateway.configure(
        config(serve(hr.app), serve(lms.app), hr=schedule),
        TALENTHR_API_KEY=HR_KEY,
        TALENTLMS_API_KEY=LMS_KEY,
        SCIMGW_SMTP_HOST=smtp.host,
        SCIMGW_SMTP_PORT=str(smtp.port),
        SCIMGW_SMTP_USERNAME=SMTP_USER,
        SCIMGW_SMTP_PASSWORD=SMTP_PASSWORD,
        SCIMGW_SMTP_FROM="scimgw@acme.example",
        SSL_CERT_FILE=str(tmp_path / "smtp.crt"),  # the test relay's own certificate
    )
    gateway.start()

    ann = wait_for(lambda: lms.by_email("ann@acme.example"), 30, "Ann created in the LMS")
    assert (ann.first_name, ann.last_name, ann.login) == ("Ann", "Archer", "ann@acme.example")
    wait_for(lambda: lms.by_email("bob@acme.example").first_name == "Bob", 30, "Bob updated")
    cid = wait_for(
        lambda: (u := lms.by_email("cid@acme.example")) and u.status == "inactive" and u,
        30,
        "Cid, terminated in HR, deactivated in the LMS although never linked",
    )
    assert cid.first_name == "Cid"
    assert lms.by_email("dee@acme.example") is None  # terminated, no LMS account: ignored
    assert len(lms.users) == 3 and lms.count("usersignup") == 1

    started = time.monotonic()
    hr.employees[101]["last_name"] = "Archer-Smith"
    wait_for(
        lambda: lms.by_email("ann@acme.example").last_name == "Archer-Smith",
        30,
        "Ann's HR change in the LMS",
    )
    print(f"\nTalentHR change -> TalentLMS (polled every 2 s): {time.monotonic() - started:.2f} s")

    mail = wait_for(lambda: smtp.received, 30, "a report mailed after a scheduled run")
    assert mail[0].recipients == ["it-admin@acme.example"]
    assert "hr (acme) schedule run" in mail[0].message["Subject"]

    hr.employees.clear()  # a broken export: nobody at all
    held = wait_for(lambda: _latest_run(gateway, "hr", "held"), 30, "a run held by the guard")
    assert "held" in (held.get("message") or "")
    assert [u.status for u in lms.users.values()].count("active") == 2  # Ann and Bob kept


def _latest_run(gateway: Gateway, connection: str, status: str) -> dict[str, Any] | None:
    listed = gateway.cli("runs", "--connection", connection, "--json", "--limit", "3")
    for line in listed.stdout.splitlines():
        run = json.loads(line)
        if run["status"] == status:
            return dict(run)
    return None


def test_two_way_lms_only_people_become_employees_and_lms_edits_never_update_hr(
    gateway: Gateway, serve: Callable[[Any], str]
) -> None:
    hr, lms = hr_fake(), lms_fake()
    eve = lms.add_user(
        login="eve", email="eve@acme.example", first_name="Eve", last_name="Evans",
        created_on=CREATED,
    )  # fmt: skip
    eve.branches = {1, 2}
    fay = lms.add_user(
        login="fay", email="fay@acme.example", first_name="Fay", last_name="Fox",
        created_on=CREATED,
    )  # fmt: skip
    fay.branches = {1}  # not in branch 2: the branch limits the sync (S2.1)
    hr_url, lms_url = serve(hr.app), serve(lms.app)
    gateway.configure(
        seed(hr_url, lms_url, branch=2), TALENTHR_API_KEY=HR_KEY, TALENTLMS_API_KEY=LMS_KEY
    )
    gateway.start()
    assert synced(gateway, "hr")["status"] == "succeeded"
    wait_for(lambda: lms.by_email("ann@acme.example"), 30, "Ann in the LMS")

    pulled = synced(gateway, "lms_pull")
    assert pulled["status"] == "succeeded" and pulled["counts"]["read"] == 1  # Eve only
    hired = wait_for(lambda: hr.by_email("eve@acme.example"), 30, "Eve hired in TalentHR")
    assert (hired["first_name"], hired["hire_date"]) == ("Eve", CREATED.date().isoformat())
    assert hr.by_email("fay@acme.example") is None

    assert synced(gateway, "hr")["counts"]["created"] == 0  # Eve, back from HR: linked
    people = gateway.users("acme")
    assert sorted(u["emails"][0]["value"] for u in people) == [
        f"{name}@acme.example" for name in ("ann", "bob", "cid", "dee", "eve")
    ]
    eve_user = next(u for u in people if u["userName"] == "eve")  # her LMS login stays

    eve.first_name, eve.status = "Evelyn", "inactive"  # LMS edits of an existing employee
    pulled = synced(gateway, "lms_pull")
    assert pulled["counts"]["updated"] == pulled["counts"]["deactivated"] == 0
    settle(lambda: (len(hr.requests), lms.count("edituser")))
    assert hr.by_email("eve@acme.example")["first_name"] == "Eve"
    assert hr.by_email("eve@acme.example")["termination_date"] is None
    assert not hr.calls("PUT") and not [p for p in hr.calls("POST") if "terminate" in p]
    assert len(hr.employees) == 5 and len(lms.users) == 5  # Dee never reached the LMS

    edits = (lms.count("edituser"), lms.count("usersignup"), len(hr.calls("POST")))
    for connection in ("hr", "lms_pull", "hr", "lms_pull"):  # no ping-pong, no duplicate
        synced(gateway, connection)
    settle(lambda: (len(hr.requests), lms.count("edituser")))
    assert (lms.count("edituser"), lms.count("usersignup"), len(hr.calls("POST"))) == edits
    assert [u["id"] for u in gateway.users("acme") if u["userName"] == "eve"] == [eve_user["id"]]
    assert date.fromisoformat(hired["hire_date"]) == CREATED.date()
