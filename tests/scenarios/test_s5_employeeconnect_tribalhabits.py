"""Seed S5, EmployeeConnect -> Tribal Habits, through scimgw run as a user runs it.

Both contract fakes on loopback sockets, ``scimgw serve`` (worker and scheduler) in a
subprocess, ``scimgw sync`` as a command, on the seed's example file
(examples/seeds/s5-employeeconnect-tribalhabits.yaml) with only its URLs pointed at the
fakes; assertions on what Tribal Habits holds afterwards.
"""

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.employeeconnect import EmployeeConnectFake, employee
from tests.fakes.tribalhabits import CustomField, TribalHabitsFake
from tests.provisioning import smtp_server
from tests.scenarios.conftest import Gateway, wait_for

EXAMPLE = Path(__file__).parents[2] / "examples/seeds/s5-employeeconnect-tribalhabits.yaml"
TH_KEY = "th-scenario-key-5b1e"
FIELDS = {"Location": CustomField(), "JobTitle": CustomField(), "Department": CustomField()}
Serve = Callable[[Any], str]


class Seed:
    """The two fakes, served, and the example configuration pointed at them."""

    def __init__(self, gateway: Gateway, serve: Serve) -> None:
        self.gateway = gateway
        self.hr = EmployeeConnectFake()
        self.lms = TribalHabitsFake(TH_KEY, custom_fields=FIELDS)
        self.config = yaml.safe_load(EXAMPLE.read_text())
        connections = self.config["tenants"]["acme"]["connections"]
        self.source = connections["employeeconnect"]
        self.target = connections["tribalhabits"]
        self.source["base_url"] = serve(self.hr.app)
        self.target["base_url"] = serve(self.lms.app) + "/papi"
        self.env = {"EMPLOYEECONNECT_TOKEN": self.hr.token, "TRIBAL_HABITS_API_KEY": TH_KEY}

    def manual_runs_only(self) -> None:
        """Runs by ``scimgw sync`` only (S2.7): the hourly slot would run at start."""
        self.source.pop("schedule")

    def start(self, **env: str) -> None:
        self.gateway.configure(copy.deepcopy(self.config), **{**self.env, **env})
        self.gateway.start()

    def sync(self, *arguments: str, expect: int = 0) -> str:
        done = self.gateway.cli("sync", "employeeconnect", *arguments)
        assert done.returncode == expect, done.stdout + done.stderr
        return done.stdout + done.stderr

    def users(self) -> dict[str, dict[str, Any]]:
        """Tribal Habits users by user_name."""
        return {user["user_name"]: user for user in self.lms.users.values()}

    def wait_users(self, test: Callable[[dict[str, dict[str, Any]]], bool], what: str) -> Any:
        return wait_for(lambda: test(self.users()) and self.users(), what=what)


def _timing(what: str, started: float, synced: float) -> None:
    done = time.monotonic()
    print(
        f"\nS5 {what}: scimgw sync {synced - started:.2f} s (a subprocess, its start "
        f"included), in Tribal Habits {done - synced:.2f} s later, {done - started:.2f} s in all"
    )


def _yesterday() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def test_initial_load_then_incremental_runs_reach_tribal_habits_within_the_filters(
    gateway: Gateway, serve: Serve
) -> None:
    seed = Seed(gateway, serve)
    seed.hr.add(**employee(1, jobTitle="Operations Manager"))
    seed.hr.add(**employee(2, managerEmployeeId="EC0001", location="Melbourne"))
    seed.hr.add(**employee(3, managerEmployeeId="EC0001"))
    seed.hr.add(**employee(4, location="Perth"))  # S5.4: not a synced location
    seed.hr.add(**employee(5, workEmail="temp5@agency.example"))  # S5.4: not the company's
    seed.manual_runs_only()
    seed.start()

    started = time.monotonic()
    seed.sync()
    synced = time.monotonic()
    users = seed.wait_users(lambda u: len(u) == 3, "three users in Tribal Habits")
    _timing("initial load of 3 people", started, synced)
    assert sorted(users) == [f"person{n}@acme.com.au" for n in (1, 2, 3)]  # S5.2: work email
    report = users["person2@acme.com.au"]
    assert report["manager_email"] == "person1@acme.com.au"  # S5.3
    assert report["X-Location"] == "Melbourne" and report["X-JobTitle"] == "Coordinator"
    assert report["X-Department"] == "Operations"
    assert users["person1@acme.com.au"]["X-JobTitle"] == "Operations Manager"

    seed.hr.add(**employee(6, managerEmployeeId="EC0002"))
    seed.hr.update("EC0002", jobTitle="Team Leader")
    seed.hr.terminate("EC0003", _yesterday())
    before = len(seed.hr.requests)
    started = time.monotonic()
    seed.sync()
    synced = time.monotonic()
    assert all("modifiedSince=" in query for query in seed.hr.requests[before:])  # S5.5
    users = seed.wait_users(
        lambda u: (
            len(u) == 4
            and u["person2@acme.com.au"]["X-JobTitle"] == "Team Leader"
            and u["person3@acme.com.au"]["active"] is False
        ),
        "the joiner created, the mover updated, the leaver deactivated",
    )
    _timing("incremental run (1 new, 1 changed, 1 leaver)", started, synced)
    assert users["person6@acme.com.au"]["manager_email"] == "person2@acme.com.au"
    assert users["person3@acme.com.au"]["email"] == "person3@acme.com.au"  # kept, not deleted
    assert not any(r.method == "DELETE" for r in seed.lms.requests)


