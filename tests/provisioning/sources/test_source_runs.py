"""Source runs end to end: the generic HR fake read into the store (SQLite and PostgreSQL).

Each test drives :class:`provisioning.sources.SourceRunner` against the contract fake over
an ASGI transport, writes through the real ResourceService and reads the store back.
"""

import socket
import subprocess
import sys

import pytest
import sqlalchemy as sa

from gateway.store.tables import SourceLink, SyncRunFailure
from provisioning.records import runs
from provisioning.records.runs import RunInProgress
from tests.fakes.hr_json import person
from tests.provisioning.sources.conftest import ENTERPRISE, HR, TENANT, Setup


def by_id(setup: Setup) -> dict[str, dict]:
    return {user["id"]: user for user in setup.users()}


# -- joiners, movers, leavers ------------------------------------------------------------


async def test_new_people_are_created_and_an_unchanged_source_writes_nothing(setup: Setup) -> None:
    setup.fake.add(**person(1))
    setup.fake.add(**person(2))
    first = await setup.run()
    assert first.status == "succeeded"
    assert first.counts["created"] == 2
    user = setup.user("person1@acme.example")
    assert user["name"] == {"givenName": "First1", "familyName": "Last1"}
    assert user[ENTERPRISE]["employeeNumber"] == "000001"
    assert user[HR]["hireDate"] == "2020-01-06"
    events = len(setup.outbox())

    second = await setup.run()
    assert second.counts["read"] == 2 and second.counts["unchanged"] == 2
    assert second.counts["created"] == second.counts["updated"] == 0
    assert len(setup.outbox()) == events


async def test_a_change_from_the_source_fans_out_to_targets_like_a_scim_write(
    setup: Setup,
) -> None:
    setup.fake.add(**person(1))
    await setup.run()
    user_id = setup.user("person1@acme.example")["id"]
    assert setup.outbox() == [("lms", user_id, "created")]

    setup.fake.update("E000001", job_title="Staff Engineer")
    outcome = await setup.run()
    assert outcome.counts["updated"] == 1
    assert outcome.changes == (f"update user {user_id} (person E000001): title",)
    assert setup.user("person1@acme.example")["title"] == "Staff Engineer"
    assert setup.outbox()[-1] == ("lms", user_id, "updated")


async def test_a_terminated_person_is_deactivated_never_deleted_and_a_rehire_reactivates(
    setup: Setup,
) -> None:
    setup.fake.add(**person(1))
    await setup.run()
    user_id = setup.user("person1@acme.example")["id"]

    setup.fake.update("E000001", status="terminated")
    left = await setup.run()
    assert left.counts["deactivated"] == 1
    assert setup.user("person1@acme.example")["active"] is False

    setup.fake.update("E000001", status="active")
    back = await setup.run()
    assert back.counts["reactivated"] == 1
    rehired = setup.user("person1@acme.example")
    assert rehired["id"] == user_id and rehired["active"] is True
    # As for a SCIM write, a reactivation is an update to deliver (gateway.store.outbox).
    assert [action for *_, action in setup.outbox()] == ["created", "deactivated", "updated"]


async def test_a_future_start_date_creates_the_user_inactive_until_that_day(setup: Setup) -> None:
    setup.fake.add(**person(1, start_date="2026-03-04"))
    await setup.run()
    assert setup.user("person1@acme.example")["active"] is False

    setup.clock.days(1)
    await setup.run()
    assert setup.user("person1@acme.example")["active"] is False

    setup.clock.days(1)  # the 4th: the first day
    outcome = await setup.run()
    assert outcome.counts["reactivated"] == 1
    assert setup.user("person1@acme.example")["active"] is True


async def test_an_incremental_run_activates_a_joiner_on_the_day_without_reading_them(
    setup: Setup,
) -> None:
    setup.configure(incremental=True)
    setup.fake.add(**person(1, start_date="2026-03-03"))
    await setup.run()
    assert setup.user("person1@acme.example")["active"] is False

    setup.clock.days(1)
    outcome = await setup.run()
    assert outcome.counts["read"] == 0  # nobody changed in the source
    assert outcome.counts["reactivated"] == 1
    assert setup.user("person1@acme.example")["active"] is True


async def test_an_end_date_deactivates_at_the_start_of_the_next_day(setup: Setup) -> None:
    setup.fake.add(**person(1, end_date="2026-03-02"))  # today is their last day
    await setup.run()
    assert setup.user("person1@acme.example")["active"] is True

    setup.clock.days(1)
    outcome = await setup.run()
    assert outcome.counts["deactivated"] == 1
    assert setup.user("person1@acme.example")["active"] is False


