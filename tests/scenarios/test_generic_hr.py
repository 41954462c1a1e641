"""The generic JSON HR source to a webhook target, through scimgw run as a user runs it.

The pattern every seed scenario follows: both fakes on loopback sockets, ``scimgw serve``
(with its worker) in a subprocess, ``scimgw sync`` run as a command, and assertions on what
the target holds afterwards.
"""

import time

from tests.fakes.hr_json import HrJsonFake, person
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.scenarios.conftest import Gateway, wait_for

SECRET = "scenario-webhook-secret-0123456789"


def _config(hr_url: str, hook_url: str) -> dict[str, object]:
    return {
        "default_tenant": "acme",
        "tenants": {
            "acme": {
                "connections": {
                    "hr": {
                        "type": "hr_json",
                        "direction": "source",
                        "base_url": hr_url,
                        "auth": {"type": "bearer", "token": "${HR_TOKEN}"},
                    },
                    "hooks": {
                        "type": "webhook",
                        "base_url": hook_url,
                        "options": {"secret": "${HOOK_SECRET}", "path": "/hooks/scimgw"},
                    },
                }
            }
        },
    }


def test_people_read_from_hr_reach_the_webhook_and_a_leaver_is_deactivated(
    gateway: Gateway, serve
) -> None:
    hr = HrJsonFake()
    for number in (1, 2, 3):
        hr.add(**person(number, manager_id="E000001" if number > 1 else None))
    receiver = WebhookReceiver(SECRET)
    gateway.configure(
        _config(serve(hr.app), serve(receiver.app)), HR_TOKEN=hr.token, HOOK_SECRET=SECRET
    )
    gateway.start()

    started = time.monotonic()
    done = gateway.cli("sync", "hr")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: len(receiver.accounts) == 3, what="three accounts at the receiver")
    print(f"\nHR run -> webhook target: {time.monotonic() - started:.2f} s for 3 people")
    names = sorted(a.data["userName"] for a in receiver.accounts.values())
    assert names == [f"person{n}@acme.example" for n in (1, 2, 3)]

    hr.add(**person(3, status="terminated", end_date="2021-01-01"))
    done = gateway.cli("sync", "hr")
    assert done.returncode == 0, done.stdout + done.stderr
    leaver = wait_for(
        lambda: next(
            (
                a
                for a in receiver.accounts.values()
                if a.data["userName"] == "person3@acme.example" and not a.active
            ),
            None,
        ),
        what="person 3 deactivated at the receiver",
    )
    assert leaver.active is False
    assert len(receiver.accounts) == 3  # deactivated, never deleted
