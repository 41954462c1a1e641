"""Seed S3, BambooHR -> Elevo, end to end: both fakes on real sockets, scimgw as a process.

The BambooHR fake is served over HTTP and Elevo's SFTP drop by a real asyncssh server;
``scimgw serve`` reads BambooHR on a short schedule (S3.4) with its embedded scheduler and
delivers every change to Elevo's CSV file with its embedded worker. The test changes
BambooHR the way an HR admin would and waits for Elevo's next file.
"""

import asyncio
import csv
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncssh
import sqlalchemy as sa
import yaml

from gateway.store.tables import SyncRun
from tests.fakes.bamboohr import API_KEY, BambooHrFake, employee
from tests.fakes.sftp_server import SftpServer, sftp_server
from tests.scenarios.conftest import Gateway, wait_for

EVERY_SECONDS = 2
SEED = Path(__file__).parents[2] / "examples" / "seeds" / "s3-bamboohr-elevo.yaml"


@contextmanager
def sftp_in_thread(root: Path, client_key: asyncssh.SSHKey) -> Iterator[SftpServer]:
    """The SFTP fake on its own event loop in a thread, for as long as the block runs."""
    ready = threading.Event()
    held: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        held["stop"] = asyncio.Event()
        async with sftp_server(root, client_key=client_key) as server:
            held["server"] = server
            ready.set()
            await held["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the SFTP fake did not start")
    try:
        yield held["server"]
    finally:
        loop.call_soon_threadsafe(held["stop"].set)
        thread.join(10)
        loop.close()


def _config(bamboo_url: str, sftp: SftpServer) -> dict[str, Any]:
    """examples/seeds/s3-bamboohr-elevo.yaml as a user copies it, pointed at the fakes and
    read every few seconds instead of hourly."""
    config: dict[str, Any] = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    connections = config["tenants"]["acme"]["connections"]
    connections["bamboohr"]["base_url"] = bamboo_url
    connections["bamboohr"]["schedule"] = {"every": f"{EVERY_SECONDS}s"}
    connections["elevo"]["options"].update(
        host=sftp.host,
        port=sftp.port,
        username=sftp.username,
        private_key="${ELEVO_SSH_KEY}",
        host_key=sftp.fingerprint,
    )
    return config


class ElevoDrop:
    """The files scimgw wrote into Elevo's users folder, newest last."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "uploads" / "users"
        self.folder.mkdir(parents=True)

    def files(self) -> list[Path]:
        found = [p for p in self.folder.iterdir() if p.suffix == ".csv"]
        return sorted(found, key=lambda p: p.stat().st_mtime_ns)

    def rows(self, path: Path) -> dict[str, dict[str, str]]:
        """The rows of one file by email."""
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
        return {row["email"]: row for row in reader}

    def newest(self) -> dict[str, dict[str, str]] | None:
        files = self.files()
        return self.rows(files[-1]) if files else None

    def emails_ever(self) -> set[str]:
        return {email for path in self.files() for email in self.rows(path)}


def source_runs(gateway: Gateway) -> list[tuple[str, str | None]]:
    """(status, message) of the BambooHR connection's runs, oldest first."""
    table = SyncRun.__table__  # type: ignore[attr-defined]
    engine = gateway.engine()
    try:
        with engine.connect() as conn:
            query = (
                sa.select(table.c.status, table.c.message)
                .where(table.c.connection == "bamboohr")
                .order_by(table.c.started)
            )
            return [(status, message) for status, message in conn.execute(query)]
    finally:
        engine.dispose()