async def test_an_incremental_run_reads_only_what_changed_since_its_checkpoint(
    setup: Setup,
) -> None:
    setup.configure(incremental=True)
    setup.fake.add(**person(1))
    setup.fake.add(**person(2))
    await setup.run()
    setup.fake.update("E000002", job_title="Manager")
    outcome = await setup.run()
    assert outcome.counts["read"] == 1 and outcome.counts["updated"] == 1
    assert "changed_since=2" in setup.fake.requests[-1]


# -- managers ------------------------------------------------------------------------------


async def test_a_manager_arriving_later_in_the_same_run_is_resolved_to_its_scim_id(
    setup: Setup,
) -> None:
    setup.fake.add(**person(1, manager_id="E000009"))  # read before their manager
    setup.fake.add(**person(9))
    outcome = await setup.run()
    assert outcome.status == "succeeded", outcome.failures
    assert outcome.counts["created"] == 2 and outcome.counts["updated"] == 0
    report = setup.user("person1@acme.example")
    manager = setup.user("person9@acme.example")
    assert report[ENTERPRISE]["manager"]["value"] == manager["id"]

    again = await setup.run()
    assert again.counts["unchanged"] == 2


async def test_a_new_manager_is_a_change_of_the_report(setup: Setup) -> None:
    setup.fake.add(**person(1))
    setup.fake.add(**person(2))
    setup.fake.add(**person(3, manager_id="E000001"))
    await setup.run()
    setup.fake.update("E000003", manager_id="E000002")
    await setup.run()
    new_manager = setup.user("person2@acme.example")["id"]
    assert setup.user("person3@acme.example")[ENTERPRISE]["manager"]["value"] == new_manager


# -- matching and ownership -----------------------------------------------------------------


async def test_a_person_is_matched_to_the_idp_user_by_work_email_case_insensitively(
    setup: Setup,
) -> None:
    idp_user = setup.scim_create(
        {
            "userName": "jdoe",
            "emails": [{"type": "work", "value": "PERSON1@Acme.Example"}],
            "nickName": "JD",
        }
    )
    setup.fake.add(**person(1, username="jdoe", employee_number=None))
    outcome = await setup.run()
    assert outcome.counts["created"] == 0 and outcome.counts["updated"] == 1
    users = setup.users()
    assert [user["id"] for user in users] == [idp_user]
    assert users[0]["nickName"] == "JD"  # not the source's: kept
    assert users[0]["title"] == "Engineer"  # the source's: written


async def test_two_candidates_are_a_reported_conflict_and_nothing_is_written(setup: Setup) -> None:
    by_number = setup.scim_create(
        {"userName": "a", ENTERPRISE: {"employeeNumber": "000001"}, "schemas": []}
    )
    by_email = setup.scim_create(
        {"userName": "b", "emails": [{"type": "work", "value": "person1@acme.example"}]}
    )
    setup.fake.add(**person(1))
    outcome = await setup.run()
    assert outcome.status == "failed"
    assert outcome.counts["failed"] == 1
    (failure,) = outcome.failures
    assert failure.person == "E000001"
    assert failure.reason == f"matches users {' and '.join(sorted([by_number, by_email]))}"
    assert len(setup.users()) == 2
    with setup.engine.connect() as conn:
        stored = runs.get(conn, outcome.run_id or "")
    assert stored is not None and stored.failures == (failure,)


async def test_an_idp_owned_attribute_is_left_alone_when_the_source_does_not_own_it(
    setup: Setup,
) -> None:
    setup.configure(authoritative=["active", "enterprise:department", "hr:hireDate"])
    setup.scim_create(
        {
            "userName": "person1@acme.example",
            "title": "Title from the IdP",
            "emails": [{"type": "work", "value": "person1@acme.example"}],
        }
    )
    setup.fake.add(**person(1, department="Sales"))
    await setup.run()
    user = setup.user("person1@acme.example")
    assert user["title"] == "Title from the IdP"
    assert user[ENTERPRISE]["department"] == "Sales"
    assert "employeeNumber" not in user[ENTERPRISE]  # mapped, but not owned


async def test_two_sources_with_the_same_ids_never_collide(setup: Setup) -> None:
    setup.fake.add(**person(1))
    setup.fake2.add(**person(1, employee_number="X1", work_email="other@globex.example"))
    await setup.run("hr")
    outcome = await setup.run("hr2")
    assert outcome.counts["created"] == 1
    assert len(setup.users()) == 2
    setup.fake2.update("E000001", job_title="Chef")
    await setup.run("hr2")
    assert setup.user("person1@acme.example")["title"] == "Engineer"
    assert setup.user("other@globex.example")["title"] == "Chef"