def test_the_hr_id_username_policy_makes_the_employee_id_the_tribal_habits_user_name(
    gateway: Gateway, serve: Serve
) -> None:
    seed = Seed(gateway, serve)
    source = seed.source["source"]
    source.pop("scope")  # people with personal emails: no company-domain filter
    source["field_map_extra"] = {"userName": {"from": "employeeId", "required": True}}
    seed.target["options"]["username_from"] = "employeeNumber"
    seed.target["matching"]["key"] = "employeeNumber"
    seed.hr.add(**employee(1, workEmail="jo.bloggs@gmail.com"))
    seed.hr.add(**employee(2, workEmail="sam.smith@outlook.example"))
    seed.manual_runs_only()
    seed.start()

    seed.sync()
    users = seed.wait_users(lambda u: len(u) == 2, "two users in Tribal Habits")
    assert sorted(users) == ["EC0001", "EC0002"]
    assert users["EC0001"]["email"] == "jo.bloggs@gmail.com"
    scim = {user["userName"] for user in gateway.users("acme")}
    assert scim == {"EC0001", "EC0002"}


def test_a_dry_run_previews_the_new_the_updated_and_the_terminated_and_writes_nothing(
    gateway: Gateway, serve: Serve
) -> None:
    seed = Seed(gateway, serve)
    for number in (1, 2, 3):
        seed.hr.add(**employee(number))
    seed.manual_runs_only()
    seed.start()

    preview = seed.sync("--dry-run")
    assert preview.count("create user for person EC000") == 3, preview
    assert gateway.users("acme") == [] and seed.lms.users == {}

    seed.sync()
    seed.wait_users(lambda u: len(u) == 3, "three users in Tribal Habits")
    seed.hr.add(**employee(4))
    seed.hr.update("EC0002", location="Melbourne")
    seed.hr.terminate("EC0003", _yesterday())
    sent = len(seed.lms.requests)
    preview = seed.sync("--dry-run")
    assert "create user for person EC0004" in preview, preview
    assert "(person EC0002): hr:location" in preview, preview
    assert "(person EC0003): hr:terminationDate, active" in preview, preview
    time.sleep(1.0)  # a write would reach the worker within this
    assert len(seed.lms.requests) == sent
    assert all(user["active"] for user in seed.users().values())
    assert len(gateway.users("acme")) == 3


def test_a_failed_scheduled_run_mails_the_reason_to_the_configured_address(
    gateway: Gateway, serve: Serve, tmp_path: Path
) -> None:
    seed = Seed(gateway, serve)
    seed.hr.add(**employee(1))
    smtp, controller = smtp_server.start(tmp_path, "scimgw", "smtp-password-for-tests")
    try:
        seed.start(
            EMPLOYEECONNECT_TOKEN="a-token-employeeconnect-refuses",
            SCIMGW_SMTP_HOST=smtp.host,
            SCIMGW_SMTP_PORT=str(smtp.port),
            SCIMGW_SMTP_USERNAME=smtp.username,
            SCIMGW_SMTP_PASSWORD=smtp.password,
            SCIMGW_SMTP_FROM="scimgw@acme.com.au",
            SSL_CERT_FILE=str(tmp_path / "smtp.crt"),  # trust the test relay's certificate
        )
        mail = wait_for(lambda: smtp.received, timeout=30, what="the failure report")[0]
    finally:
        controller.stop()
    assert mail.recipients == ["it-admin@acme.com.au"]
    assert "employeeconnect (acme) schedule run failed" in mail.message["Subject"]
    text = mail.message.get_content()
    assert "invalid or missing credentials" in text, text
    assert "a-token-employeeconnect-refuses" not in text
    assert seed.lms.users == {}


def test_a_feed_returning_no_one_is_held_by_the_guard_and_takes_no_access(
    gateway: Gateway, serve: Serve
) -> None:
    seed = Seed(gateway, serve)
    seed.source["source"]["incremental"] = False  # a full read every run sees who is gone
    for number in (1, 2, 3):
        seed.hr.add(**employee(number))
    seed.manual_runs_only()
    seed.start()
    seed.sync()
    seed.wait_users(lambda u: len(u) == 3, "three users in Tribal Habits")

    seed.hr.employees.clear()  # a broken export: nobody
    held = seed.sync(expect=2)
    assert "returned no one while 3 linked people are active" in held, held
    time.sleep(1.0)
    assert all(user["active"] for user in seed.users().values())