def test_bamboohr_employees_reach_elevo_on_a_schedule_and_a_skipped_one_is_suspended(
    gateway: Gateway, serve, tmp_path: Path
) -> None:
    bamboo = BambooHrFake(API_KEY)
    boss = bamboo.add_employee(**employee(1))
    report = bamboo.add_employee(**employee(2, supervisorEId=str(boss)))
    mover = bamboo.add_employee(**employee(3, supervisorEId=str(boss)))
    bamboo.add_employee(**employee(4, status="Inactive", terminationDate="2024-06-30"))
    bamboo.add_employee(**employee(5, skip_elevo_sync="yes", supervisorEId=str(boss)))
    key = asyncssh.generate_private_key("ssh-ed25519")
    drop = ElevoDrop(tmp_path / "sftp")
    boss_email = "First1.Last1@Acme.example"

    with sftp_in_thread(tmp_path / "sftp", key) as sftp:
        gateway.configure(
            _config(serve(bamboo.app), sftp),
            BAMBOOHR_API_KEY=API_KEY,
            BAMBOOHR_PASSWORD="x",
            ELEVO_SSH_KEY=key.export_private_key().decode(),
        )
        started = time.monotonic()
        gateway.start()

        # S3.4: nobody runs anything by hand; the schedule reads BambooHR, the worker
        # writes Elevo's file.
        first = wait_for(
            lambda: (rows := drop.newest()) and len(rows) == 3 and rows,
            timeout=60,
            what="Elevo's file with the three active, unskipped employees",
        )
        print(f"\nS3 start -> first Elevo file: {time.monotonic() - started:.2f} s")
        assert set(first) == {boss_email, "First2.Last2@Acme.example", "First3.Last3@Acme.example"}
        assert first["First2.Last2@Acme.example"]["manager_email"] == boss_email
        assert first["First3.Last3@Acme.example"]["manager_email"] == boss_email
        assert first[boss_email]["manager_email"] == ""
        assert first[boss_email]["registration_number"] == "0001"
        assert first[boss_email]["team_name"] == "Engineering"
        assert first[boss_email]["work_start_date"] == "2021-03-01"

        # A mover: the next scheduled run carries the change to Elevo's next file.
        changed = time.monotonic()
        bamboo.edit(mover, jobTitle="Trainer")
        wait_for(
            lambda: (
                (rows := drop.newest())
                and rows.get("First3.Last3@Acme.example", {}).get("job_title") == "Trainer"
            ),
            timeout=30,
            what="the new job title in Elevo's file",
        )
        print(
            f"S3 BambooHR change -> Elevo file: {time.monotonic() - changed:.2f} s "
            f"(schedule every {EVERY_SECONDS} s)"
        )

        # S3.3: the skip box takes the person out of Elevo's file (Elevo suspends them)
        # and scimgw keeps the user, deactivated.
        skipped = time.monotonic()
        bamboo.edit(report, skip_elevo_sync="yes")
        wait_for(
            lambda: (rows := drop.newest()) and "First2.Last2@Acme.example" not in rows,
            timeout=30,
            what="the skipped employee gone from Elevo's file",
        )
        print(f"S3 skip box ticked -> out of Elevo's file: {time.monotonic() - skipped:.2f} s")
        users = {u["userName"]: u for u in gateway.users("acme")}
        assert users["first2.last2@acme.example"]["active"] is False
        assert len(drop.newest() or {}) == 2

        # Never in any file: the inactive employee and the one ticked from the start.
        ever = drop.emails_ever()
        assert "First4.Last4@Acme.example" not in ever
        assert "First5.Last5@Acme.example" not in ever
        assert "first5.last5@acme.example" not in users

        # A report returning no one is held by the guard: nobody is suspended.
        files_before = len(drop.files())
        bamboo.employees.clear()
        held = wait_for(
            lambda: next((r for r in source_runs(gateway) if r[0] == "held"), None),
            timeout=30,
            what="a held run",
        )
        assert "held" in (held[1] or "")
        time.sleep(EVERY_SECONDS)  # one more scheduled run, held again
        assert len(drop.files()) == files_before
        assert all(
            u["active"]
            for u in gateway.users("acme")
            if u["userName"] != "first2.last2@acme.example"
            and u["userName"] != "first4.last4@acme.example"
        )