# -- scope, skip flag, leavers ---------------------------------------------------------------


async def test_the_skip_box_skips_a_person_and_checking_it_later_deactivates(setup: Setup) -> None:
    setup.configure(skip_field="skip_sync")
    setup.fake.add(**person(1))
    setup.fake.add(**person(2, skip_sync="yes"))
    first = await setup.run()
    assert first.counts["created"] == 1 and first.counts["skipped"] == 1
    assert [user["userName"] for user in setup.users()] == ["person1@acme.example"]

    setup.fake.update("E000001", skip_sync=True)
    second = await setup.run()
    assert second.counts["skipped"] == 2 and second.counts["deactivated"] == 1
    assert setup.user("person1@acme.example")["active"] is False


async def test_a_person_leaving_the_scope_filter_is_deactivated_not_deleted(setup: Setup) -> None:
    setup.configure(scope=f'{ENTERPRISE}:department eq "R&D"')
    setup.fake.add(**person(1))
    setup.fake.add(**person(2, department="Sales"))
    first = await setup.run()
    assert first.counts["created"] == 1 and first.counts["skipped"] == 1

    setup.fake.update("E000001", department="Sales")
    second = await setup.run()
    assert second.counts["deactivated"] == 1
    assert setup.user("person1@acme.example")["active"] is False


async def test_a_person_gone_from_the_source_is_deactivated(setup: Setup) -> None:
    setup.fake.add(**person(1))
    setup.fake.add(**person(2))
    await setup.run()
    setup.fake.remove("E000002")
    outcome = await setup.run()
    assert outcome.counts["deactivated"] == 1
    assert setup.user("person2@acme.example")["active"] is False
    assert len(setup.users()) == 2


async def test_a_connection_that_says_so_deletes_leavers(setup: Setup) -> None:
    setup.configure(on_leave="delete")
    setup.fake.add(**person(1))
    setup.fake.add(**person(2))
    await setup.run()
    user_id = setup.user("person2@acme.example")["id"]
    setup.fake.remove("E000002")
    outcome = await setup.run()
    assert outcome.changes == (f"delete user {user_id} (E000002)",)
    assert [user["userName"] for user in setup.users()] == ["person1@acme.example"]
    assert setup.outbox()[-1] == ("lms", user_id, "deleted")


# -- the guard -----------------------------------------------------------------------------


async def test_a_source_returning_no_one_is_held_until_confirmed(setup: Setup) -> None:
    for number in (1, 2, 3):
        setup.fake.add(**person(number))
    await setup.run()
    for number in (1, 2, 3):
        setup.fake.remove(f"E00000{number}")
    held = await setup.run()
    assert held.status == "held"
    assert "returned no one while 3 linked people are active" in (held.message or "")
    assert all(user["active"] for user in setup.users())

    from provisioning.sources import confirm

    with setup.engine.begin() as conn:
        confirm(conn, TENANT, "hr", setup.clock())
    released = await setup.run()
    assert released.status == "succeeded" and released.counts["deactivated"] == 3
    assert not any(user["active"] for user in setup.users())


async def test_more_deactivations_than_the_limit_are_held_while_updates_apply(
    setup: Setup,
) -> None:
    setup.configure(guard={"max_count": 1})
    for number in (1, 2, 3):
        setup.fake.add(**person(number))
    await setup.run()
    setup.fake.update("E000001", status="terminated")
    setup.fake.update("E000002", status="terminated")
    setup.fake.update("E000003", job_title="Lead")
    outcome = await setup.run()
    assert outcome.status == "held"
    assert "deactivate 2 people, above the limit of 1" in (outcome.message or "")
    assert outcome.counts["updated"] == 1
    assert all(user["active"] for user in setup.users())
    assert setup.user("person3@acme.example")["title"] == "Lead"


# -- dry run, run records, failures ------------------------------------------------------------


async def test_a_dry_run_prints_the_diff_and_writes_nothing(setup: Setup) -> None:
    setup.fake.add(**person(1))
    setup.fake.add(**person(2))
    await setup.run()
    rows, events = setup.run_rows(), len(setup.outbox())
    user_id = setup.user("person1@acme.example")["id"]
    setup.fake.update("E000001", job_title="CTO", last_name="Smith")
    setup.fake.update("E000002", status="terminated")
    setup.fake.add(**person(3))
    preview = await setup.run(dry_run=True)
    assert preview.run_id is None
    assert preview.counts["created"] == 1
    assert preview.counts["updated"] == 1
    assert preview.counts["deactivated"] == 1
    assert "create user for person E000003" in preview.changes
    assert f"update user {user_id} (person E000001): name.familyName, title" in preview.changes
    assert setup.user("person1@acme.example")["title"] == "Engineer"
    assert len(setup.users()) == 2
    assert (setup.run_rows(), len(setup.outbox())) == (rows, events)
    with setup.engine.connect() as conn:
        table = SourceLink.__table__  # type: ignore[attr-defined]
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 2


async def test_a_person_that_cannot_be_mapped_is_a_recorded_failure(setup: Setup) -> None:
    setup.fake.add(**person(1))
    setup.fake.add(**person(2, work_email=None))  # userName is required
    outcome = await setup.run()
    assert outcome.status == "failed"
    assert outcome.counts == {**outcome.counts, "read": 2, "created": 1, "failed": 1}
    with setup.engine.connect() as conn:
        stored = runs.get(conn, outcome.run_id or "")
        table = SyncRunFailure.__table__  # type: ignore[attr-defined]
        reasons = conn.execute(sa.select(table.c.person, table.c.reason)).all()
    assert stored is not None and stored.status == "failed" and stored.counts["created"] == 1
    assert reasons == [("E000002", "userName: required, but username, work_email gave no value")]


async def test_a_throttled_source_is_asked_again_after_its_retry_after(setup: Setup) -> None:
    setup.fake.add(**person(1))
    setup.fake.throttle(2)
    outcome = await setup.run()
    assert outcome.status == "succeeded" and outcome.counts["created"] == 1


async def test_refused_credentials_fail_the_run_with_the_reason(setup: Setup) -> None:
    setup.fake.token = "rotated"
    setup.fake.add(**person(1))
    outcome = await setup.run()
    assert outcome.status == "failed"
    assert "401" in (outcome.message or "") or "token" in (outcome.message or "")
    with setup.engine.connect() as conn:
        stored = runs.get(conn, outcome.run_id or "")
    assert stored is not None and stored.status == "failed" and stored.message == outcome.message
    assert setup.users() == []


async def test_a_connection_runs_once_at_a_time(setup: Setup) -> None:
    with setup.engine.begin() as conn:
        runs.start(
            conn,
            tenant=TENANT,
            name="hr",
            direction="source",
            trigger="schedule",
            runner="elsewhere",
            now=setup.clock(),
        )
    with pytest.raises(RunInProgress):
        await setup.run()


async def test_a_run_left_running_by_a_killed_process_of_this_host_is_closed_first(
    setup: Setup,
) -> None:
    """A source run killed mid-run (kill -9) must not block its connection for ever: the
    next run closes it as failed and starts, as a target run does."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with setup.engine.begin() as connection:
        left = runs.start(
            connection,
            tenant=TENANT,
            name="hr",
            direction="source",
            trigger="schedule",
            runner=f"{socket.gethostname()}:{dead}",
            now=setup.clock(),
        )
    setup.fake.add(**person(1))
    assert (await setup.run()).status == "succeeded"
    with setup.engine.connect() as connection:
        closed = runs.get(connection, left)
    assert closed is not None and closed.status == "failed"
    assert closed.message == f"abandoned: its process {socket.gethostname()}:{dead} is gone"


async def test_a_value_the_schema_refuses_fails_that_person_without_quoting_it(
    setup: Setup,
) -> None:
    setup.configure(field_map_extra={"hr:dateOfBirth": "birth"})
    setup.fake.add(**person(1))
    setup.fake.add(**person(2, birth="31/02/1980"))
    outcome = await setup.run()
    assert outcome.counts["created"] == 1 and outcome.counts["failed"] == 1
    (failure,) = outcome.failures
    assert failure.person == "E000002"
    assert "dateOfBirth" in failure.reason and "1980" not in failure.reason


async def test_a_dry_run_of_a_first_load_with_managers_later_in_the_read_fails_no_one(
    setup: Setup,
) -> None:
    setup.fake.add(**person(1, manager_id="E000009"))
    setup.fake.add(**person(9))
    preview = await setup.run(dry_run=True)
    assert preview.status == "succeeded", preview.failures
    assert preview.counts["created"] == 2
    assert setup.users() == []


async def test_a_person_who_failed_is_read_again_by_the_next_incremental_run(
    setup: Setup,
) -> None:
    setup.configure(incremental=True)
    setup.fake.add(**person(1))
    await setup.run()
    setup.fake.update("E000001", job_title="Lead")
    setup.fake.add(**person(2, work_email=None))  # fails: no userName
    failed = await setup.run()
    assert failed.status == "failed" and failed.counts["updated"] == 1
    setup.fake.people["E000002"]["work_email"] = "person2@acme.example"  # fixed, not "changed"
    again = await setup.run()
    assert again.counts["created"] == 1 and again.counts["unchanged"] == 1
